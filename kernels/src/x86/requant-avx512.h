/*
 * AVX-512 output stage shared by the GEMM, depthwise and element-wise
 * kernels: 16 int32 accumulators -> 16 requantized bytes, bit-identical to
 * dyd_requantize_dyadic / dyd_requantize_fp32.
 *
 * Dyadic: VPMULDQ forms int64 products of the even int32 lanes, so the odd
 * lanes are shifted down and multiplied separately; VPSRAVQ applies the
 * per-column shift; the int64 results are clamped to [qmin - z, qmax - z]
 * before narrowing (they can be far outside int32), then z is added.
 * fp32: clamp in float before the conversion (exact, the bounds are integers),
 * and convert with the MXCSR default, round half to even.
 */
#ifndef DYD_REQUANT_AVX512_H
#define DYD_REQUANT_AVX512_H

#include "../common.h"

#include <immintrin.h>

#define DYD_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define DYD_AVX512_INLINE DYD_AVX512_TARGET __attribute__((always_inline)) static inline

/* Per-column dyadic constants of 16 columns in VPMULDQ lane order. */
typedef struct {
  int32_t mult_odd[16]; /* odd columns' multipliers at even positions */
  int64_t shift[16];    /* 8 even columns, then 8 odd columns */
  int64_t round[16];    /* 2^(shift - 1), same order */
} dyd_avx512_rq16;
_Static_assert(sizeof(dyd_avx512_rq16) % 64 == 0, "keeps 64-byte alignment");

static inline void dyd_avx512_pack_rq(const int32_t *mult, const int32_t *shift, size_t columns,
                                      dyd_avx512_rq16 *out) {
  for (size_t v = 0; v < columns / 16; v++) {
    dyd_avx512_rq16 *e = &out[v];
    memset(e, 0, sizeof *e);
    for (int k = 0; k < 8; k++) {
      const size_t even = 16 * v + 2 * k, odd = even + 1;
      e->mult_odd[2 * k] = mult[odd];
      e->shift[k] = shift[even];
      e->shift[8 + k] = shift[odd];
      e->round[k] = (int64_t)1 << (shift[even] - 1);
      e->round[8 + k] = (int64_t)1 << (shift[odd] - 1);
    }
  }
}

/* Requantized int32 values in [qmin, qmax] (not yet narrowed). */
DYD_AVX512_INLINE __m512i dyd_avx512_dyadic(__m512i acc, __m512i mult, const dyd_avx512_rq16 *e,
                                            const dyd_out_params *p) {
  const __m512i lo = _mm512_set1_epi64(p->lo), hi = _mm512_set1_epi64(p->hi);
  __m512i even = _mm512_mul_epi32(acc, mult);
  __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), _mm512_load_si512(e->mult_odd));
  even = _mm512_srav_epi64(_mm512_add_epi64(even, _mm512_load_si512(e->round)),
                           _mm512_load_si512(e->shift));
  odd = _mm512_srav_epi64(_mm512_add_epi64(odd, _mm512_load_si512(e->round + 8)),
                          _mm512_load_si512(e->shift + 8));
  even = _mm512_min_epi64(_mm512_max_epi64(even, lo), hi);
  odd = _mm512_min_epi64(_mm512_max_epi64(odd, lo), hi);
  const __m512i y = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  return _mm512_add_epi32(y, _mm512_set1_epi32(p->zero_point));
}

DYD_AVX512_INLINE __m512i dyd_avx512_fp32(__m512i acc, __m512 scale, const dyd_out_params *p) {
  __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), scale);
  DYD_FP_BARRIER512(v);
  v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(p->flo)), _mm512_set1_ps(p->fhi));
  return _mm512_add_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(p->zero_point));
}

/* Requantizes 16 columns with constants at mult[0..15] / e, stores the bytes under `mask`. */
DYD_AVX512_INLINE void dyd_avx512_store16(__m512i acc, const int32_t *mult,
                                          const dyd_avx512_rq16 *e, const dyd_out_params *p,
                                          uint8_t *c, __mmask16 mask, const int fp32) {
  const __m512i y = fp32 ? dyd_avx512_fp32(acc, _mm512_loadu_ps((const float *)mult), p)
                         : dyd_avx512_dyadic(acc, _mm512_loadu_si512(mult), e, p);
  _mm_mask_storeu_epi8(c, mask, _mm512_cvtepi32_epi8(y));
}

DYD_AVX512_INLINE __mmask16 dyd_avx512_mask16(size_t n) {
  return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

#endif
