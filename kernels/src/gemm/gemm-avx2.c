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

#include "../common.h"

#include <immintrin.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define TARGET __attribute__((target("avx2")))
#define INLINE TARGET __attribute__((always_inline)) static inline

#define MR 3
#define NR 8
#define KR 8

/*
 * Extra panel header: dyadic constants for VPMULDQ (even int32 lanes -> int64).
 * AVX2 has no 64-bit arithmetic shift, so the kernel shifts logically after
 * adding 2^62 (which makes every product non-negative; |acc * m| < 2^62) and
 * subtracts 2^(62 - s) afterwards: floor((x + 2^62) / 2^s) = floor(x / 2^s) + 2^(62 - s).
 * int64 arrays hold the 4 even columns, then the 4 odd ones.
 */
typedef struct {
  int32_t mult_odd[NR];   /* odd columns' multipliers at even positions */
  int64_t shift[NR];
  int64_t round[NR];      /* 2^(s - 1) + 2^62 */
  int64_t post[NR];       /* 2^(62 - s) */
} extra_header;
_Static_assert((DYD_PANEL_HEADER(NR) + sizeof(extra_header)) % 64 == 0, "aligned weights");

static void pack_extra(const int32_t *mult, const int32_t *shift, void *out) {
  extra_header *e = out;
  for (int k = 0; k < 4; k++) {
    const int even = 2 * k, odd = even + 1;
    e->mult_odd[2 * k] = mult[odd];
    e->mult_odd[2 * k + 1] = 0;
    const int sh[2] = {shift[even], shift[odd]};
    for (int h = 0; h < 2; h++) {
      e->shift[4 * h + k] = sh[h];
      e->round[4 * h + k] = ((int64_t)1 << (sh[h] - 1)) + ((int64_t)1 << 62);
      e->post[4 * h + k] = (int64_t)1 << (62 - sh[h]);
    }
  }
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

INLINE __m256i clamp64(__m256i x, __m256i lo, __m256i hi) {
  x = _mm256_blendv_epi8(x, lo, _mm256_cmpgt_epi64(lo, x));
  return _mm256_blendv_epi8(x, hi, _mm256_cmpgt_epi64(x, hi));
}

INLINE void store8(__m256i y, uint8_t *c, size_t nc, int is_signed) {
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
  const __m128i b = is_signed ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
  if (nc == NR) {
    _mm_storel_epi64((__m128i *)c, b);
  } else {
    uint8_t tmp[16];
    _mm_storeu_si128((__m128i *)tmp, b);
    memcpy(c, tmp, nc);
  }
}

INLINE void store_row(__m256i acc, uint8_t *c, size_t nc, const int32_t *mult,
                      const extra_header *e, const dyd_out_params *p, const int fp32) {
  const __m256i zero = _mm256_set1_epi32(p->zero_point);
  /* Clamped values lie in [qmin, qmax]: when qmin >= 0 the unsigned and signed
   * byte packs agree, so qmin < 0 is a sufficient test for int8 output. */
  const int is_signed = p->qmin < 0;
  if (fp32) {
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_loadu_ps((const float *)mult));
    DYD_FP_BARRIER(v);
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(p->flo)), _mm256_set1_ps(p->fhi));
    store8(_mm256_add_epi32(_mm256_cvtps_epi32(v), zero), c, nc, is_signed);
    return;
  }
  const __m256i lo = _mm256_set1_epi64x(p->lo), hi = _mm256_set1_epi64x(p->hi);
  __m256i even = _mm256_mul_epi32(acc, _mm256_loadu_si256((const __m256i *)mult));
  __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32),
                                 _mm256_load_si256((const __m256i *)e->mult_odd));
  even = _mm256_add_epi64(even, _mm256_load_si256((const __m256i *)e->round));
  odd = _mm256_add_epi64(odd, _mm256_load_si256((const __m256i *)(e->round + 4)));
  even = _mm256_srlv_epi64(even, _mm256_load_si256((const __m256i *)e->shift));
  odd = _mm256_srlv_epi64(odd, _mm256_load_si256((const __m256i *)(e->shift + 4)));
  even = _mm256_sub_epi64(even, _mm256_load_si256((const __m256i *)e->post));
  odd = _mm256_sub_epi64(odd, _mm256_load_si256((const __m256i *)(e->post + 4)));
  even = clamp64(even, lo, hi);
  odd = clamp64(odd, lo, hi);
  const __m256i y = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  store8(_mm256_add_epi32(y, zero), c, nc, is_signed);
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
    store_row(_mm256_add_epi32(reduce_row(acc##i##0, acc##i##1, acc##i##2, acc##i##3), vbias), \
              c + (i) * c_stride, nc, mult, extra, p, fp32);
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
