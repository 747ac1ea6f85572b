/*
 * qgemm kernel for AVX-512 VNNI: VPDPBUSD multiplies 4 uint8 activations by 4 int8
 * weights and adds the four products to an int32 lane, which is exactly the u8 x s8
 * product of MatMulInteger (no saturation: VPDPBUSD, not VPDPBUSDS).
 *
 * Register tile 8 rows x 32 columns: 16 accumulators, 2 weight vectors per K step and
 * one broadcast per row. The row count is a constant in every instantiation (one per
 * mr, 1 to 8), so a call for the 3 rows left of 11 runs 6 VPDPBUSD per step, not 16.
 * One row alone would be bound by VPDPBUSD latency (2 chains), so it splits K in
 * four interleaved groups with their own accumulators.
 *
 * Output stage per 16 columns: the accumulators start at -za * colsum, + zb * (k za -
 * rowsum) when some zb is non-zero, then VCVTDQ2PS (round to nearest even, as C's
 * int -> float), VMULPS by the scale and, after a barrier that keeps GCC from fusing,
 * VADDPS of the bias.
 */
#if defined(__x86_64__)

#include "../x86/requant-avx512.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define TARGET DYD_AVX512_TARGET
#define INLINE DYD_AVX512_INLINE

#define MR 8
#define NR 32
#define KR 4

INLINE void store16(__m512i acc, __m512 scale, __m512 bias, void *c, __mmask16 mask, const int out) {
  if (out == DYD_QGEMM_OUT_S32) {
    _mm512_mask_storeu_epi32(c, mask, acc);
    return;
  }
  __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), scale);
  if (out == DYD_QGEMM_OUT_F32_BIAS) {
    DYD_FP_BARRIER512(v);
    v = _mm512_add_ps(v, bias);
  }
  _mm512_mask_storeu_ps(c, mask, v);
}

#define REP_MR(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

INLINE void body(const size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, const void *panel,
                 const dyd_qgemm_args *args, void *c, size_t c_stride, const int out) {
  const int32_t *colsum = panel, *zb = colsum + NR;
  const int8_t *wk = (const int8_t *)(zb + NR);
  const __m512i nza = _mm512_set1_epi32(-args->a_zero_point);
  const __m512i init0 = _mm512_mullo_epi32(nza, _mm512_load_si512(colsum));
  const __m512i init1 = _mm512_mullo_epi32(nza, _mm512_load_si512(colsum + 16));
#define ROW(i)                                                                  \
  const uint8_t *a##i = a + ((i) < mr ? (i) : 0) * a_stride;                    \
  __m512i acc##i##0 = init0, acc##i##1 = init1;
  REP_MR(ROW)
#undef ROW
#define STEP(i, value)                                    \
  if ((i) < mr) {                                         \
    const __m512i av = _mm512_set1_epi32(value);          \
    acc##i##0 = _mm512_dpbusd_epi32(acc##i##0, av, w0);   \
    acc##i##1 = _mm512_dpbusd_epi32(acc##i##1, av, w1);   \
  }
#define STEP_MAIN(i) STEP(i, dyd_load4(a##i + k))
#define STEP_TAIL(i) STEP(i, dyd_load_tail4(a##i + k, kc - k))
  size_t k = 0;
  if (mr == 1) {
    /* four K groups in flight: rows 1-3's accumulators hold groups 1-3 of row 0 */
    const __m512i zero = _mm512_setzero_si512();
    acc10 = acc11 = acc20 = acc21 = acc30 = acc31 = zero;
#define GROUP(g)                                                                       \
  {                                                                                    \
    const __m512i av = _mm512_set1_epi32(dyd_load4(a0 + k + 4 * (g)));                     \
    acc##g##0 = _mm512_dpbusd_epi32(acc##g##0, av, _mm512_load_si512(wk + 128 * (g))); \
    acc##g##1 = _mm512_dpbusd_epi32(acc##g##1, av, _mm512_load_si512(wk + 128 * (g) + 64)); \
  }
    for (; k + 16 <= kc; k += 16, wk += 4 * NR * KR) {
      GROUP(0) GROUP(1) GROUP(2) GROUP(3)
    }
#undef GROUP
    acc00 = _mm512_add_epi32(_mm512_add_epi32(acc00, acc10), _mm512_add_epi32(acc20, acc30));
    acc01 = _mm512_add_epi32(_mm512_add_epi32(acc01, acc11), _mm512_add_epi32(acc21, acc31));
  }
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
  if (args->row_corr != NULL) {
    const __m512i zb0 = _mm512_load_si512(zb), zb1 = _mm512_load_si512(zb + 16);
#define CORR(i)                                                                    \
  if ((i) < mr) {                                                                  \
    const __m512i r = _mm512_set1_epi32(args->row_corr[i]);                        \
    acc##i##0 = _mm512_add_epi32(acc##i##0, _mm512_mullo_epi32(zb0, r));           \
    acc##i##1 = _mm512_add_epi32(acc##i##1, _mm512_mullo_epi32(zb1, r));           \
  }
    REP_MR(CORR)
#undef CORR
  }
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, b0 = s0, b1 = s0;
  if (out != DYD_QGEMM_OUT_S32) s0 = _mm512_loadu_ps(args->scale), s1 = _mm512_loadu_ps(args->scale + 16);
  if (out == DYD_QGEMM_OUT_F32_BIAS) b0 = _mm512_loadu_ps(args->bias), b1 = _mm512_loadu_ps(args->bias + 16);
  const uint32_t mask = nc >= 32 ? 0xFFFFFFFFu : (1u << nc) - 1;
  const __mmask16 m0 = (__mmask16)mask, m1 = (__mmask16)(mask >> 16);
#define STORE(i)                                                    \
  if ((i) < mr) {                                                   \
    uint8_t *ci = (uint8_t *)c + (i) * c_stride * 4;                \
    store16(acc##i##0, s0, b0, ci, m0, out);                        \
    if (m1) store16(acc##i##1, s1, b1, ci + 64, m1, out);           \
  }
  REP_MR(STORE)
#undef STORE
}

#define CASE(r) case r: body(r, nc, kc, a, a_stride, panel, args, c, c_stride, kind); break;
#define DEFINE(name, out)                                                                                 \
  TARGET static void name(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,            \
                          const void *panel, const dyd_qgemm_args *args, void *c, size_t c_stride) {     \
    const int kind = out; /* a constant once inlined */                                        \
    switch (mr) { CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) default: CASE(8) }             \
  }

/* dyd_qu8_qc8w_qgemm_fp32_ukernel_8x32c4__avx512vnni */
DEFINE(qgemm_s32_8x32c4, DYD_QGEMM_OUT_S32)
DEFINE(qgemm_f32_8x32c4, DYD_QGEMM_OUT_F32)
DEFINE(qgemm_f32_bias_8x32c4, DYD_QGEMM_OUT_F32_BIAS)

const dyd_qgemm_bundle dyd_qgemm_bundle_avx512vnni = {
    .mr = MR, .nr = NR, .kr = KR,
    .ukernel = {qgemm_s32_8x32c4, qgemm_f32_8x32c4, qgemm_f32_bias_8x32c4},
    .rowsum = dyd_qgemm_rowsum_avx2,
    .isa_suffix = "avx512vnni"};

#endif
