/*
 * Portable depthwise kernel: any tap count, weights as int8 [taps][CB] per
 * block. Activations keep their own signedness (no domain flip is needed when
 * products are formed in int32).
 */
#include "../common.h"

#define CB 8

static inline void dw_scalar(size_t pixels, size_t channels, size_t taps,
                             const uint8_t *const *ind, size_t ind_stride, size_t input_step,
                             const void *w, uint8_t *out, size_t out_stride,
                             const dyd_out_params *p, int is_signed) {
  const size_t block_bytes = dyd_dw_block_bytes(CB, 0, taps, 1);
  size_t off = 0;
  for (size_t px = 0; px < pixels; px++, ind += ind_stride, off += input_step, out += out_stride) {
    const uint8_t *blk = w;
    for (size_t c0 = 0; c0 < channels; c0 += CB, blk += block_bytes) {
      const int32_t *bias = (const int32_t *)blk, *mult = bias + CB, *shift = mult + CB;
      const int8_t *wt = (const int8_t *)(shift + CB);
      const size_t cn = DYD_MIN((size_t)CB, channels - c0);
      for (size_t c = 0; c < cn; c++) {
        uint32_t acc = (uint32_t)bias[c];
        for (size_t t = 0; t < taps; t++) {
          const uint8_t raw = ind[t][off + c0 + c];
          const int32_t x = is_signed ? (int32_t)(int8_t)raw : (int32_t)raw;
          acc += (uint32_t)(x * (int32_t)wt[t * CB + c]);
        }
        out[c0 + c] = (uint8_t)dyd_out_scalar((int32_t)acc, mult[c], shift[c], p);
      }
    }
  }
}

static void dw_scalar_u8(size_t pixels, size_t channels, size_t taps, const uint8_t *const *ind,
                         size_t ind_stride, size_t input_step, const void *w, uint8_t *out,
                         size_t out_stride, const dyd_out_params *p) {
  dw_scalar(pixels, channels, taps, ind, ind_stride, input_step, w, out, out_stride, p, 0);
}

static void dw_scalar_s8(size_t pixels, size_t channels, size_t taps, const uint8_t *const *ind,
                         size_t ind_stride, size_t input_step, const void *w, uint8_t *out,
                         size_t out_stride, const dyd_out_params *p) {
  dw_scalar(pixels, channels, taps, ind, ind_stride, input_step, w, out, out_stride, p, 1);
}

const dyd_dw_bundle dyd_dw_bundle_scalar = {
    .isa = DYD_ISA_SCALAR, .cb = CB, .tap_round = 1, .tile = "upc8",
    .pack = dyd_dw_pack_i8,
    .ukernel = {{dw_scalar_u8, dw_scalar_s8}, {dw_scalar_u8, dw_scalar_s8}},
    .weight_bytes = 1, .isa_suffix = "scalar"};
