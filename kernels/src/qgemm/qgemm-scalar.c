/*
 * Portable qgemm kernel (KR = 1): the always-available bundle and the twin the SIMD
 * kernels follow. Sums are uint32 so that wrap-around is defined; the true sum fits
 * int32, so the wrapped value is it. The float output is one rounded multiply and one
 * rounded add (the barrier stops GCC from contracting them into an FMA).
 */
#include "../common.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define MR 4
#define NR 8

void dyd_qgemm_rowsum_scalar(size_t mr, size_t kc, const uint8_t *a, size_t a_stride, int32_t *sums) {
  for (size_t i = 0; i < mr; i++) {
    uint32_t s = 0;
    for (size_t k = 0; k < kc; k++) s += a[i * a_stride + k];
    sums[i] = (int32_t)s;
  }
}

static inline void body(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, const void *panel,
                        const dyd_qgemm_args *args, void *c, size_t c_stride, const int out) {
  const int32_t *colsum = panel, *zb = colsum + NR;
  const int8_t *w = (const int8_t *)(zb + NR);
  uint32_t acc[MR][NR];
  for (size_t i = 0; i < mr; i++)
    for (size_t j = 0; j < NR; j++) acc[i][j] = 0u - (uint32_t)args->a_zero_point * (uint32_t)colsum[j];
  for (size_t k = 0; k < kc; k++, w += NR)
    for (size_t i = 0; i < mr; i++) {
      const uint32_t x = a[i * a_stride + k];
      for (size_t j = 0; j < NR; j++) acc[i][j] += x * (uint32_t)(int32_t)w[j];
    }
  if (args->row_corr != NULL)
    for (size_t i = 0; i < mr; i++)
      for (size_t j = 0; j < NR; j++) acc[i][j] += (uint32_t)zb[j] * (uint32_t)args->row_corr[i];
  for (size_t i = 0; i < mr; i++)
    for (size_t j = 0; j < nc; j++) {
      if (out == DYD_QGEMM_OUT_S32) {
        ((int32_t *)c)[i * c_stride + j] = (int32_t)acc[i][j];
        continue;
      }
      float v = (float)(int32_t)acc[i][j] * args->scale[j];
      if (out == DYD_QGEMM_OUT_F32_BIAS) {
        DYD_FP_BARRIER(v);
        v += args->bias[j];
      }
      ((float *)c)[i * c_stride + j] = v;
    }
}

#define DEFINE(name, out)                                                                                 \
  static void name(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, const void *panel, \
                   const dyd_qgemm_args *args, void *c, size_t c_stride) {                               \
    body(mr, nc, kc, a, a_stride, panel, args, c, c_stride, out);                                         \
  }

/* dyd_qu8_qc8w_qgemm_fp32_ukernel_4x8c1__scalar */
DEFINE(qgemm_s32_4x8c1, DYD_QGEMM_OUT_S32)
DEFINE(qgemm_f32_4x8c1, DYD_QGEMM_OUT_F32)
DEFINE(qgemm_f32_bias_4x8c1, DYD_QGEMM_OUT_F32_BIAS)

const dyd_qgemm_bundle dyd_qgemm_bundle_scalar = {
    .mr = MR, .nr = NR, .kr = 1,
    .ukernel = {qgemm_s32_4x8c1, qgemm_f32_4x8c1, qgemm_f32_bias_4x8c1},
    .rowsum = dyd_qgemm_rowsum_scalar,
    .isa_suffix = "scalar"};
