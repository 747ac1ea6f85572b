/*
 * Portable depthwise kernel: any tap count, weights as int8 [taps][CB] per
 * block. Activations keep their own signedness (no domain flip is needed when
 * products are formed in int32). Low-bit blocks (dyd_dw_pack_bits, one chunk per
 * tap) are read in place: tap t's weights are bits (t % per) * bits of the bytes
 * of stored chunk t / per.
 */
#include "../common.h"

#define CB 8

static inline void dw_scalar(size_t pixels, size_t channels, size_t taps,
                             const uint8_t *const *ind, size_t ind_stride, size_t input_step,
                             const void *w, uint8_t *out, size_t out_stride,
                             const dyd_out_params *p, int is_signed, unsigned bits) {
  const size_t block_bytes = bits == 8 ? dyd_dw_block_bytes(CB, 0, taps, 1)
                                       : dyd_dw_lowbit_block_bytes(CB, 0, taps, CB, bits);
  const size_t per = 8 / bits;
  const int top = 32 - (int)bits; /* sign-extends a field moved to the top of a uint32 */
  size_t off = 0;
  for (size_t px = 0; px < pixels; px++, ind += ind_stride, off += input_step, out += out_stride) {
    const uint8_t *blk = w;
    for (size_t c0 = 0; c0 < channels; c0 += CB, blk += block_bytes) {
      const int32_t *bias = (const int32_t *)blk, *mult = bias + CB, *shift = mult + CB;
      const uint8_t *wt = (const uint8_t *)(shift + CB);
      const size_t cn = DYD_MIN((size_t)CB, channels - c0);
      for (size_t c = 0; c < cn; c++) {
        uint32_t acc = (uint32_t)bias[c];
        for (size_t t = 0; t < taps; t++) {
          const uint8_t raw = ind[t][off + c0 + c];
          const int32_t x = is_signed ? (int32_t)(int8_t)raw : (int32_t)raw;
          const uint32_t field = (uint32_t)wt[t / per * CB + c] >> (t % per * bits);
          const int32_t wv = bits == 8 ? (int32_t)(int8_t)wt[t * CB + c]
                                       : (int32_t)(field << top) >> top;
          acc += (uint32_t)(x * wv);
        }
        out[c0 + c] = (uint8_t)dyd_out_scalar((int32_t)acc, mult[c], shift[c], p);
      }
    }
  }
}

#define DEFINE_DW(name, is_signed, bits)                                                       \
  static void name(size_t pixels, size_t channels, size_t taps, const uint8_t *const *ind,    \
                   size_t ind_stride, size_t input_step, const void *w, uint8_t *out,         \
                   size_t out_stride, const dyd_out_params *p) {                              \
    dw_scalar(pixels, channels, taps, ind, ind_stride, input_step, w, out, out_stride, p,     \
              is_signed, bits);                                                               \
  }

/* dyd_q{u8,s8}_qc{8,4,2}w_dwconv_{dyadic,fp32}_ukernel_upc8__scalar (one function for both
 * requantizations: dyd_out_scalar reads the kind) */
DEFINE_DW(dw_scalar_u8, 0, 8)
DEFINE_DW(dw_scalar_s8, 1, 8)
DEFINE_DW(dw_scalar_u8_w4, 0, 4)
DEFINE_DW(dw_scalar_s8_w4, 1, 4)
DEFINE_DW(dw_scalar_u8_w2, 0, 2)
DEFINE_DW(dw_scalar_s8_w2, 1, 2)

const dyd_dw_bundle dyd_dw_bundle_scalar = {
    .cb = CB, .tap_round = 1, .tile = "upc8",
    .pack = dyd_dw_pack_i8,
    .ukernel = {{dw_scalar_u8, dw_scalar_s8}, {dw_scalar_u8, dw_scalar_s8}},
    .weight_bytes = 1, .isa_suffix = "scalar",
    .pack_i8 = dyd_dw_pack_i8, .chunk = CB,
    .ukernel_lowbit = {{{dw_scalar_u8_w4, dw_scalar_s8_w4}, {dw_scalar_u8_w4, dw_scalar_s8_w4}},
                       {{dw_scalar_u8_w2, dw_scalar_s8_w2}, {dw_scalar_u8_w2, dw_scalar_s8_w2}}}};
