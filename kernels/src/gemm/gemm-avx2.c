/*
 * GEMM microkernel for AVX2 (no VNNI). Bytes are widened to int16 and
 * multiplied with VPMADDWD, whose int32 pair sums are exact for uint8 x int8
 * (|255 * 128 * 2| < 2^31); VPMADDUBSW is avoided because its int16 pair sum
 * saturates. Layout c8: a 16-byte load of packed weights holds two columns x 8
 * K values, which VPMOVSXBW widens into one ymm; 8 activations of a row,
 * widened and repeated in both halves, multiply it. Each accumulator therefore
 * holds 4 partial sums for each of 2 columns; they are reduced once at the end.
 *
 * Register tile 3 x 8: 12 accumulators + 3 rows + 1 weight vector = the 16 ymm
 * registers AVX2 has.
 */
#if defined(__x86_64__)

#include "../x86/requant-avx2.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define TARGET DYD_AVX2_TARGET
#define INLINE DYD_AVX2_INLINE

#define MR 3
#define NR 8
#define KR 8

/* Extra panel header: the dyadic constants of the 8 columns. */
typedef struct {
  dyd_avx2_rq8 rq;
} extra_header;
_Static_assert((DYD_PANEL_HEADER(NR) + sizeof(extra_header)) % 64 == 0, "aligned weights");

static void pack_extra(const int32_t *mult, const int32_t *shift, int32_t zero_point,
                       void *out) {
  (void)zero_point;
  dyd_avx2_pack_rq(mult, shift, NR, &((extra_header *)out)->rq);
}

/* 8 activations of a row from offset k (zero-extended bytes, both halves). */
INLINE __m256i load_a8(const uint8_t *a, size_t k, size_t kc) {
  int64_t v = 0;
  if (k + 8 <= kc) {
    memcpy(&v, a + k, 8);
  } else {
    for (size_t i = 0; i < kc - k; i++) v |= (int64_t)a[k + i] << (8 * i);
  }
  return _mm256_cvtepu8_epi16(_mm_set1_epi64x(v));
}

/* Column sums of one row: acc[p] holds 4 partial sums of column 2p (low half)
 * and of column 2p + 1 (high half). */
INLINE __m256i reduce_row(__m256i acc01, __m256i acc23, __m256i acc45, __m256i acc67) {
  const __m256i h0 = _mm256_hadd_epi32(acc01, acc23); /* c0 c0 c2 c2 | c1 c1 c3 c3 */
  const __m256i h1 = _mm256_hadd_epi32(acc45, acc67); /* c4 c4 c6 c6 | c5 c5 c7 c7 */
  const __m256i h = _mm256_hadd_epi32(h0, h1);        /* c0 c2 c4 c6 | c1 c3 c5 c7 */
  return _mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

#define REP_MR(X) X(0) X(1) X(2)

INLINE void gemm_body(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,
                      const void *w, uint8_t *c, size_t c_stride, const dyd_out_params *p,
                      const int fp32) {
  const int32_t *bias = w, *mult = bias + NR;
  const extra_header *extra = (const extra_header *)(mult + 2 * NR);
  const int8_t *wk = (const int8_t *)(extra + 1);
#define ROW_PTR(i) const uint8_t *a##i = a + (size_t)((i) < (int)mr ? (i) : (int)mr - 1) * a_stride;
  REP_MR(ROW_PTR)
#undef ROW_PTR
#define ACC_INIT(i) __m256i acc##i##0 = _mm256_setzero_si256(), acc##i##1 = acc##i##0, \
                            acc##i##2 = acc##i##0, acc##i##3 = acc##i##0;
  REP_MR(ACC_INIT)
#undef ACC_INIT
  for (size_t k = 0; k < kc; k += KR, wk += NR * KR) {
#define LOAD_A(i) const __m256i va##i = load_a8(a##i, k, kc);
    REP_MR(LOAD_A)
#undef LOAD_A
#define MADD(i, q) acc##i##q = _mm256_add_epi32(acc##i##q, _mm256_madd_epi16(va##i, vb));
#define COLS(q)                                                                         \
  {                                                                                     \
    const __m256i vb = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(wk + 16 * (q)))); \
    MADD(0, q) MADD(1, q) MADD(2, q)                                                    \
  }
    COLS(0) COLS(1) COLS(2) COLS(3)
#undef COLS
#undef MADD
  }
  const __m256i vbias = _mm256_loadu_si256((const __m256i *)bias);
#define STORE(i)                                                                              \
  if ((i) < (int)mr)                                                                         \
    dyd_avx2_store8(_mm256_add_epi32(reduce_row(acc##i##0, acc##i##1, acc##i##2, acc##i##3), vbias), \
                    mult, &extra->rq, p, c + (i) * c_stride, nc, fp32);
  REP_MR(STORE)
#undef STORE
}

#define DEFINE_GEMM(name, fp32)                                                                \
  TARGET static void name(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, \
                          const void *w, uint8_t *c, size_t c_stride,                          \
                          const dyd_out_params *p) {                                           \
    gemm_body(mr, nc, kc, a, a_stride, w, c, c_stride, p, fp32);                               \
  }

/* dyd_q{u8,s8}_qc8w_{gemm,igemm}_{dyadic,fp32}_ukernel_3x8c8__avx2 */
DEFINE_GEMM(gemm_dyadic_3x8c8, 0)
DEFINE_GEMM(gemm_fp32_3x8c8, 1)

const dyd_gemm_bundle dyd_gemm_bundle_avx2 = {
    .isa = DYD_ISA_AVX2, .mr = MR, .nr = NR, .kr = KR, .a_signed_domain = 0,
    .ukernel = {gemm_dyadic_3x8c8, gemm_fp32_3x8c8},
    .extra_bytes = sizeof(extra_header), .pack_extra = pack_extra,
    .isa_suffix = "avx2"};

#endif
