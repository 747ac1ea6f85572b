/*
 * Portable GEMM microkernel on the generic packed layout (KR = 1): the
 * always-available bundle and the twin every SIMD kernel is compared with.
 * Sums are kept in uint32 so that wrap-around is defined; the packed bias makes
 * the final value the true int32 accumulator.
 *
 * Low-bit weights (common.h's plane layout, unit = one K step of NR = 4 columns):
 * 4-bit, two bytes per K step, byte i holding columns i and i + 2 in its low and
 * high nibble; 2-bit, one byte per K step, column j in bits 2j..2j+1. The fields
 * are sign-extended one K step at a time, then the loop is the int8 one.
 */
#include "../common.h"

#define MR 4
#define NR 4

/* Field j of the K step at `wk` (bits wide), sign-extended: (f ^ half) - half. */
static inline int32_t weight(const uint8_t *wk, unsigned bits, size_t j) {
  if (bits == 8) return (int8_t)wk[j];
  const size_t plane = NR * bits / 8; /* bytes per K step */
  const int32_t half = 1 << (bits - 1), mask = (1 << bits) - 1;
  const int32_t f = (wk[j % plane] >> (bits * (j / plane))) & mask;
  return (f ^ half) - half;
}

static inline void gemm_body(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                             size_t a_stride, const void *w, uint8_t *c, size_t c_stride,
                             const dyd_out_params *p, const unsigned bits) {
  const int32_t *bias = w, *mult = bias + NR, *shift = mult + NR;
  const uint8_t *wk = (const uint8_t *)(shift + NR);
  uint32_t acc[MR][NR];
  for (size_t i = 0; i < mr; i++)
    for (size_t j = 0; j < NR; j++) acc[i][j] = (uint32_t)bias[j];
  for (size_t k = 0; k < kc; k++, wk += NR * bits / 8) {
    uint32_t wv[NR];
    for (size_t j = 0; j < NR; j++) wv[j] = (uint32_t)weight(wk, bits, j);
    for (size_t i = 0; i < mr; i++) {
      const uint32_t x = a[i * a_stride + k];
      for (size_t j = 0; j < NR; j++) acc[i][j] += x * wv[j];
    }
  }
  for (size_t i = 0; i < mr; i++)
    for (size_t j = 0; j < nc; j++)
      c[i * c_stride + j] = (uint8_t)dyd_out_scalar((int32_t)acc[i][j], mult[j], shift[j], p);
}

/* One kernel per weight width serves both requantization kinds (p->kind selects). */
static void gemm_4x4c1(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,
                       const void *w, uint8_t *c, size_t c_stride, const dyd_out_params *p) {
  gemm_body(mr, nc, kc, a, a_stride, w, c, c_stride, p, 8);
}

static void gemm_qc4w_4x4c1(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,
                            const void *w, uint8_t *c, size_t c_stride, const dyd_out_params *p) {
  gemm_body(mr, nc, kc, a, a_stride, w, c, c_stride, p, 4);
}

static void gemm_qc2w_4x4c1(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,
                            const void *w, uint8_t *c, size_t c_stride, const dyd_out_params *p) {
  gemm_body(mr, nc, kc, a, a_stride, w, c, c_stride, p, 2);
}

/* dyd_q{u8,s8}_qc{8,4,2}w_{gemm,igemm}_{dyadic,fp32}_ukernel_4x4c1__scalar */
const dyd_gemm_bundle dyd_gemm_bundle_scalar = {
    .mr = MR, .nr = NR, .kr = 1, .a_signed_domain = 0,
    .ukernel = {gemm_4x4c1, gemm_4x4c1},
    .lowbit_unit = NR,
    .w4 = {.ukernel = {gemm_qc4w_4x4c1, gemm_qc4w_4x4c1}},
    .w2 = {.ukernel = {gemm_qc2w_4x4c1, gemm_qc2w_4x4c1}},
    .isa_suffix = "scalar"};
