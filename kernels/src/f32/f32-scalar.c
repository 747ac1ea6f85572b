/*
 * Portable float32 kernels: the bundle every CPU has, and the twin each SIMD
 * kernel mirrors (same contracts, see common.h).
 */
#include "../common.h"

#define MR 4
#define NR 4

static void gemm_4x4(size_t mr, size_t nc, size_t kc, const float *a, const float *bias,
                     const float *b, size_t b_stride, const size_t *b_off, float *c, size_t c_stride,
                     int accumulate, const dyd_f32_act *act) {
  float acc[MR][NR];
  for (size_t i = 0; i < MR; i++)
    for (size_t j = 0; j < NR; j++) acc[i][j] = bias ? bias[i] : 0.0f;
  for (size_t k = 0; k < kc; k++, a += MR) {
    const float *bk = b_off ? b + b_off[k] : b + k * b_stride;
    for (size_t i = 0; i < MR; i++)
      for (size_t j = 0; j < NR; j++) acc[i][j] += a[i] * bk[j];
  }
  for (size_t i = 0; i < mr; i++)
    for (size_t j = 0; j < nc; j++)
      c[i * c_stride + j] = dyd_f32_act_apply(acc[i][j] + (accumulate ? c[i * c_stride + j] : 0.0f), act);
}

static void act_row(size_t n, float *x, const dyd_f32_act *act) {
  if (act == NULL || act->kind == DYD_F32_ACT_NONE) return;
  for (size_t i = 0; i < n; i++) x[i] = dyd_f32_act_apply(x[i], act);
}

static void dw_row(size_t n, size_t taps, const float *const *rows, const float *w, float bias,
                   float *out) {
  for (size_t x = 0; x < n; x++) {
    float acc = bias;
    for (size_t t = 0; t < taps; t++) acc += w[t] * rows[t][x];
    out[x] = acc;
  }
}

static void pack(size_t rows, size_t k, const float *a, size_t lda, float *panel) {
  dyd_f32_pack_scalar(rows, 0, k, a, lda, MR, panel);
}

const dyd_f32_bundle dyd_f32_bundle_scalar = {
    .mr = MR, .nr = NR, .gemm = gemm_4x4, .dw = dw_row, .act = act_row, .gather = dyd_f32_gather_scalar,
    .pack = pack,
    .isa_suffix = "scalar", .gemm_name = "dyd_f32_gemm_ukernel_4x4__scalar",
};
