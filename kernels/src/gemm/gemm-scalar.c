/*
 * Portable GEMM microkernel on the generic packed layout (KR = 1): the
 * always-available bundle and the twin every SIMD kernel is compared with.
 * Sums are kept in uint32 so that wrap-around is defined; the packed bias makes
 * the final value the true int32 accumulator.
 */
#include "../common.h"

#define MR 4
#define NR 4

static void gemm_4x4c1(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,
                       const void *w, uint8_t *c, size_t c_stride, const dyd_out_params *p) {
  const int32_t *bias = w, *mult = bias + NR, *shift = mult + NR;
  const int8_t *wk = (const int8_t *)(shift + NR);
  uint32_t acc[MR][NR];
  for (size_t i = 0; i < mr; i++)
    for (size_t j = 0; j < NR; j++) acc[i][j] = (uint32_t)bias[j];
  for (size_t k = 0; k < kc; k++, wk += NR)
    for (size_t i = 0; i < mr; i++) {
      const uint32_t x = a[i * a_stride + k];
      for (size_t j = 0; j < NR; j++) acc[i][j] += x * (uint32_t)(int32_t)wk[j];
    }
  for (size_t i = 0; i < mr; i++)
    for (size_t j = 0; j < nc; j++)
      c[i * c_stride + j] = (uint8_t)dyd_out_scalar((int32_t)acc[i][j], mult[j], shift[j], p);
}

/* One kernel serves both requantization kinds (p->kind selects). */
#define GEMM_SCALAR_UKERNELS {gemm_4x4c1, gemm_4x4c1}

const dyd_gemm_bundle dyd_gemm_bundle_scalar = {
    .isa = DYD_ISA_SCALAR, .mr = MR, .nr = NR, .kr = 1, .a_signed_domain = 0,
    .ukernel = GEMM_SCALAR_UKERNELS, .isa_suffix = "scalar"};
