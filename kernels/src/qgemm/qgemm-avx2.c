/*
 * qgemm kernel for AVX2 without VNNI, and the row sums every x86 bundle uses.
 *
 * Exact products: both sides are widened to int16 and multiplied by VPMADDWD, whose
 * pair sums (at most 2 * 255 * 128 in magnitude) cannot overflow int32. VPMADDUBSW
 * is not usable here: its int16 pair sum saturates for full-range int8 weights.
 *
 * Layout c2: per pair of K, 16 columns x 2 bytes; VPMOVSXBW widens 8 columns' pairs
 * into one ymm. The op rewrites each micro-tile's rows once as zero-extended int16
 * (prepare_a, into the workspace), so a row's K pair is one 32-bit broadcast load
 * and every pair sum lands in its column's lane (no horizontal reduction).
 * Register tile 4 x 16: 8 accumulators, 2 weight vectors, a broadcast, a product.
 */
#if defined(__x86_64__)

#include "../common.h"

#include <immintrin.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define TARGET __attribute__((target("avx2")))
#define INLINE TARGET __attribute__((always_inline)) static inline

#define MR 4
#define NR 16
#define KR 2

/* VPSADBW against zero sums 8 bytes into each 64-bit lane. */
TARGET void dyd_qgemm_rowsum_avx2(size_t mr, size_t kc, const uint8_t *a, size_t a_stride, int32_t *sums) {
  const __m256i zero = _mm256_setzero_si256();
  for (size_t i = 0; i < mr; i++) {
    const uint8_t *r = a + i * a_stride;
    __m256i s = zero;
    size_t k = 0;
    for (; k + 32 <= kc; k += 32) s = _mm256_add_epi64(s, _mm256_sad_epu8(_mm256_loadu_si256((const __m256i *)(r + k)), zero));
    const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    uint64_t t = (uint64_t)_mm_cvtsi128_si64(h) + (uint64_t)_mm_extract_epi64(h, 1);
    for (; k < kc; k++) t += r[k];
    sums[i] = (int32_t)(uint32_t)t;
  }
}

/* mr rows of kc bytes as int16, kc rounded up to 2 with a zero. */
TARGET static void prepare_a(size_t mr, size_t kc, const uint8_t *a, size_t a_stride, void *dst,
                             size_t dst_stride) {
  for (size_t i = 0; i < mr; i++) {
    const uint8_t *r = a + i * a_stride;
    int16_t *d = (int16_t *)(void *)((uint8_t *)dst + i * dst_stride);
    size_t k = 0;
    for (; k + 16 <= kc; k += 16)
      _mm256_storeu_si256((__m256i *)(d + k), _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(r + k))));
    for (; k < kc; k++) d[k] = r[k];
    if (kc % 2) d[kc] = 0;
  }
}

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

#define REP_MR(X) X(0) X(1) X(2) X(3)

INLINE void body(const size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, const void *panel,
                 const dyd_qgemm_args *args, void *c, size_t c_stride, const int out) {
  const int32_t *colsum = panel, *zb = colsum + NR;
  const int8_t *wk = (const int8_t *)(zb + NR);
  const __m256i nza = _mm256_set1_epi32(-args->a_zero_point);
  const __m256i init0 = _mm256_mullo_epi32(nza, _mm256_loadu_si256((const __m256i *)colsum));
  const __m256i init1 = _mm256_mullo_epi32(nza, _mm256_loadu_si256((const __m256i *)(colsum + 8)));
#define ROW(i)                                                                       \
  const int32_t *a##i = (const int32_t *)(const void *)(a + ((i) < mr ? (i) : 0) * a_stride); \
  __m256i acc##i##0 = init0, acc##i##1 = init1;
  REP_MR(ROW)
#undef ROW
  const size_t pairs = (kc + 1) / 2;
  for (size_t k = 0; k < pairs; k++, wk += NR * KR) {
    const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wk));
    const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wk + 16)));
#define STEP(i)                                                                     \
  if ((i) < mr) {                                                                   \
    const __m256i av = _mm256_set1_epi32(a##i[k]);                                  \
    acc##i##0 = _mm256_add_epi32(acc##i##0, _mm256_madd_epi16(av, w0));             \
    acc##i##1 = _mm256_add_epi32(acc##i##1, _mm256_madd_epi16(av, w1));             \
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
    switch (mr) { CASE(1) CASE(2) CASE(3) default: CASE(4) }                                             \
  }

/* dyd_qu8_qc8w_qgemm_fp32_ukernel_4x16c2__avx2 */
DEFINE(qgemm_s32_4x16c2, DYD_QGEMM_OUT_S32)
DEFINE(qgemm_f32_4x16c2, DYD_QGEMM_OUT_F32)
DEFINE(qgemm_f32_bias_4x16c2, DYD_QGEMM_OUT_F32_BIAS)

const dyd_qgemm_bundle dyd_qgemm_bundle_avx2 = {
    .mr = MR, .nr = NR, .kr = KR,
    .ukernel = {qgemm_s32_4x16c2, qgemm_f32_4x16c2, qgemm_f32_bias_4x16c2},
    .rowsum = dyd_qgemm_rowsum_avx2,
    .prepare_a = prepare_a, .prepared_bytes = 2,
    .isa_suffix = "avx2"};

#endif
