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
 *
 * Low-bit weights (common.h's plane layout, unit = one K step, 64 bytes): 4-bit,
 * 32 bytes per step whose low nibbles are columns 0-3 and high nibbles columns
 * 4-7 (8 K values each); 2-bit, 16 bytes whose crumbs are columns 0-1, 2-3, 4-5,
 * 6-7. The fields are sign-extended with a VPSHUFB table into two vectors of
 * 4 columns x 8 K int8, and here VPMADDUBSW is exact: a pair sum is at most
 * 2 * 255 * 8 = 4080 in magnitude (4-bit; 1020 for 2-bit), far from the int16
 * saturation at 32767, which int8 weights (2 * 255 * 128) would reach. So one
 * VPMADDUBSW multiplies 32 weights where the int8 path widens and multiplies 16,
 * and VPMADDWD by ones widens its pair sums to int32: each accumulator holds 2
 * partial sums for each of 4 columns, reduced once at the end.
 */
#if defined(__x86_64__)

#include "../x86/lowbit-avx2.h"

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
                       const int64_t *acc_max, void *out) {
  (void)zero_point, (void)acc_max;
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

INLINE void gemm_lowbit_body(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,
                             const void *w, uint8_t *c, size_t c_stride, const dyd_out_params *p,
                             const int fp32, const int bits) {
  const int32_t *bias = w, *mult = bias + NR;
  const extra_header *extra = (const extra_header *)(mult + 2 * NR);
  const uint8_t *wk = (const uint8_t *)(extra + 1);
#define ROW_PTR(i) const uint8_t *a##i = a + (size_t)((i) < (int)mr ? (i) : (int)mr - 1) * a_stride;
  REP_MR(ROW_PTR)
#undef ROW_PTR
#define ACC_INIT(i) __m256i acc##i##lo = _mm256_setzero_si256(), acc##i##hi = acc##i##lo;
  REP_MR(ACC_INIT)
#undef ACC_INIT
  const __m256i ones = _mm256_set1_epi16(1);
  for (size_t k = 0; k < kc; k += KR, wk += NR * KR * bits / 8) {
    __m256i lo, hi;
    dyd_avx2_unpack64(wk, bits, &lo, &hi); /* columns 0-3 in lo, 4-7 in hi */
#define MADD(i)                                                                          \
  {                                                                                      \
    int64_t v = 0;                                                                       \
    if (k + 8 <= kc) {                                                                   \
      memcpy(&v, a##i + k, 8);                                                           \
    } else {                                                                             \
      for (size_t t = 0; t < kc - k; t++) v |= (int64_t)a##i[k + t] << (8 * t);          \
    }                                                                                    \
    const __m256i va = _mm256_set1_epi64x(v);                                            \
    acc##i##lo = _mm256_add_epi32(acc##i##lo, _mm256_madd_epi16(_mm256_maddubs_epi16(va, lo), ones)); \
    acc##i##hi = _mm256_add_epi32(acc##i##hi, _mm256_madd_epi16(_mm256_maddubs_epi16(va, hi), ones)); \
  }
    REP_MR(MADD)
#undef MADD
  }
  const __m256i vbias = _mm256_loadu_si256((const __m256i *)bias);
  /* acc lo: [c0 c0 c1 c1 | c2 c2 c3 c3], hi: the same for c4-c7 */
#define STORE(i)                                                                            \
  if ((i) < (int)mr) {                                                                     \
    const __m256i h = _mm256_hadd_epi32(acc##i##lo, acc##i##hi); /* c0 c1 c4 c5 | c2 c3 c6 c7 */ \
    const __m256i y = _mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7)); \
    dyd_avx2_store8(_mm256_add_epi32(y, vbias), mult, &extra->rq, p, c + (i) * c_stride, nc, fp32); \
  }
  REP_MR(STORE)
#undef STORE
}

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

#define DEFINE_GEMM_LOWBIT(name, fp32, bits)                                                   \
  TARGET static void name(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, \
                          const void *w, uint8_t *c, size_t c_stride,                          \
                          const dyd_out_params *p) {                                           \
    gemm_lowbit_body(mr, nc, kc, a, a_stride, w, c, c_stride, p, fp32, bits);                  \
  }

/* dyd_q{u8,s8}_qc{8,4,2}w_{gemm,igemm}_{dyadic,fp32}_ukernel_3x8c8__avx2 */
DEFINE_GEMM(gemm_dyadic_3x8c8, 0)
DEFINE_GEMM(gemm_fp32_3x8c8, 1)
DEFINE_GEMM_LOWBIT(gemm_qc4w_dyadic_3x8c8, 0, 4)
DEFINE_GEMM_LOWBIT(gemm_qc4w_fp32_3x8c8, 1, 4)
DEFINE_GEMM_LOWBIT(gemm_qc2w_dyadic_3x8c8, 0, 2)
DEFINE_GEMM_LOWBIT(gemm_qc2w_fp32_3x8c8, 1, 2)

const dyd_gemm_bundle dyd_gemm_bundle_avx2 = {
    .mr = MR, .nr = NR, .kr = KR, .a_signed_domain = 0,
    .ukernel = {gemm_dyadic_3x8c8, gemm_fp32_3x8c8},
    .lowbit_unit = NR * KR,
    .w4 = {.ukernel = {gemm_qc4w_dyadic_3x8c8, gemm_qc4w_fp32_3x8c8}},
    .w2 = {.ukernel = {gemm_qc2w_dyadic_3x8c8, gemm_qc2w_fp32_3x8c8}},
    .extra_bytes = sizeof(extra_header), .pack_extra = pack_extra,
    .isa_suffix = "avx2"};

#endif
