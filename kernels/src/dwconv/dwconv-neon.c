/*
 * Depthwise convolution for AArch64 NEON (all levels): 16 channels per block,
 * input bytes widened to int16 (zero- or sign-extended, so both activation
 * types work without a domain flip), weights packed as int8 [taps][16] and
 * widened in the loop, products accumulated with SMLAL into 4 int32x4. The
 * last block of a layer goes through a small stack copy so no byte past
 * `channels` is read or written. 3x3 and 5x5 are the same code with the tap
 * count a compile-time constant; other windows use the generic one.
 */
#if defined(__aarch64__)

#include "../arm/requant-neon.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define INLINE DYD_NEON_INLINE
#define CB 16

typedef struct {
  int64_t neg_shift[CB];
} extra_header;

static void pack_extra(const int32_t *mult, const int32_t *shift, int32_t zero_point,
                       const int64_t *acc_max, void *out) {
  (void)zero_point, (void)acc_max;
  (void)mult;
  dyd_neon_pack_rq(shift, CB, ((extra_header *)out)->neg_shift);
}

INLINE uint8x16_t load16(const uint8_t *p, size_t n) {
  if (n >= 16) return vld1q_u8(p);
  uint8_t tmp[16] = {0};
  memcpy(tmp, p, n);
  return vld1q_u8(tmp);
}

/* Low-bit blocks (dyd_dw_pack_bits, 16-byte chunks): tap k's 16 weights are bits
 * [s, s + bits) of stored chunk k / per, s = (k % per) * bits: shifted to the top of
 * each byte, then arithmetically back down (sign extension). Once per block and
 * call, as the x86 kernels do. */
INLINE void unpack_block(const uint8_t *src, size_t chunks, const unsigned bits, int8_t *dst) {
  const size_t per = 8 / bits; /* a constant: callers pass 4 or 2 literally */
  const int8x16_t down = vdupq_n_s8((int8_t)(bits - 8));
  for (size_t k = 0; k < chunks; k += per, src += 16) {
    const uint8x16_t v = vld1q_u8(src);
    for (size_t j = 0; j < per && k + j < chunks; j++) {
      const int8x16_t up = vdupq_n_s8((int8_t)(8 - bits - j * bits));
      vst1q_s8(dst + 16 * (k + j), vshlq_s8(vreinterpretq_s8_u8(vshlq_u8(v, up)), down));
    }
  }
}

/* Taps of one full 16-channel block (up to WIDE_TAPS) whose weights are widened to
 * int16 once per block into `wide`, so that a tap costs the input load, its two
 * widenings and four SMLAL; with the tap count a constant the loop unrolls and, for
 * 3x3, the 18 weight vectors stay in registers across pixels. */
#define WIDE_TAPS 25

INLINE void widen_weights(const int8_t *wt, size_t taps, int16_t *wide) {
  for (size_t t = 0; t < taps; t++) {
    const int8x16_t vw = vld1q_s8(wt + CB * t);
    vst1q_s16(wide + CB * t, vmovl_s8(vget_low_s8(vw)));
    vst1q_s16(wide + CB * t + 8, vmovl_high_s8(vw));
  }
}

/* 16 input bytes as two int16x8 (zero- or sign-extended). */
INLINE void widen_input(uint8x16_t x, const int is_signed, int16x8_t *lo, int16x8_t *hi) {
  *lo = is_signed ? vmovl_s8(vget_low_s8(vreinterpretq_s8_u8(x)))
                  : vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(x)));
  *hi = is_signed ? vmovl_high_s8(vreinterpretq_s8_u8(x)) : vreinterpretq_s16_u16(vmovl_high_u8(x));
}

/* One tap of a 16-channel block: the four int32x4 accumulators gain input x weight,
 * both widened to int16 halves. */
INLINE void mac16(int32x4_t acc[4], int16x8_t xl, int16x8_t xh, int16x8_t wl, int16x8_t wh) {
  acc[0] = vmlal_s16(acc[0], vget_low_s16(xl), vget_low_s16(wl));
  acc[1] = vmlal_high_s16(acc[1], xl, wl);
  acc[2] = vmlal_s16(acc[2], vget_low_s16(xh), vget_low_s16(wh));
  acc[3] = vmlal_high_s16(acc[3], xh, wh);
}

/* The four vectors are requantized before the one store: a store through `po` in
 * between would end their overlap (in-order cores wait on each chain's latency). */
INLINE void store_pixel(uint8_t *po, int32x4_t acc0, int32x4_t acc1, int32x4_t acc2, int32x4_t acc3,
                        const int32_t *mult, const extra_header *e, const dyd_out_params *p,
                        const int fp32, size_t n) {
  const int32x4_t y0 = dyd_neon_requant4(acc0, mult, e->neg_shift, p, fp32);
  const int32x4_t y1 = dyd_neon_requant4(acc1, mult + 4, e->neg_shift + 4, p, fp32);
  const int32x4_t y2 = dyd_neon_requant4(acc2, mult + 8, e->neg_shift + 8, p, fp32);
  const int32x4_t y3 = dyd_neon_requant4(acc3, mult + 12, e->neg_shift + 12, p, fp32);
  const uint8x8_t lo = dyd_neon_narrow8(y0, y1, p), hi = dyd_neon_narrow8(y2, y3, p);
  if (n == CB) {
    vst1q_u8(po, vcombine_u8(lo, hi));
    return;
  }
  dyd_neon_store_n(po, lo, n);
  if (n > 8) dyd_neon_store_n(po + 8, hi, n - 8);
}

/* Channel blocks outside, pixels inside, as the x86 kernels. bits: 8, or 4 / 2 for
 * low-bit blocks, unpacked into `stage` first. */
INLINE void dw_body(size_t pixels, size_t channels, const size_t taps,
                    const uint8_t *const *ind, size_t ind_stride, size_t input_step,
                    const void *w, uint8_t *out, size_t out_stride,
                    const dyd_out_params *p, const int fp32, const int is_signed, unsigned bits,
                    int8_t *stage) {
  /* a local copy: the byte stores could alias *p, which would reload its fields after
   * every store */
  const dyd_out_params pv = *p;
  p = &pv;
  const size_t block_bytes = bits == 8 ? dyd_dw_block_bytes(CB, sizeof(extra_header), taps, 1)
                                       : dyd_dw_lowbit_block_bytes(CB, sizeof(extra_header), taps, CB, bits);
  _Alignas(16) int16_t wide[WIDE_TAPS * CB];
  const uint8_t *blk = w;
  for (size_t c0 = 0; c0 < channels; c0 += CB, blk += block_bytes) {
    const int32_t *bias = (const int32_t *)blk, *mult = bias + CB;
    const extra_header *e = (const extra_header *)(mult + 2 * CB);
    const int8_t *wt0 = (const int8_t *)(e + 1);
    if (bits != 8) {
      if (bits == 4) {
        unpack_block((const uint8_t *)(e + 1), taps, 4, stage);
      } else {
        unpack_block((const uint8_t *)(e + 1), taps, 2, stage);
      }
      wt0 = stage;
    }
    const size_t n = DYD_MIN((size_t)CB, channels - c0);
    const int32x4_t b0 = vld1q_s32(bias), b1 = vld1q_s32(bias + 4);
    const int32x4_t b2 = vld1q_s32(bias + 8), b3 = vld1q_s32(bias + 12);
    const uint8_t *const *pi = ind;
    uint8_t *po = out + c0;
    size_t off = c0; /* input offset of this pixel's channel block */
    if (n == CB && taps <= WIDE_TAPS) {
      widen_weights(wt0, taps, wide);
      size_t px = 0;
      /* two pixels per iteration: each weight load feeds 8 SMLAL, and 8 independent
       * accumulators cover SMLAL latency on in-order cores */
      for (; px + 2 <= pixels; px += 2) {
        const uint8_t *const *pj = pi + ind_stride;
        int32x4_t a[4] = {b0, b1, b2, b3}, c[4] = {b0, b1, b2, b3};
#pragma GCC unroll 25
        for (size_t t = 0; t < taps; t++) {
          const int16x8_t wl = vld1q_s16(wide + CB * t), wh = vld1q_s16(wide + CB * t + 8);
          int16x8_t xl, xh;
          widen_input(vld1q_u8(pi[t] + off), is_signed, &xl, &xh);
          mac16(a, xl, xh, wl, wh);
          widen_input(vld1q_u8(pj[t] + off + input_step), is_signed, &xl, &xh);
          mac16(c, xl, xh, wl, wh);
        }
        store_pixel(po, a[0], a[1], a[2], a[3], mult, e, p, fp32, n);
        store_pixel(po + out_stride, c[0], c[1], c[2], c[3], mult, e, p, fp32, n);
        pi += 2 * ind_stride, off += 2 * input_step, po += 2 * out_stride;
      }
      if (px < pixels) {
        int32x4_t a[4] = {b0, b1, b2, b3};
        for (size_t t = 0; t < taps; t++) {
          int16x8_t xl, xh;
          widen_input(vld1q_u8(pi[t] + off), is_signed, &xl, &xh);
          mac16(a, xl, xh, vld1q_s16(wide + CB * t), vld1q_s16(wide + CB * t + 8));
        }
        store_pixel(po, a[0], a[1], a[2], a[3], mult, e, p, fp32, n);
      }
      continue;
    }
    /* the last, partial block (and windows over WIDE_TAPS): weights widened per tap,
     * inputs through load16's copy */
    for (size_t px = 0; px < pixels; px++, pi += ind_stride, off += input_step, po += out_stride) {
      const int8_t *wt = wt0;
      int32x4_t a[4] = {b0, b1, b2, b3};
      for (size_t t = 0; t < taps; t++, wt += CB) {
        int16x8_t xl, xh;
        widen_input(load16(pi[t] + off, n), is_signed, &xl, &xh);
        const int8x16_t vw = vld1q_s8(wt);
        mac16(a, xl, xh, vmovl_s8(vget_low_s8(vw)), vmovl_high_s8(vw));
      }
      store_pixel(po, a[0], a[1], a[2], a[3], mult, e, p, fp32, n);
    }
  }
}

/* name: int8 weights; name_w4, name_w2: low-bit blocks (one function, the unpack
 * before each block the only difference). */
#define DEFINE_DW(name, taps_expr, fp32, is_signed)                                           \
  __attribute__((noinline)) static void name##_bits(                                         \
      size_t pixels, size_t channels, size_t taps, const uint8_t *const *ind,                \
      size_t ind_stride, size_t input_step, const void *w, uint8_t *out, size_t out_stride,   \
      const dyd_out_params *p, unsigned bits) {                                               \
    _Alignas(16) int8_t stage[DYD_DW_STAGE_BYTES];                                            \
    (void)taps;                                                                               \
    dw_body(pixels, channels, taps_expr, ind, ind_stride, input_step, w, out, out_stride, p, \
            fp32, is_signed, bits, stage);                                                    \
  }                                                                                           \
  static void name(size_t pixels, size_t channels, size_t taps, const uint8_t *const *ind,   \
                   size_t ind_stride, size_t input_step, const void *w, uint8_t *out,        \
                   size_t out_stride, const dyd_out_params *p) {                             \
    (void)taps;                                                                               \
    dw_body(pixels, channels, taps_expr, ind, ind_stride, input_step, w, out, out_stride, p, \
            fp32, is_signed, 8, NULL);                                                        \
  }                                                                                           \
  static void name##_w4(size_t pixels, size_t channels, size_t taps, const uint8_t *const *ind, \
                        size_t ind_stride, size_t input_step, const void *w, uint8_t *out,     \
                        size_t out_stride, const dyd_out_params *p) {                          \
    name##_bits(pixels, channels, taps, ind, ind_stride, input_step, w, out, out_stride, p, 4); \
  }                                                                                           \
  static void name##_w2(size_t pixels, size_t channels, size_t taps, const uint8_t *const *ind, \
                        size_t ind_stride, size_t input_step, const void *w, uint8_t *out,     \
                        size_t out_stride, const dyd_out_params *p) {                          \
    name##_bits(pixels, channels, taps, ind, ind_stride, input_step, w, out, out_stride, p, 2); \
  }

/* dyd_q{u8,s8}_qc{8,4,2}w_dwconv_{dyadic,fp32}_ukernel_{3x3,5x5,up}c16__neon */
DEFINE_DW(dw3x3_dyadic_u8, 9, 0, 0)
DEFINE_DW(dw3x3_dyadic_s8, 9, 0, 1)
DEFINE_DW(dw3x3_fp32_u8, 9, 1, 0)
DEFINE_DW(dw3x3_fp32_s8, 9, 1, 1)
DEFINE_DW(dw5x5_dyadic_u8, 25, 0, 0)
DEFINE_DW(dw5x5_dyadic_s8, 25, 0, 1)
DEFINE_DW(dw5x5_fp32_u8, 25, 1, 0)
DEFINE_DW(dw5x5_fp32_s8, 25, 1, 1)
DEFINE_DW(dwup_dyadic_u8, taps, 0, 0)
DEFINE_DW(dwup_dyadic_s8, taps, 0, 1)
DEFINE_DW(dwup_fp32_u8, taps, 1, 0)
DEFINE_DW(dwup_fp32_s8, taps, 1, 1)

#define BUNDLE(name, kh, kw, tile_name, prefix)                                               \
  const dyd_dw_bundle name = {                                                               \
      .kernel_h = kh, .kernel_w = kw, .cb = CB, .tap_round = 1,         \
      .tile = tile_name, .pack = dyd_dw_pack_i8,                                             \
      .ukernel = {{prefix##_dyadic_u8, prefix##_dyadic_s8}, {prefix##_fp32_u8, prefix##_fp32_s8}}, \
      .weight_bytes = 1, .extra_bytes = sizeof(extra_header), .pack_extra = pack_extra,       \
      .isa_suffix = "neon", .pack_i8 = dyd_dw_pack_i8, .chunk = CB,                         \
      .ukernel_lowbit = {{{prefix##_dyadic_u8_w4, prefix##_dyadic_s8_w4},                     \
                          {prefix##_fp32_u8_w4, prefix##_fp32_s8_w4}},                        \
                         {{prefix##_dyadic_u8_w2, prefix##_dyadic_s8_w2},                     \
                          {prefix##_fp32_u8_w2, prefix##_fp32_s8_w2}}}};

BUNDLE(dyd_dw_bundle_neon_3x3, 3, 3, "3x3c16", dw3x3)
BUNDLE(dyd_dw_bundle_neon_5x5, 5, 5, "5x5c16", dw5x5)
BUNDLE(dyd_dw_bundle_neon_up, 0, 0, "upc16", dwup)

#endif
