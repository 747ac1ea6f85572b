/*
 * The AArch64 qgemm kernels' output stage: 4 int32 sums of one row, + zb * row_corr
 * when some zb is non-zero, then int32 or float32 (SCVTF rounds to nearest even like
 * C's conversion; FMUL, a barrier so that nothing fuses, FADD), stored for the first
 * n columns only.
 */
#ifndef DYD_QGEMM_NEON_H
#define DYD_QGEMM_NEON_H

#include "../common.h"

#include <arm_neon.h>

#define DYD_QGEMM_NEON_INLINE __attribute__((always_inline)) static inline

/* Columns [j, j + 4) of row i (their first n <= 4 stored). */
DYD_QGEMM_NEON_INLINE void dyd_qgemm_neon_store4(int32x4_t acc, const int32_t *zb, const dyd_qgemm_args *args,
                                                 size_t i, size_t j, int32_t *c, size_t n, const int out) {
  if (args->row_corr != NULL) acc = vmlaq_n_s32(acc, vld1q_s32(zb + j), args->row_corr[i]);
  int32x4_t bits = acc;
  if (out != DYD_QGEMM_OUT_S32) {
    float32x4_t v = vmulq_f32(vcvtq_f32_s32(acc), vld1q_f32(args->scale + j));
    if (out == DYD_QGEMM_OUT_F32_BIAS) {
      DYD_FP_BARRIER(v);
      v = vaddq_f32(v, vld1q_f32(args->bias + j));
    }
    bits = vreinterpretq_s32_f32(v);
  }
  if (n >= 4) {
    vst1q_s32(c + j, bits);
  } else {
    int32_t t[4];
    vst1q_s32(t, bits);
    memcpy(c + j, t, n * 4);
  }
}

/* Row i's 16 columns (the first nc stored); c is the tile's first row. */
#define DYD_QGEMM_NEON_STORE_ROW(acc0, acc1, acc2, acc3, i, args, zb, c, c_stride, nc, out) \
  {                                                                                        \
    int32_t *ci_ = (int32_t *)(c) + (i) * (c_stride);                                      \
    dyd_qgemm_neon_store4(acc0, zb, args, i, 0, ci_, nc, out);                             \
    if ((nc) > 4) dyd_qgemm_neon_store4(acc1, zb, args, i, 4, ci_, (nc) - 4, out);         \
    if ((nc) > 8) dyd_qgemm_neon_store4(acc2, zb, args, i, 8, ci_, (nc) - 8, out);         \
    if ((nc) > 12) dyd_qgemm_neon_store4(acc3, zb, args, i, 12, ci_, (nc) - 12, out);      \
  }

#endif
