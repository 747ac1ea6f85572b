/*
 * NEON output stage shared by the AArch64 GEMM, depthwise and element-wise
 * kernels: 4 int32 accumulators -> 4 requantized values, bit-identical to
 * dyd_requantize_dyadic / dyd_requantize_fp32.
 *
 * Dyadic: SMULL forms the int64 products; SRSHL by -s adds 2^(s-1) and shifts
 * right arithmetically in one instruction, computed without intermediate
 * overflow, which is exactly the contract's single rounding. The int64 result
 * is narrowed with signed saturation (any value outside int32 is also outside
 * [qmin - z, qmax - z], so saturating first does not change the clamp).
 * fp32: clamp in float (exact: integer bounds), then FCVTNS (round half to even).
 */
#ifndef DYD_REQUANT_NEON_H
#define DYD_REQUANT_NEON_H

#include "../common.h"

#include <arm_neon.h>

#define DYD_NEON_INLINE __attribute__((always_inline)) static inline

/* Per-column dyadic constant in lane order: -shift as int64 (the SRSHL operand). */
static inline void dyd_neon_pack_rq(const int32_t *shift, size_t columns, int64_t *neg_shift) {
  for (size_t i = 0; i < columns; i++) neg_shift[i] = -(int64_t)shift[i];
}

DYD_NEON_INLINE int32x4_t dyd_neon_dyadic(int32x4_t acc, int32x4_t mult, const int64_t *neg_shift,
                                          const dyd_out_params *p) {
  const int64x2_t lo = vrshlq_s64(vmull_s32(vget_low_s32(acc), vget_low_s32(mult)),
                                  vld1q_s64(neg_shift));
  const int64x2_t hi = vrshlq_s64(vmull_high_s32(acc, mult), vld1q_s64(neg_shift + 2));
  int32x4_t y = vcombine_s32(vqmovn_s64(lo), vqmovn_s64(hi));
  y = vminq_s32(vmaxq_s32(y, vdupq_n_s32(p->lo)), vdupq_n_s32(p->hi));
  return vaddq_s32(y, vdupq_n_s32(p->zero_point));
}

DYD_NEON_INLINE int32x4_t dyd_neon_fp32(int32x4_t acc, float32x4_t scale, const dyd_out_params *p) {
  float32x4_t v = vmulq_f32(vcvtq_f32_s32(acc), scale);
  DYD_FP_BARRIER(v);
  v = vminq_f32(vmaxq_f32(v, vdupq_n_f32(p->flo)), vdupq_n_f32(p->fhi));
  return vaddq_s32(vcvtnq_s32_f32(v), vdupq_n_s32(p->zero_point));
}

DYD_NEON_INLINE int32x4_t dyd_neon_requant4(int32x4_t acc, const int32_t *mult,
                                            const int64_t *neg_shift, const dyd_out_params *p,
                                            const int fp32) {
  return fp32 ? dyd_neon_fp32(acc, vld1q_f32((const float *)mult), p)
              : dyd_neon_dyadic(acc, vld1q_s32(mult), neg_shift, p);
}

/* 8 int32 values in [qmin, qmax] -> 8 bytes (as uint8 bit patterns). */
DYD_NEON_INLINE uint8x8_t dyd_neon_narrow8(int32x4_t a, int32x4_t b, const dyd_out_params *p) {
  const int16x8_t h = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
  return p->qmin < 0 ? vreinterpret_u8_s8(vqmovn_s16(h)) : vqmovun_s16(h);
}

DYD_NEON_INLINE void dyd_neon_store_n(uint8_t *c, uint8x8_t v, size_t n) {
  if (n >= 8) {
    vst1_u8(c, v);
  } else {
    uint8_t tmp[8];
    vst1_u8(tmp, v);
    memcpy(c, tmp, n);
  }
}

#endif
