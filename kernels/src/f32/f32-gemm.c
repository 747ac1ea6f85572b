/*
 * dyd_f32_gemm: C = A B or A B^T for MatMul and Gemm, on the conv's micro-kernel.
 * A is packed into panels of MR rows x KC, B strips of KC x NR are read in place when
 * they are whole rows of B (no transpose) and packed otherwise; K beyond KC
 * accumulates into C. Everything lives in 64 KiB of stack, so nothing allocates.
 */
#include "../common.h"

/* Blocks small enough for the stack: A as panels of MC x KC, B strips of KC x NR. */
#define GEMM_KC 128
#define GEMM_MC 64
#define GEMM_NR_MAX 64

void dyd_f32_gemm_for_isa(dyd_isa isa, size_t m, size_t n, size_t k, const float *a, size_t lda,
                          const float *b, size_t ldb, int trans_b, float *c, size_t ldc) {
  const dyd_f32_bundle *bun = dyd_f32_bundle_for(isa);
  const size_t mr = bun->mr, nr = bun->nr;
  _Alignas(64) float apack[GEMM_MC * GEMM_KC];
  _Alignas(64) float bpack[GEMM_KC * GEMM_NR_MAX];
  if (k == 0) {
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < n; j++) c[i * ldc + j] = 0.0f;
    return;
  }
  const size_t mc_max = GEMM_MC / mr * mr;
  for (size_t k0 = 0; k0 < k; k0 += GEMM_KC) {
    const size_t kc = DYD_MIN((size_t)GEMM_KC, k - k0);
    for (size_t i0 = 0; i0 < m; i0 += mc_max) {
      const size_t mc = DYD_MIN(mc_max, m - i0);
      /* A rows i0..i0+mc as panels [kc][MR], rows past m zero */
      for (size_t p = 0; p * mr < mc; p++)
        for (size_t kk = 0; kk < kc; kk++)
          for (size_t i = 0; i < mr; i++) {
            const size_t row = p * mr + i;
            apack[(p * kc + kk) * mr + i] = row < mc ? a[(i0 + row) * lda + k0 + kk] : 0.0f;
          }
      for (size_t j0 = 0; j0 < n; j0 += nr) {
        const size_t pc = DYD_MIN(nr, n - j0);
        const float *bp;
        size_t bs;
        if (!trans_b && pc == nr) {
          bp = b + k0 * ldb + j0;
          bs = ldb;
        } else {
          for (size_t kk = 0; kk < kc; kk++)
            for (size_t j = 0; j < nr; j++)
              bpack[kk * nr + j] = j >= pc ? 0.0f : trans_b ? b[(j0 + j) * ldb + k0 + kk] : b[(k0 + kk) * ldb + j0 + j];
          bp = bpack;
          bs = nr;
        }
        for (size_t p = 0; p * mr < mc; p++)
          bun->gemm(DYD_MIN(mr, mc - p * mr), pc, kc, apack + p * kc * mr, NULL, bp, bs, NULL,
                    c + (i0 + p * mr) * ldc + j0, ldc, k0 > 0, NULL);
      }
    }
  }
}

void dyd_f32_gemm(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                  size_t ldb, int trans_b, float *c, size_t ldc) {
  dyd_f32_gemm_for_isa(dyd_active_isa(), m, n, k, a, lda, b, ldb, trans_b, c, ldc);
}

const char *dyd_f32_gemm_kernel_name(dyd_isa isa) { return dyd_f32_bundle_for(isa)->gemm_name; }
