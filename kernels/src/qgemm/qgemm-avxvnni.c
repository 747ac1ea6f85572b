/*
 * qgemm kernel for AVX-VNNI (VEX VPDPBUSD on ymm, AVX2 CPUs without AVX-512): the
 * AVX-512 kernel's scheme at half width. Register tile 6 x 16: 12 accumulators, 2
 * weight vectors and a broadcast in the 16 ymm registers; the row count is a constant
 * per instantiation (1 to 6). Partial panels are stored through VPMASKMOVD.
 */
#if defined(__x86_64__)

#include "../common.h"

#include <immintrin.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define TARGET __attribute__((target("avx2,avxvnni")))
#define INLINE TARGET __attribute__((always_inline)) static inline

#define MR 6
#define NR 16
#define KR 4

INLINE int32_t load4(const uint8_t *p, size_t n) { return n >= 4 ? dyd_load4(p) : dyd_load_tail4(p, n); }

/* Lanes j < n all ones (n in [0, 8]). */
INLINE __m256i lane_mask(size_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

INLINE void store8(__m256i acc, __m256 scale, __m256 bias, void *c, size_t n, const int out) {
  __m256i bits = acc;
  if (out != DYD_QGEMM_OUT_S32) {
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), scale);
    if (out == DYD_QGEMM_OUT_F32_BIAS) {
      DYD_FP_BARRIER(v);
      v = _mm256_add_ps(v, bias);
    }
    bits = _mm256_castps_si256(v);
  }
  if (n >= 8) _mm256_storeu_si256((__m256i *)c, bits);
  else _mm256_maskstore_epi32((int *)c, lane_mask(n), bits);
}

#define REP_MR(X) X(0) X(1) X(2) X(3) X(4) X(5)

INLINE void body(const size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, const void *panel,
                 const dyd_qgemm_args *args, void *c, size_t c_stride, const int out) {
  const int32_t *colsum = panel, *zb = colsum + NR;
  const int8_t *wk = (const int8_t *)(zb + NR);
  const __m256i nza = _mm256_set1_epi32(-args->a_zero_point);
  const __m256i init0 = _mm256_mullo_epi32(nza, _mm256_loadu_si256((const __m256i *)colsum));
  const __m256i init1 = _mm256_mullo_epi32(nza, _mm256_loadu_si256((const __m256i *)(colsum + 8)));
#define ROW(i)                                                                  \
  const uint8_t *a##i = a + ((i) < mr ? (i) : 0) * a_stride;                    \
  __m256i acc##i##0 = init0, acc##i##1 = init1;
  REP_MR(ROW)
#undef ROW
  for (size_t k = 0; k < kc; k += KR, wk += NR * KR) {
    const size_t n = kc - k; /* the last step may hold fewer than 4 bytes of a row */
    const __m256i w0 = _mm256_loadu_si256((const __m256i *)wk);
    const __m256i w1 = _mm256_loadu_si256((const __m256i *)(wk + 32));
#define STEP(i)                                                   \
  if ((i) < mr) {                                                 \
    const __m256i av = _mm256_set1_epi32(load4(a##i + k, n));     \
    acc##i##0 = _mm256_dpbusd_avx_epi32(acc##i##0, av, w0);       \
    acc##i##1 = _mm256_dpbusd_avx_epi32(acc##i##1, av, w1);       \
  }
    REP_MR(STEP)
#undef STEP
  }
  if (args->row_corr != NULL) {
    const __m256i zb0 = _mm256_loadu_si256((const __m256i *)zb);
    const __m256i zb1 = _mm256_loadu_si256((const __m256i *)(zb + 8));
#define CORR(i)                                                                    \
  if ((i) < mr) {                                                                  \
    const __m256i r = _mm256_set1_epi32(args->row_corr[i]);                        \
    acc##i##0 = _mm256_add_epi32(acc##i##0, _mm256_mullo_epi32(zb0, r));           \
    acc##i##1 = _mm256_add_epi32(acc##i##1, _mm256_mullo_epi32(zb1, r));           \
  }
    REP_MR(CORR)
#undef CORR
  }
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, b0 = s0, b1 = s0;
  if (out != DYD_QGEMM_OUT_S32) s0 = _mm256_loadu_ps(args->scale), s1 = _mm256_loadu_ps(args->scale + 8);
  if (out == DYD_QGEMM_OUT_F32_BIAS) b0 = _mm256_loadu_ps(args->bias), b1 = _mm256_loadu_ps(args->bias + 8);
#define STORE(i)                                                        \
  if ((i) < mr) {                                                       \
    uint8_t *ci = (uint8_t *)c + (i) * c_stride * 4;                    \
    store8(acc##i##0, s0, b0, ci, nc, out);                             \
    if (nc > 8) store8(acc##i##1, s1, b1, ci + 32, nc - 8, out);        \
  }
  REP_MR(STORE)
#undef STORE
}

#define CASE(r) case r: body(r, nc, kc, a, a_stride, panel, args, c, c_stride, kind); break;
#define DEFINE(name, out)                                                                                 \
  TARGET static void name(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,            \
                          const void *panel, const dyd_qgemm_args *args, void *c, size_t c_stride) {     \
    const int kind = out; /* a constant once inlined */                                        \
    switch (mr) { CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) default: CASE(6) }                             \
  }

/* dyd_qu8_qc8w_qgemm_fp32_ukernel_6x16c4__avxvnni */
DEFINE(qgemm_s32_6x16c4, DYD_QGEMM_OUT_S32)
DEFINE(qgemm_f32_6x16c4, DYD_QGEMM_OUT_F32)
DEFINE(qgemm_f32_bias_6x16c4, DYD_QGEMM_OUT_F32_BIAS)

const dyd_qgemm_bundle dyd_qgemm_bundle_avxvnni = {
    .mr = MR, .nr = NR, .kr = KR,
    .ukernel = {qgemm_s32_6x16c4, qgemm_f32_6x16c4, qgemm_f32_bias_6x16c4},
    .rowsum = dyd_qgemm_rowsum_avx2,
    .isa_suffix = "avxvnni"};

#endif
