/*
 * GEMM microkernel for AVX-512 VNNI: VPDPBUSD multiplies 4 unsigned activation
 * bytes by 4 signed weight bytes and adds the four products to an int32 lane,
 * 64 multiply-adds per instruction. Activations are therefore in the uint8
 * domain (int8 inputs are flipped by xor 0x80, the +128 being folded into the
 * packed bias).
 *
 * Register tile: MR rows x NR = 32 columns = 2 zmm per row, 16 accumulators.
 * Each step of 4 along K loads two 64-byte weight vectors (32 columns x 4) and
 * broadcasts 4 bytes of every row; with VPDPBUSD at 2 per cycle and a latency
 * of a few cycles, 16 independent accumulators keep both pipes busy.
 */
#if defined(__x86_64__)

#include "../common.h"

#include <immintrin.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define INLINE TARGET __attribute__((always_inline)) static inline

#define MR 8
#define NR 32
#define KR 4
#define NV (NR / 16)

INLINE int32_t load4(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* The 1-3 bytes left before the end of a row, zero extended (never read past). */
INLINE int32_t load_tail(const uint8_t *p, size_t n) {
  int32_t v = 0;
  for (size_t i = 0; i < n; i++) v |= (int32_t)p[i] << (8 * i);
  return v;
}

/* Requantizes 16 accumulators of one row and stores `n` (<= 16) bytes. */
INLINE void store16_dyadic(__m512i acc, __m512i mult_odd, __m512i mult, __m512i sh_even,
                           __m512i sh_odd, __m512i rnd_even, __m512i rnd_odd, __m512i lo,
                           __m512i hi, __m512i zero, uint8_t *c, __mmask16 mask) {
  __m512i even = _mm512_mul_epi32(acc, mult);
  __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), mult_odd);
  even = _mm512_srav_epi64(_mm512_add_epi64(even, rnd_even), sh_even);
  odd = _mm512_srav_epi64(_mm512_add_epi64(odd, rnd_odd), sh_odd);
  even = _mm512_min_epi64(_mm512_max_epi64(even, lo), hi);
  odd = _mm512_min_epi64(_mm512_max_epi64(odd, lo), hi);
  __m512i y = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  y = _mm512_add_epi32(y, zero);
  _mm_mask_storeu_epi8(c, mask, _mm512_cvtepi32_epi8(y));
}

INLINE void store16_fp32(__m512i acc, __m512 scale, __m512 lo, __m512 hi, __m512i zero,
                         uint8_t *c, __mmask16 mask) {
  __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), scale);
  DYD_FP_BARRIER512(v);
  v = _mm512_min_ps(_mm512_max_ps(v, lo), hi); /* integer bounds: clamping before rounding is exact */
  __m512i y = _mm512_add_epi32(_mm512_cvtps_epi32(v), zero); /* MXCSR default: round half to even */
  _mm_mask_storeu_epi8(c, mask, _mm512_cvtepi32_epi8(y));
}

/*
 * Extra panel header: the dyadic constants laid out for VPMULDQ, which
 * multiplies the even int32 lanes into int64 lanes. Per vector of 16 columns:
 *   int32 mult_odd[16]    the odd columns' multipliers moved to even positions
 *   int64 shift[8 + 8]    even columns, then odd columns
 *   int64 round[8 + 8]    2^(shift - 1), same order
 */
typedef struct {
  int32_t mult_odd[NR];
  int64_t shift[NR];
  int64_t round[NR];
} extra_header;
_Static_assert(sizeof(extra_header) % 64 == 0, "panel header keeps weights 64-byte aligned");

static void pack_extra(const int32_t *mult, const int32_t *shift, void *out) {
  extra_header *e = out;
  for (int v = 0; v < NV; v++)
    for (int k = 0; k < 8; k++) {
      const int even = 16 * v + 2 * k, odd = even + 1;
      e->mult_odd[16 * v + 2 * k] = mult[odd];
      e->shift[16 * v + k] = shift[even];
      e->shift[16 * v + 8 + k] = shift[odd];
      e->round[16 * v + k] = (int64_t)1 << (shift[even] - 1);
      e->round[16 * v + 8 + k] = (int64_t)1 << (shift[odd] - 1);
    }
}

/* Requantize and store row i of the tile (both vectors of 16 columns). */
INLINE void store_row(__m512i acc0, __m512i acc1, uint8_t *c, size_t nc, const int32_t *mult,
                      const extra_header *e, const dyd_out_params *p, const int fp32) {
  const __m512i zero = _mm512_set1_epi32(p->zero_point);
  for (int j = 0; j < NV; j++) {
    const int left = (int)nc - 16 * j;
    if (left <= 0) break;
    const __mmask16 mask = left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1);
    const __m512i acc = j == 0 ? acc0 : acc1;
    if (fp32) {
      store16_fp32(acc, _mm512_loadu_ps((const float *)mult + 16 * j),
                   _mm512_set1_ps(p->flo), _mm512_set1_ps(p->fhi), zero, c + 16 * j, mask);
    } else {
      store16_dyadic(acc, _mm512_load_si512(e->mult_odd + 16 * j),
                     _mm512_load_si512(mult + 16 * j), _mm512_load_si512(e->shift + 16 * j),
                     _mm512_load_si512(e->shift + 16 * j + 8), _mm512_load_si512(e->round + 16 * j),
                     _mm512_load_si512(e->round + 16 * j + 8), _mm512_set1_epi64(p->lo),
                     _mm512_set1_epi64(p->hi), zero, c + 16 * j, mask);
    }
  }
}

#define REP_MR(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

INLINE void gemm_body(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,
                      const void *w, uint8_t *c, size_t c_stride, const dyd_out_params *p,
                      const int fp32) {
  const int32_t *bias = w, *mult = bias + NR;
  const extra_header *extra = (const extra_header *)(mult + 2 * NR);
  const int8_t *wk = (const int8_t *)(extra + 1);
  /* Rows past mr repeat the last row: computed, never stored. */
#define ROW_PTR(i) const uint8_t *a##i = a + (size_t)((i) < (int)mr ? (i) : (int)mr - 1) * a_stride;
  REP_MR(ROW_PTR)
#undef ROW_PTR
  const __m512i bias0 = _mm512_loadu_si512(bias), bias1 = _mm512_loadu_si512(bias + 16);
#define ACC_INIT(i) __m512i acc##i##0 = bias0, acc##i##1 = bias1;
  REP_MR(ACC_INIT)
#undef ACC_INIT
#define STEP(i, value)                                                 \
  {                                                                    \
    const __m512i av = _mm512_set1_epi32(value);                       \
    acc##i##0 = _mm512_dpbusd_epi32(acc##i##0, av, w0);                \
    acc##i##1 = _mm512_dpbusd_epi32(acc##i##1, av, w1);                \
  }
#define STEP_MAIN(i) STEP(i, load4(a##i + k))
#define STEP_TAIL(i) STEP(i, load_tail(a##i + k, kc - k))
  size_t k = 0;
  for (; k + KR <= kc; k += KR, wk += NR * KR) {
    const __m512i w0 = _mm512_load_si512(wk), w1 = _mm512_load_si512(wk + 64);
    REP_MR(STEP_MAIN)
  }
  if (k < kc) {
    const __m512i w0 = _mm512_load_si512(wk), w1 = _mm512_load_si512(wk + 64);
    REP_MR(STEP_TAIL)
  }
#undef STEP_MAIN
#undef STEP_TAIL
#undef STEP
#define STORE(i) \
  if ((i) < (int)mr) store_row(acc##i##0, acc##i##1, c + (i) * c_stride, nc, mult, extra, p, fp32);
  REP_MR(STORE)
#undef STORE
}

#define DEFINE_GEMM(name, fp32)                                                                \
  TARGET static void name(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, \
                          const void *w, uint8_t *c, size_t c_stride,                          \
                          const dyd_out_params *p) {                                           \
    gemm_body(mr, nc, kc, a, a_stride, w, c, c_stride, p, fp32);                               \
  }

/* dyd_q{u8,s8}_qc8w_{gemm,igemm}_{dyadic,fp32}_ukernel_8x32c4__avx512vnni */
DEFINE_GEMM(gemm_dyadic_8x32c4, 0)
DEFINE_GEMM(gemm_fp32_8x32c4, 1)

const dyd_gemm_bundle dyd_gemm_bundle_avx512vnni = {
    .isa = DYD_ISA_AVX512VNNI, .mr = MR, .nr = NR, .kr = KR, .a_signed_domain = 0,
    .ukernel = {gemm_dyadic_8x32c4, gemm_fp32_8x32c4},
    .extra_bytes = sizeof(extra_header), .pack_extra = pack_extra,
    .isa_suffix = "avx512vnni"};

#endif
