/*
 * AVX2 output stage shared by the GEMM, depthwise and element-wise kernels:
 * 8 int32 accumulators -> 8 requantized bytes, bit-identical to
 * dyd_requantize_dyadic / dyd_requantize_fp32.
 *
 * AVX2 lacks a 64-bit arithmetic shift and 64-bit min/max. The product
 * (|acc * m| < 2^62) is made non-negative by adding 2^62, shifted logically, and
 * 2^(62 - s) is subtracted: floor((x + 2^62) / 2^s) = floor(x / 2^s) + 2^(62 - s).
 * Clamping uses 64-bit compares and blends.
 *
 * When every shift is at least 32 (as nearly all layers' are: s = 31 + log2 of
 * the inverse scale ratio) a shorter stage gives the same values: floor divisions
 * compose, so floor(x / 2^s) = floor(floor(x / 2^32) / 2^(s - 32)). The high
 * halves of the offset products (x + 2^62 < 2^64, read unsigned) are shifted by
 * s - 32 in 32-bit lanes and 2^(62 - s) subtracted modulo 2^32, which is exact
 * because |floor(x / 2^s)| < 2^30; then 32-bit min/max clamp.
 */
#ifndef DYD_REQUANT_AVX2_H
#define DYD_REQUANT_AVX2_H

#include "../common.h"

#include <immintrin.h>

#define DYD_AVX2_TARGET __attribute__((target("avx2")))
#define DYD_AVX2_INLINE DYD_AVX2_TARGET __attribute__((always_inline)) static inline

/* Per-column dyadic constants of 8 columns; int64 arrays: 4 even columns, then 4 odd. */
typedef struct {
  int32_t mult_odd[8]; /* odd columns' multipliers at even positions */
  int64_t shift[8];
  int64_t round[8];    /* 2^(s - 1) + 2^62 */
  int64_t post[8];     /* 2^(62 - s) */
  int32_t shift32[8];  /* column order: s - 32, or -1 for s < 32 (the 64-bit stage) */
  int32_t post32[8];   /* column order: 2^(62 - s) where s >= 32 */
} dyd_avx2_rq8;
_Static_assert(sizeof(dyd_avx2_rq8) % 32 == 0, "keeps 32-byte alignment");

static inline void dyd_avx2_pack_rq(const int32_t *mult, const int32_t *shift, size_t columns,
                                    dyd_avx2_rq8 *out) {
  for (size_t v = 0; v < columns / 8; v++) {
    dyd_avx2_rq8 *e = &out[v];
    memset(e, 0, sizeof *e);
    for (int k = 0; k < 4; k++) {
      const size_t even = 8 * v + 2 * k, odd = even + 1;
      e->mult_odd[2 * k] = mult[odd];
      const int32_t sh[2] = {shift[even], shift[odd]};
      for (int h = 0; h < 2; h++) {
        e->shift[4 * h + k] = sh[h];
        e->round[4 * h + k] = ((int64_t)1 << (sh[h] - 1)) + ((int64_t)1 << 62);
        e->post[4 * h + k] = (int64_t)1 << (62 - sh[h]);
        e->shift32[2 * k + h] = sh[h] >= 32 ? sh[h] - 32 : -1;
        e->post32[2 * k + h] = sh[h] >= 32 ? (int32_t)((int64_t)1 << (62 - sh[h])) : 0;
      }
    }
  }
}

DYD_AVX2_INLINE __m256i dyd_avx2_clamp64(__m256i x, __m256i lo, __m256i hi) {
  x = _mm256_blendv_epi8(x, lo, _mm256_cmpgt_epi64(lo, x));
  return _mm256_blendv_epi8(x, hi, _mm256_cmpgt_epi64(x, hi));
}

/* Requantized int32 values in [qmin, qmax] (not yet narrowed). */
DYD_AVX2_INLINE __m256i dyd_avx2_dyadic(__m256i acc, __m256i mult, const dyd_avx2_rq8 *e,
                                        const dyd_out_params *p) {
  __m256i even = _mm256_mul_epi32(acc, mult);
  __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32),
                                 _mm256_load_si256((const __m256i *)e->mult_odd));
  even = _mm256_add_epi64(even, _mm256_load_si256((const __m256i *)e->round));
  odd = _mm256_add_epi64(odd, _mm256_load_si256((const __m256i *)(e->round + 4)));
  const __m256i shift32 = _mm256_load_si256((const __m256i *)e->shift32);
  if (_mm256_movemask_ps(_mm256_castsi256_ps(shift32)) == 0) { /* every s >= 32 */
    __m256i y = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
    y = _mm256_sub_epi32(_mm256_srlv_epi32(y, shift32),
                         _mm256_load_si256((const __m256i *)e->post32));
    y = _mm256_min_epi32(_mm256_max_epi32(y, _mm256_set1_epi32(p->lo)), _mm256_set1_epi32(p->hi));
    return _mm256_add_epi32(y, _mm256_set1_epi32(p->zero_point));
  }
  const __m256i lo = _mm256_set1_epi64x(p->lo), hi = _mm256_set1_epi64x(p->hi);
  even = _mm256_srlv_epi64(even, _mm256_load_si256((const __m256i *)e->shift));
  odd = _mm256_srlv_epi64(odd, _mm256_load_si256((const __m256i *)(e->shift + 4)));
  even = _mm256_sub_epi64(even, _mm256_load_si256((const __m256i *)e->post));
  odd = _mm256_sub_epi64(odd, _mm256_load_si256((const __m256i *)(e->post + 4)));
  even = dyd_avx2_clamp64(even, lo, hi);
  odd = dyd_avx2_clamp64(odd, lo, hi);
  const __m256i y = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  return _mm256_add_epi32(y, _mm256_set1_epi32(p->zero_point));
}

DYD_AVX2_INLINE __m256i dyd_avx2_fp32(__m256i acc, __m256 scale, const dyd_out_params *p) {
  __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), scale);
  DYD_FP_BARRIER(v);
  v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(p->flo)), _mm256_set1_ps(p->fhi));
  return _mm256_add_epi32(_mm256_cvtps_epi32(v), _mm256_set1_epi32(p->zero_point));
}

/* 8 int32 values in [qmin, qmax] -> 8 bytes in the low half. When qmin >= 0 the
 * signed and unsigned packs agree, so qmin < 0 identifies int8 output. */
DYD_AVX2_INLINE __m128i dyd_avx2_narrow8(__m256i y, const dyd_out_params *p) {
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
  return p->qmin < 0 ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
}

DYD_AVX2_INLINE void dyd_avx2_store_n(uint8_t *c, __m128i bytes, size_t n) {
  if (n >= 8) {
    _mm_storel_epi64((__m128i *)c, bytes);
  } else {
    uint8_t tmp[16];
    _mm_storeu_si128((__m128i *)tmp, bytes);
    memcpy(c, tmp, n);
  }
}

/* 16 int32 values in [qmin, qmax], 8 in each argument, -> 16 bytes in order. */
DYD_AVX2_INLINE __m128i dyd_avx2_narrow16(__m256i y0, __m256i y1, const dyd_out_params *p) {
  /* [y0 0-3, y1 0-3 | y0 4-7, y1 4-7] -> [y0 0-7 | y1 0-7] as int16 */
  const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(y0, y1), 0xD8);
  const __m128i lo = _mm256_castsi256_si128(w), hi = _mm256_extracti128_si256(w, 1);
  return p->qmin < 0 ? _mm_packs_epi16(lo, hi) : _mm_packus_epi16(lo, hi);
}

/* Requantized int32 values of 8 columns with constants at mult[0..7] / e. */
DYD_AVX2_INLINE __m256i dyd_avx2_requant8(__m256i acc, const int32_t *mult,
                                          const dyd_avx2_rq8 *e, const dyd_out_params *p,
                                          const int fp32) {
  return fp32 ? dyd_avx2_fp32(acc, _mm256_loadu_ps((const float *)mult), p)
              : dyd_avx2_dyadic(acc, _mm256_loadu_si256((const __m256i *)mult), e, p);
}

/* Requantizes 8 columns with constants at mult[0..7] / e and stores n <= 8 bytes. */
DYD_AVX2_INLINE void dyd_avx2_store8(__m256i acc, const int32_t *mult, const dyd_avx2_rq8 *e,
                                     const dyd_out_params *p, uint8_t *c, size_t n,
                                     const int fp32) {
  dyd_avx2_store_n(c, dyd_avx2_narrow8(dyd_avx2_requant8(acc, mult, e, p, fp32), p), n);
}

#endif
