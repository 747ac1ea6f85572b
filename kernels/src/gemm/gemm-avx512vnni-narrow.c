/*
 * GEMM microkernel for AVX-512 VNNI on narrow layers: 16 rows x 16 columns, one
 * zmm per row. The 8x32 kernel (gemm-avx512vnni.c) spends half of its VPDPBUSD
 * lanes on padding when a layer has at most 16 output channels (U-Net decoders,
 * segmentation heads, the 1-channel side outputs of saliency models); this tile
 * gives every lane a column of such a layer and keeps 16 independent
 * accumulators, so VPDPBUSD issues as often as in the wide tile.
 *
 * Each step of 4 along K loads one 64-byte weight vector (16 columns x 4) and
 * broadcasts 4 bytes of each of the 16 rows (folded into VPDPBUSD as a memory
 * operand), 17 loads per 16 VPDPBUSD: within the load ports of every AVX-512
 * core. Int8 weights only; the registry chooses this row for layers with at most
 * 16 output channels per group and 8-bit weights (conv-op.c).
 */
#if defined(__x86_64__)

#include "../x86/requant-avx512.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define TARGET DYD_AVX512_TARGET
#define INLINE DYD_AVX512_INLINE

#define MR 16
#define NR 16
#define KR 4

/* Extra panel header: the dyadic constants of the 16 columns. */
typedef struct {
  dyd_avx512_rq16 rq;
} extra_header;

static void pack_extra(const int32_t *mult, const int32_t *shift, int32_t zero_point,
                       const int64_t *acc_max, void *out) {
  dyd_avx512_pack_rq(mult, shift, zero_point, acc_max, NR, &((extra_header *)out)->rq);
}

#define REP_MR(X) \
  X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

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
  const __m512i init = _mm512_loadu_si512(bias);
#define ACC_INIT(i) __m512i acc##i = init;
  REP_MR(ACC_INIT)
#undef ACC_INIT
#define STEP(i, value) acc##i = _mm512_dpbusd_epi32(acc##i, _mm512_set1_epi32(value), wv);
#define STEP_MAIN(i) STEP(i, dyd_load4(a##i + k))
#define STEP_TAIL(i) STEP(i, dyd_load_tail4(a##i + k, kc - k))
  size_t k = 0;
  for (; k + KR <= kc; k += KR, wk += NR * KR) {
    const __m512i wv = _mm512_loadu_si512(wk);
    REP_MR(STEP_MAIN)
  }
  if (k < kc) {
    const __m512i wv = _mm512_loadu_si512(wk);
    REP_MR(STEP_TAIL)
  }
#undef STEP_MAIN
#undef STEP_TAIL
#undef STEP
  const __mmask16 mask = dyd_avx512_mask16(nc);
  if (!fp32 && dyd_avx512_rq_fast(&extra->rq)) {
    const __m512i m = _mm512_loadu_si512(mult);
    const int pre = dyd_avx512_rq_preshift(&extra->rq);
#define FAST(i) acc##i = dyd_avx512_dyadic_fast(acc##i, m, &extra->rq, pre);
    REP_MR(FAST)
#undef FAST
    /* four rows share one narrowing; the permutation puts each row's 16 bytes in
     * one 128-bit lane (dyd_avx512_pack4's order: lane l holds 4 bytes of each) */
    const __m512i rows = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
#define STORE4(i0, i1, i2, i3)                                                                  \
  if ((i0) < (int)mr) {                                                                         \
    const __m512i y = _mm512_permutexvar_epi32(rows, dyd_avx512_pack4(acc##i0, acc##i1, acc##i2, acc##i3, p)); \
    _mm_mask_storeu_epi8(c + (i0) * c_stride, mask, _mm512_castsi512_si128(y));                  \
    if ((i1) < (int)mr) _mm_mask_storeu_epi8(c + (i1) * c_stride, mask, _mm512_extracti32x4_epi32(y, 1)); \
    if ((i2) < (int)mr) _mm_mask_storeu_epi8(c + (i2) * c_stride, mask, _mm512_extracti32x4_epi32(y, 2)); \
    if ((i3) < (int)mr) _mm_mask_storeu_epi8(c + (i3) * c_stride, mask, _mm512_extracti32x4_epi32(y, 3)); \
  }
    STORE4(0, 1, 2, 3) STORE4(4, 5, 6, 7) STORE4(8, 9, 10, 11) STORE4(12, 13, 14, 15)
#undef STORE4
    return;
  }
#define STORE(i) \
  if ((i) < (int)mr) dyd_avx512_store16(acc##i, mult, &extra->rq, p, c + (i) * c_stride, mask, fp32);
  REP_MR(STORE)
#undef STORE
}

#define DEFINE_GEMM(name, fp32)                                                                \
  TARGET static void name(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, \
                          const void *w, uint8_t *c, size_t c_stride,                          \
                          const dyd_out_params *p) {                                           \
    gemm_body(mr, nc, kc, a, a_stride, w, c, c_stride, p, fp32);                               \
  }

/* dyd_q{u8,s8}_qc8w_{gemm,igemm}_{dyadic,fp32}_ukernel_16x16c4__avx512vnni */
DEFINE_GEMM(gemm_dyadic_16x16c4, 0)
DEFINE_GEMM(gemm_fp32_16x16c4, 1)

const dyd_gemm_bundle dyd_gemm_bundle_avx512vnni_narrow = {
    .mr = MR, .nr = NR, .kr = KR, .a_signed_domain = 0,
    .ukernel = {gemm_dyadic_16x16c4, gemm_fp32_16x16c4},
    .extra_bytes = sizeof(extra_header), .pack_extra = pack_extra,
    .max_columns = NR, .isa_suffix = "avx512vnni"};

#endif
