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
 *
 * Fast dyadic stage (most layers): when every shift s of a block is in [33, 62],
 * ((acc*m + 2^(s-1)) >> s) + z equals ((hi + 2^(s-33) + z*2^(s-32)) >> (s-32)),
 * hi = (acc*m) >> 32: adding multiples of 2^32 never carries out of the low half,
 * and floor division composes. So only the high halves of the products are
 * kept (one permute gathers them from the two VPMULDQ results) and the rest is
 * int32 arithmetic. Narrowing then saturates (VPACKSSDW, VPACKUSWB/VPACKSSWB),
 * which clamps to the output type, and a byte min/max applies [qmin, qmax].
 * That is about half the instructions of the general stage, which matters
 * where K is small (EfficientNet's 1x1 convs with 16-40 input channels) and in
 * depthwise kernels. The packer checks the conditions (and that z*2^(s-32) keeps
 * the sum inside int32); a block that fails them is marked by shift32[0] == 0
 * and uses the general stage. A zero multiplier qualifies with any shift.
 *
 * Shifts below 33 (multipliers of 1/4 and more: 4-bit weights, whose scales are
 * ~16x those of int8, give shifts of 30-32): (acc*m + 2^(s-1)) >> s equals
 * (acc*2^k*m + 2^(s+k-1)) >> (s+k) for any k >= 0, so with k = 33 - s the fast
 * stage runs at shift 33 on acc << k (one VPSLLVD, k per column), exact whenever
 * acc * 2^k fits int32. The packer proves that per column from a bound on |acc|
 * it derives from the column's weights, bias and input zero point (acc_max, see
 * dyd_gemm_pack_extra_fn) and enables the pre-shift for a block only when every
 * column's bound holds (lshift[], flagged by mult_odd[1], which VPMULDQ never
 * reads); otherwise the block uses the general stage.
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
  /* fast stage, natural column order; shift32[0] == 0: not usable for this block */
  int32_t round32[16];  /* 2^(s-33) + z * 2^(s-32) */
  int32_t shift32[16];  /* s - 32 */
  int32_t lshift[16];   /* the accumulator's pre-shift k (s + k >= 33); 0 without one */
} dyd_avx512_rq16;
_Static_assert(sizeof(dyd_avx512_rq16) % 64 == 0, "keeps 64-byte alignment");

/* Whether column (m, s) can use the fast stage with output zero point z, |acc| <= acc_max
 * (negative: no bound known); *lshift: the pre-shift it needs. */
static inline bool dyd_avx512_fast_column(int32_t m, int32_t s, int32_t z, int64_t acc_max,
                                          int32_t *round32, int32_t *shift32, int32_t *lshift) {
  int32_t k = 0;
  if (m == 0) s = 33; /* y = z for any shift */
  if (s < 33) {       /* acc << k, then shift 33: exact while |acc| * 2^k < 2^31 */
    k = 33 - s;
    if (acc_max < 0 || acc_max > ((int64_t)INT32_MAX >> k)) return false;
    s = 33;
  }
  if (s > 62) return false;
  const int64_t r = ((int64_t)1 << (s - 33)) + (int64_t)z * ((int64_t)1 << (s - 32));
  /* |hi| <= 2^30 since |acc * m| <= 2^62; the sum must stay inside int32 */
  if (r < -((int64_t)1 << 30) || r >= ((int64_t)1 << 30)) return false;
  *round32 = (int32_t)r;
  *shift32 = s - 32;
  *lshift = k;
  return true;
}

/* `columns` (a multiple of 16) columns' constants; the fast stage is enabled for
 * all of them or for none, so a kernel tests one flag per panel, and so is the
 * pre-shift (dyd_avx512_rq_preshift). acc_max may be NULL (no bounds: no pre-shift). */
static inline void dyd_avx512_pack_rq(const int32_t *mult, const int32_t *shift,
                                      int32_t zero_point, const int64_t *acc_max,
                                      size_t columns, dyd_avx512_rq16 *out) {
  bool fast = true, pre = false;
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
    for (int k = 0; k < 16; k++) {
      const size_t c = 16 * v + (size_t)k;
      fast = fast && dyd_avx512_fast_column(mult[c], shift[c], zero_point,
                                            acc_max != NULL ? acc_max[c] : -1, &e->round32[k],
                                            &e->shift32[k], &e->lshift[k]);
      pre = pre || (fast && e->lshift[k] != 0);
    }
  }
  for (size_t v = 0; v < columns / 16; v++) {
    if (!fast) {
      memset(out[v].shift32, 0, sizeof out[v].shift32);
      memset(out[v].lshift, 0, sizeof out[v].lshift);
    }
    out[v].mult_odd[1] = fast && pre; /* VPMULDQ reads only the even dwords */
  }
}

static inline bool dyd_avx512_rq_fast(const dyd_avx512_rq16 *e) { return e->shift32[0] != 0; }
/* Fast blocks only: the accumulators are shifted left by lshift[] first. */
static inline bool dyd_avx512_rq_preshift(const dyd_avx512_rq16 *e) { return e->mult_odd[1] != 0; }

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

/* Fast stage: 16 requantized int32 values with z added, not yet clamped (the
 * narrowing below clamps). mult_odd = the odd columns' multipliers at even
 * positions; all constants in the accumulator's lane order. */
DYD_AVX512_INLINE __m512i dyd_avx512_dyadic_fast_v(__m512i acc, __m512i mult, __m512i mult_odd,
                                                   __m512i round32, __m512i shift32) {
  const __m512i even = _mm512_mul_epi32(acc, mult);
  const __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), mult_odd);
  /* high halves: odd dwords of both products, interleaved back into column order */
  const __m512i hi = _mm512_permutex2var_epi32(
      even, _mm512_setr_epi32(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31), odd);
  return _mm512_srav_epi32(_mm512_add_epi32(hi, round32), shift32);
}

/* pre: the block pre-shifts (dyd_avx512_rq_preshift). */
DYD_AVX512_INLINE __m512i dyd_avx512_dyadic_fast(__m512i acc, __m512i mult,
                                                 const dyd_avx512_rq16 *e, const int pre) {
  if (pre) acc = _mm512_sllv_epi32(acc, _mm512_load_si512(e->lshift));
  return dyd_avx512_dyadic_fast_v(acc, mult, _mm512_load_si512(e->mult_odd),
                                  _mm512_load_si512(e->round32), _mm512_load_si512(e->shift32));
}

/* Four vectors of int32 results to 64 bytes, saturated and clamped to [qmin, qmax].
 * Byte order: 128-bit lane l holds a[4l..4l+3], b[4l..], c[4l..], d[4l..].
 * The output is int8 exactly when qmin < 0 (otherwise both types give the same
 * bytes for values in [qmin, qmax] once saturated to uint8). */
DYD_AVX512_INLINE __m512i dyd_avx512_pack4(__m512i a, __m512i b, __m512i c, __m512i d,
                                           const dyd_out_params *p) {
  const __m512i ab = _mm512_packs_epi32(a, b), cd = _mm512_packs_epi32(c, d);
  if (p->qmin < 0) {
    const __m512i y = _mm512_packs_epi16(ab, cd);
    return _mm512_min_epi8(_mm512_max_epi8(y, _mm512_set1_epi8((char)p->qmin)),
                           _mm512_set1_epi8((char)p->qmax));
  }
  const __m512i y = _mm512_packus_epi16(ab, cd);
  return _mm512_min_epu8(_mm512_max_epu8(y, _mm512_set1_epi8((char)p->qmin)),
                         _mm512_set1_epi8((char)p->qmax));
}

/* Two rows of 32 results (a0/a1: row a's columns 0-15/16-31; b0/b1 row b) to
 * bytes in column order: row a in the low 32 bytes, row b in the high 32. */
DYD_AVX512_INLINE __m512i dyd_avx512_narrow_2x32(__m512i a0, __m512i a1, __m512i b0, __m512i b1,
                                                 const dyd_out_params *p) {
  return _mm512_permutexvar_epi32(
      _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15),
      dyd_avx512_pack4(a0, a1, b0, b1, p));
}

DYD_AVX512_INLINE __mmask32 dyd_avx512_mask32(size_t n) {
  return n >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << n) - 1);
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
