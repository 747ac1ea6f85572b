/*
 * GEMM microkernel for AVX-VNNI (VEX-encoded VPDPBUSD on ymm, on CPUs with
 * AVX2 but without AVX-512, such as recent Intel client cores). It serves the
 * AVX2 level when the CPU reports the feature: the AVX-512 kernel's scheme at
 * half width, uint8 activations x int8 weights, K packed by 4.
 *
 * Register tile 6 x 16 = 2 ymm per row, 12 accumulators + 2 weight vectors + 1
 * broadcast within the 16 ymm registers.
 *
 * Low-bit weights: the AVX-512 kernel's scheme (see gemm-avx512vnni.c) on a unit
 * of one K step (64 bytes): 4-bit, 32 bytes whose low nibbles are columns 0-7 and
 * high nibbles columns 8-15, used as 16 * w; 2-bit, 16 bytes broadcast to both
 * halves, each crumb moved to the top bits (VPSLLVD 6|4, 2|0) and used as 64 * w.
 * The accumulators start at zero and are shifted back before the bias is added.
 * That costs 3-4 instructions per 12 VPDPBUSD (about 0.75 of the int8 speed), so, as
 * on AVX-512, tiles with more than one row block unpack each panel once into the
 * workspace and run the int8 kernel over the copy.
 */
#if defined(__x86_64__)

#include "../x86/lowbit-avx2.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define TARGET __attribute__((target("avx2,avxvnni")))
#define INLINE TARGET __attribute__((always_inline)) static inline

#define MR 6
#define NR 16
#define KR 4

typedef struct {
  dyd_avx2_rq8 rq[NR / 8];
} extra_header;
_Static_assert((DYD_PANEL_HEADER(NR) + sizeof(extra_header)) % 64 == 0, "aligned weights");

static void pack_extra(const int32_t *mult, const int32_t *shift, int32_t zero_point,
                       const int64_t *acc_max, void *out) {
  (void)zero_point, (void)acc_max;
  dyd_avx2_pack_rq(mult, shift, NR, ((extra_header *)out)->rq);
}

INLINE int32_t load4(const uint8_t *p, size_t n) { return n >= 4 ? dyd_load4(p) : dyd_load_tail4(p, n); }

INLINE void store_row(__m256i acc0, __m256i acc1, uint8_t *c, size_t nc, const int32_t *mult,
                      const extra_header *e, const dyd_out_params *p, const int fp32) {
  dyd_avx2_store8(acc0, mult, &e->rq[0], p, c, nc, fp32);
  if (nc > 8) dyd_avx2_store8(acc1, mult + 8, &e->rq[1], p, c + 8, nc - 8, fp32);
}

#define REP_MR(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* The two weight vectors of one K step (low-bit: scaled by 2^(8 - bits)). */
INLINE void load_w(const int8_t *wk, const int bits, __m256i *w0, __m256i *w1) {
  if (bits == 4) {
    const __m256i v = _mm256_load_si256((const __m256i *)wk), nib = _mm256_set1_epi8((char)0xF0);
    *w0 = _mm256_and_si256(_mm256_slli_epi16(v, 4), nib);
    *w1 = _mm256_and_si256(v, nib);
  } else if (bits == 2) {
    const __m256i v = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i *)wk));
    const __m256i top = _mm256_set1_epi8((char)0xC0);
    *w0 = _mm256_and_si256(_mm256_sllv_epi32(v, _mm256_setr_epi32(6, 6, 6, 6, 4, 4, 4, 4)), top);
    *w1 = _mm256_and_si256(_mm256_sllv_epi32(v, _mm256_setr_epi32(2, 2, 2, 2, 0, 0, 0, 0)), top);
  } else {
    *w0 = _mm256_load_si256((const __m256i *)wk);
    *w1 = _mm256_load_si256((const __m256i *)(wk + 32));
  }
}

INLINE void gemm_body(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,
                      const void *w, uint8_t *c, size_t c_stride, const dyd_out_params *p,
                      const int fp32, const int bits) {
  const int32_t *bias = w, *mult = bias + NR;
  const extra_header *extra = (const extra_header *)(mult + 2 * NR);
  const int8_t *wk = (const int8_t *)(extra + 1);
#define ROW_PTR(i) const uint8_t *a##i = a + (size_t)((i) < (int)mr ? (i) : (int)mr - 1) * a_stride;
  REP_MR(ROW_PTR)
#undef ROW_PTR
  /* low-bit: the bias is added after the loop (loaded there: 16 registers) */
  const __m256i init0 = bits < 8 ? _mm256_setzero_si256() : _mm256_loadu_si256((const __m256i *)bias);
  const __m256i init1 =
      bits < 8 ? _mm256_setzero_si256() : _mm256_loadu_si256((const __m256i *)(bias + 8));
#define ACC_INIT(i) __m256i acc##i##0 = init0, acc##i##1 = init1;
  REP_MR(ACC_INIT)
#undef ACC_INIT
  for (size_t k = 0; k < kc; k += KR, wk += NR * KR * bits / 8) {
    const size_t n = kc - k; /* the last step may hold fewer than 4 bytes of a row */
    __m256i w0, w1;
    load_w(wk, bits, &w0, &w1);
#define STEP(i)                                                   \
  {                                                               \
    const __m256i av = _mm256_set1_epi32(load4(a##i + k, n));     \
    acc##i##0 = _mm256_dpbusd_avx_epi32(acc##i##0, av, w0);       \
    acc##i##1 = _mm256_dpbusd_avx_epi32(acc##i##1, av, w1);       \
  }
    REP_MR(STEP)
#undef STEP
  }
  if (bits < 8) {
    const int unscale = bits == 4 ? 4 : 6;
    const __m256i bias0 = _mm256_loadu_si256((const __m256i *)bias);
    const __m256i bias1 = _mm256_loadu_si256((const __m256i *)(bias + 8));
#define UNSCALE_ROW(i)                                                        \
  acc##i##0 = _mm256_add_epi32(_mm256_srai_epi32(acc##i##0, unscale), bias0); \
  acc##i##1 = _mm256_add_epi32(_mm256_srai_epi32(acc##i##1, unscale), bias1);
    REP_MR(UNSCALE_ROW)
#undef UNSCALE_ROW
  }
#define STORE(i) \
  if ((i) < (int)mr) store_row(acc##i##0, acc##i##1, c + (i) * c_stride, nc, mult, extra, p, fp32);
  REP_MR(STORE)
#undef STORE
}

/* A panel's weights as int8 (dyd_gemm_unpack_planes with unit NR * KR). */
TARGET static void unpack_lowbit(const uint8_t *in, size_t bytes, int8_t *w8, const int bits) {
  for (size_t i = 0; i < bytes; i += NR * KR, in += NR * KR * bits / 8, w8 += NR * KR) {
    __m256i lo, hi;
    dyd_avx2_unpack64(in, bits, &lo, &hi);
    _mm256_store_si256((__m256i *)w8, lo);
    _mm256_store_si256((__m256i *)(w8 + 32), hi);
  }
}

TARGET static void unpack_w4(const uint8_t *in, size_t bytes, int8_t *w8) {
  unpack_lowbit(in, bytes, w8, 4);
}

TARGET static void unpack_w2(const uint8_t *in, size_t bytes, int8_t *w8) {
  unpack_lowbit(in, bytes, w8, 2);
}

#define DEFINE_GEMM(name, fp32, bits)                                                          \
  TARGET static void name(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, \
                          const void *w, uint8_t *c, size_t c_stride,                          \
                          const dyd_out_params *p) {                                           \
    gemm_body(mr, nc, kc, a, a_stride, w, c, c_stride, p, fp32, bits);                         \
  }

/* dyd_q{u8,s8}_qc{8,4,2}w_{gemm,igemm}_{dyadic,fp32}_ukernel_6x16c4__avxvnni */
DEFINE_GEMM(gemm_dyadic_6x16c4, 0, 8)
DEFINE_GEMM(gemm_fp32_6x16c4, 1, 8)
DEFINE_GEMM(gemm_qc4w_dyadic_6x16c4, 0, 4)
DEFINE_GEMM(gemm_qc4w_fp32_6x16c4, 1, 4)
DEFINE_GEMM(gemm_qc2w_dyadic_6x16c4, 0, 2)
DEFINE_GEMM(gemm_qc2w_fp32_6x16c4, 1, 2)

const dyd_gemm_bundle dyd_gemm_bundle_avxvnni = {
    .mr = MR, .nr = NR, .kr = KR, .a_signed_domain = 0,
    .ukernel = {gemm_dyadic_6x16c4, gemm_fp32_6x16c4},
    .lowbit_unit = NR * KR,
    .w4 = {.ukernel = {gemm_qc4w_dyadic_6x16c4, gemm_qc4w_fp32_6x16c4}, .unpack = unpack_w4},
    .w2 = {.ukernel = {gemm_qc2w_dyadic_6x16c4, gemm_qc2w_fp32_6x16c4}, .unpack = unpack_w2},
    .extra_bytes = sizeof(extra_header), .pack_extra = pack_extra,
    .isa_suffix = "avxvnni"};

#endif
