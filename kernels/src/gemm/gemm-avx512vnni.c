/*
 * GEMM microkernel for AVX-512 VNNI: VPDPBUSD multiplies 4 unsigned activation
 * bytes by 4 signed weight bytes and adds the four products to an int32 lane,
 * 64 multiply-adds per instruction. Activations are therefore in the uint8
 * domain (int8 inputs are flipped by xor 0x80 while the op copies them, the
 * +128 being folded into the packed bias).
 *
 * Register tile: 8 rows x 32 columns = 2 zmm per row, 16 accumulators. Each
 * step of 4 along K loads two 64-byte weight vectors (32 columns x 4) and
 * broadcasts 4 bytes of every row; VPDPBUSD issues about twice per cycle with a
 * latency of about 4, so 16 independent accumulators keep it busy.
 *
 * Low-bit weights (common.h's plane layout, unit = one K step, 128 bytes).
 * 4-bit (qc4w): a K step's two weight vectors are stored as one, byte i holding
 * byte i of the first (columns 0-15) in its low nibble and byte i of the second
 * (columns 16-31) in its high nibble. No sign extension is needed: `v & 0xF0` is
 * exactly 16 * w for the high nibble as an int8 (w in [-8, 7] gives [-128, 112]),
 * and `(v << 4) & 0xF0` the same for the low one, so VPDPBUSD accumulates
 * 16 * sum(a * w) and one arithmetic shift by 4 at the end recovers the sum
 * exactly (the accumulators start at 0 and the bias is added after the shift,
 * modulo 2^32 like everywhere else). 2-bit (qc2w): 32 bytes per K step, crumb j
 * of byte i is byte 32 j + i of the step; one 256-bit load broadcast to both
 * halves and a per-half left shift (VPSLLVD by 6|4, then 2|0) put crumbs 0|1,
 * then 2|3, in the top two bits, `& 0xC0` makes them 64 * w, and the final shift
 * is by 6. Either way |scaled w| <= 128, so the int8 K bound still applies.
 *
 * Cost: 3 (4-bit) or 4 (2-bit) instructions per K step on the two ports that
 * also run VPDPBUSD, against 16 VPDPBUSD in the 8-row tile (so about 0.84 of the
 * int8 speed when unpacked in registers), and half (a quarter) of the weight
 * bytes. The op therefore runs these kernels only where a tile has one row
 * block (and the 1-row kernel, which streams weights, for fully connected
 * layers); a tile with more rows unpacks each panel once into the workspace with
 * `unpack_w4` / `unpack_w2` and runs the int8 kernels over the copy.
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

/* Extra panel header: the dyadic constants of the 32 columns. */
typedef struct {
  dyd_avx512_rq16 rq[NR / 16];
} extra_header;

static void pack_extra(const int32_t *mult, const int32_t *shift, int32_t zero_point,
                       const int64_t *acc_max, void *out) {
  dyd_avx512_pack_rq(mult, shift, zero_point, acc_max, NR, ((extra_header *)out)->rq);
}

/* Packed K step bytes: 128 for int8 weights, 64 for 4-bit, 32 for 2-bit. */
#define STEP_BYTES(bits) (NR * KR * (bits) / 8)
/* The low-bit accumulators hold sum(a * w) times 2^UNSCALE(bits) (see the top). */
#define UNSCALE(bits) ((bits) == 4 ? 4 : 6)

/* The two weight vectors of one K step (low-bit: scaled, see the top). */
INLINE void load_w(const int8_t *wk, const int bits, __m512i *w0, __m512i *w1) {
  if (bits == 4) {
    const __m512i v = _mm512_load_si512(wk), nib = _mm512_set1_epi8((char)0xF0);
    *w0 = _mm512_and_si512(_mm512_slli_epi16(v, 4), nib);
    *w1 = _mm512_and_si512(v, nib);
  } else if (bits == 2) {
    const __m512i v = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)wk));
    const __m512i top = _mm512_set1_epi8((char)0xC0);
    const __m512i s01 = _mm512_setr_epi32(6, 6, 6, 6, 6, 6, 6, 6, 4, 4, 4, 4, 4, 4, 4, 4);
    const __m512i s23 = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0);
    *w0 = _mm512_and_si512(_mm512_sllv_epi32(v, s01), top);
    *w1 = _mm512_and_si512(_mm512_sllv_epi32(v, s23), top);
  } else {
    *w0 = _mm512_load_si512(wk);
    *w1 = _mm512_load_si512(wk + 64);
  }
}

/* A panel's weights as int8: dyd_gemm_unpack_planes with unit NR * KR. The copy
 * is 32 bytes per K (36 KiB at K = 1152) and the row blocks' reads of A evict it
 * between panels, so its lines are fetched for writing (PREFETCHW, which every
 * AVX-512 CPU has) 4 K steps ahead: that took the unpack's share of a 7x7 layer
 * with K = 1152 from about 8% to 4%. */
#define UNPACK_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,prfchw")))
#define PREFETCH_COPY(p) (__builtin_prefetch((p) + 512, 1, 3), __builtin_prefetch((p) + 576, 1, 3))

/* The 16 int8 values of a nibble (or crumb) table times 2^k, broadcast to every lane */
UNPACK_TARGET static __m512i scaled_table(const int8_t values[16], unsigned k) {
  int8_t t[16];
  for (int i = 0; i < 16; i++) t[i] = (int8_t)(values[i] * (1 << k));
  return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)t));
}

/* Sign-extending lookups of a field in the low bits of each byte (VPSHUFB indexes
 * each 128-bit lane with the low 4 bits of each byte). */
static const int8_t nibble_values[16] = {0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1};
static const int8_t crumb_values[16] = {0, 1, -2, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

/* The unpack with every weight times 2^k (the caller checked that they stay int8). */
UNPACK_TARGET static void unpack_w4_scaled(const uint8_t *in, size_t bytes, int8_t *w8, unsigned k) {
  const __m512i table = scaled_table(nibble_values, k), low = _mm512_set1_epi8(0x0F);
  for (size_t i = 0; i < bytes; i += NR * KR, in += NR * KR / 2, w8 += NR * KR) {
    PREFETCH_COPY(w8);
    const __m512i v = _mm512_load_si512(in);
    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
    _mm512_store_si512(w8, _mm512_shuffle_epi8(table, _mm512_and_si512(v, low)));
    _mm512_store_si512(w8 + 64, _mm512_shuffle_epi8(table, hi));
  }
}

UNPACK_TARGET static void unpack_w2_scaled(const uint8_t *in, size_t bytes, int8_t *w8, unsigned k) {
  const __m512i table = scaled_table(crumb_values, k), low = _mm512_set1_epi8(0x03);
  const __m512i s01 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
  const __m512i s23 = _mm512_setr_epi32(4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6);
  for (size_t i = 0; i < bytes; i += NR * KR, in += NR * KR / 4, w8 += NR * KR) {
    PREFETCH_COPY(w8);
    const __m512i v = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)in));
    const __m512i f01 = _mm512_and_si512(_mm512_srlv_epi32(v, s01), low);
    const __m512i f23 = _mm512_and_si512(_mm512_srlv_epi32(v, s23), low);
    _mm512_store_si512(w8, _mm512_shuffle_epi8(table, f01));
    _mm512_store_si512(w8 + 64, _mm512_shuffle_epi8(table, f23));
  }
}

UNPACK_TARGET static void unpack_w4(const uint8_t *in, size_t bytes, int8_t *w8) {
  unpack_w4_scaled(in, bytes, w8, 0);
}

UNPACK_TARGET static void unpack_w2(const uint8_t *in, size_t bytes, int8_t *w8) {
  unpack_w2_scaled(in, bytes, w8, 0);
}

INLINE void store_row(__m512i acc0, __m512i acc1, uint8_t *c, size_t nc, const int32_t *mult,
                      const extra_header *e, const dyd_out_params *p, const int fp32) {
  dyd_avx512_store16(acc0, mult, &e->rq[0], p, c, dyd_avx512_mask16(nc), fp32);
  if (nc > 16) dyd_avx512_store16(acc1, mult + 16, &e->rq[1], p, c + 16, dyd_avx512_mask16(nc - 16), fp32);
}

#define REP_MR(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

INLINE void gemm_body(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,
                      const void *w, uint8_t *c, size_t c_stride, const dyd_out_params *p,
                      const int fp32, const int bits) {
  const int32_t *bias = w, *mult = bias + NR;
  const extra_header *extra = (const extra_header *)(mult + 2 * NR);
  const int8_t *wk = (const int8_t *)(extra + 1);
  /* Rows past mr repeat the last row: computed, never stored. */
#define ROW_PTR(i) const uint8_t *a##i = a + (size_t)((i) < (int)mr ? (i) : (int)mr - 1) * a_stride;
  REP_MR(ROW_PTR)
#undef ROW_PTR
  /* low-bit: the bias is added after the loop (loaded again there, so that it
   * does not occupy two registers across the loop) */
  const __m512i init0 = bits < 8 ? _mm512_setzero_si512() : _mm512_loadu_si512(bias);
  const __m512i init1 = bits < 8 ? _mm512_setzero_si512() : _mm512_loadu_si512(bias + 16);
#define ACC_INIT(i) __m512i acc##i##0 = init0, acc##i##1 = init1;
  REP_MR(ACC_INIT)
#undef ACC_INIT
#define STEP(i, value)                                  \
  {                                                     \
    const __m512i av = _mm512_set1_epi32(value);        \
    acc##i##0 = _mm512_dpbusd_epi32(acc##i##0, av, w0); \
    acc##i##1 = _mm512_dpbusd_epi32(acc##i##1, av, w1); \
  }
#define STEP_MAIN(i) STEP(i, dyd_load4(a##i + k))
#define STEP_TAIL(i) STEP(i, dyd_load_tail4(a##i + k, kc - k))
  size_t k = 0;
  for (; k + KR <= kc; k += KR, wk += STEP_BYTES(bits)) {
    __m512i w0, w1;
    load_w(wk, bits, &w0, &w1);
    REP_MR(STEP_MAIN)
  }
  if (k < kc) {
    __m512i w0, w1;
    load_w(wk, bits, &w0, &w1);
    REP_MR(STEP_TAIL)
  }
#undef STEP_MAIN
#undef STEP_TAIL
#undef STEP
  if (bits < 8) {
    const __m512i bias0 = _mm512_loadu_si512(bias), bias1 = _mm512_loadu_si512(bias + 16);
#define UNSCALE_ROW(i)                                                              \
  acc##i##0 = _mm512_add_epi32(_mm512_srai_epi32(acc##i##0, UNSCALE(bits)), bias0); \
  acc##i##1 = _mm512_add_epi32(_mm512_srai_epi32(acc##i##1, UNSCALE(bits)), bias1);
    /* The empty asm ends the accumulators' loop live ranges here: without it GCC 12
     * copies all 16 between registers in every iteration of the loop (30% slower). */
#define PIN(i) __asm__("" : "+v"(acc##i##0), "+v"(acc##i##1));
    REP_MR(PIN)
#undef PIN
    REP_MR(UNSCALE_ROW)
#undef UNSCALE_ROW
  }
  if (!fp32 && dyd_avx512_rq_fast(&extra->rq[0])) {
    /* fast stage: rows in pairs share the narrowing */
    const __m512i m0 = _mm512_loadu_si512(mult), m1 = _mm512_loadu_si512(mult + 16);
    if (dyd_avx512_rq_preshift(&extra->rq[0])) { /* shifts below 33 (requant-avx512.h) */
      const __m512i l0 = _mm512_load_si512(extra->rq[0].lshift);
      const __m512i l1 = _mm512_load_si512(extra->rq[1].lshift);
#define PRE(i)                                   \
  acc##i##0 = _mm512_sllv_epi32(acc##i##0, l0); \
  acc##i##1 = _mm512_sllv_epi32(acc##i##1, l1);
      REP_MR(PRE)
#undef PRE
    }
#define FAST(i)                                                        \
  acc##i##0 = dyd_avx512_dyadic_fast(acc##i##0, m0, &extra->rq[0], 0); \
  acc##i##1 = dyd_avx512_dyadic_fast(acc##i##1, m1, &extra->rq[1], 0);
    REP_MR(FAST)
#undef FAST
    const __mmask32 mask = dyd_avx512_mask32(nc);
#define STORE_PAIR(i, j)                                                                  \
  if ((i) < (int)mr) {                                                                    \
    const __m512i y = dyd_avx512_narrow_2x32(acc##i##0, acc##i##1, acc##j##0, acc##j##1, p); \
    _mm256_mask_storeu_epi8(c + (i) * c_stride, mask, _mm512_castsi512_si256(y));         \
    if ((j) < (int)mr)                                                                    \
      _mm256_mask_storeu_epi8(c + (j) * c_stride, mask, _mm512_extracti64x4_epi64(y, 1)); \
  }
    STORE_PAIR(0, 1) STORE_PAIR(2, 3) STORE_PAIR(4, 5) STORE_PAIR(6, 7)
#undef STORE_PAIR
    return;
  }
#define STORE(i) \
  if ((i) < (int)mr) store_row(acc##i##0, acc##i##1, c + (i) * c_stride, nc, mult, extra, p, fp32);
  REP_MR(STORE)
#undef STORE
}

/*
 * One row (fully connected layers at batch 1): the weights stream through once
 * and each 64-byte vector feeds a single VPDPBUSD, so the kernel is bound by
 * loads; four groups of K (16 bytes of the row per iteration) go to separate
 * accumulators so that VPDPBUSD latency does not serialize them.
 */
INLINE void gemm_1row_body(size_t nc, size_t kc, const uint8_t *a, const void *w, uint8_t *c,
                           const dyd_out_params *p, const int fp32, const int bits) {
  const int32_t *bias = w, *mult = bias + NR;
  const extra_header *extra = (const extra_header *)(mult + 2 * NR);
  const int8_t *wk = (const int8_t *)(extra + 1);
  const __m512i bias0 = _mm512_loadu_si512(bias), bias1 = _mm512_loadu_si512(bias + 16);
  __m512i acc00 = bits < 8 ? _mm512_setzero_si512() : bias0;
  __m512i acc01 = bits < 8 ? _mm512_setzero_si512() : bias1;
  __m512i acc10 = _mm512_setzero_si512(), acc11 = acc10, acc20 = acc10, acc21 = acc10;
  __m512i acc30 = acc10, acc31 = acc10;
  size_t k = 0;
#define STEP1(g, value)                                          \
  {                                                              \
    const __m512i av = _mm512_set1_epi32(value);                 \
    __m512i w0, w1;                                              \
    load_w(wk + STEP_BYTES(bits) * (g), bits, &w0, &w1);             \
    acc##g##0 = _mm512_dpbusd_epi32(acc##g##0, av, w0);          \
    acc##g##1 = _mm512_dpbusd_epi32(acc##g##1, av, w1);          \
  }
  for (; k + 16 <= kc; k += 16, wk += 4 * STEP_BYTES(bits)) {
    STEP1(0, dyd_load4(a + k)) STEP1(1, dyd_load4(a + k + 4)) STEP1(2, dyd_load4(a + k + 8))
    STEP1(3, dyd_load4(a + k + 12))
  }
  for (; k < kc; k += KR, wk += STEP_BYTES(bits)) {
    const size_t n = kc - k;
    STEP1(0, n >= 4 ? dyd_load4(a + k) : dyd_load_tail4(a + k, n))
  }
#undef STEP1
  acc00 = _mm512_add_epi32(_mm512_add_epi32(acc00, acc10), _mm512_add_epi32(acc20, acc30));
  acc01 = _mm512_add_epi32(_mm512_add_epi32(acc01, acc11), _mm512_add_epi32(acc21, acc31));
  if (bits < 8) {
    acc00 = _mm512_add_epi32(_mm512_srai_epi32(acc00, UNSCALE(bits)), bias0);
    acc01 = _mm512_add_epi32(_mm512_srai_epi32(acc01, UNSCALE(bits)), bias1);
  }
  if (!fp32 && dyd_avx512_rq_fast(&extra->rq[0])) {
    const int pre = dyd_avx512_rq_preshift(&extra->rq[0]);
    acc00 = dyd_avx512_dyadic_fast(acc00, _mm512_loadu_si512(mult), &extra->rq[0], pre);
    acc01 = dyd_avx512_dyadic_fast(acc01, _mm512_loadu_si512(mult + 16), &extra->rq[1], pre);
    const __m512i y = dyd_avx512_narrow_2x32(acc00, acc01, acc00, acc01, p);
    _mm256_mask_storeu_epi8(c, dyd_avx512_mask32(nc), _mm512_castsi512_si256(y));
    return;
  }
  store_row(acc00, acc01, c, nc, mult, extra, p, fp32);
}

#define DEFINE_GEMM_1ROW(name, fp32, bits)                                                     \
  TARGET static void name(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, \
                          const void *w, uint8_t *c, size_t c_stride,                          \
                          const dyd_out_params *p) {                                           \
    (void)mr, (void)a_stride, (void)c_stride;                                                  \
    gemm_1row_body(nc, kc, a, w, c, p, fp32, bits);                                            \
  }

#define DEFINE_GEMM(name, fp32, bits)                                                          \
  TARGET static void name(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, \
                          const void *w, uint8_t *c, size_t c_stride,                          \
                          const dyd_out_params *p) {                                           \
    gemm_body(mr, nc, kc, a, a_stride, w, c, c_stride, p, fp32, bits);                         \
  }

/* dyd_q{u8,s8}_qc8w_{gemm,igemm}_{dyadic,fp32}_ukernel_8x32c4__avx512vnni */
DEFINE_GEMM(gemm_dyadic_8x32c4, 0, 8)
DEFINE_GEMM(gemm_fp32_8x32c4, 1, 8)
DEFINE_GEMM_1ROW(gemm_dyadic_1x32c4, 0, 8)
DEFINE_GEMM_1ROW(gemm_fp32_1x32c4, 1, 8)
/* dyd_q{u8,s8}_qc4w_{gemm,igemm}_{dyadic,fp32}_ukernel_8x32c4__avx512vnni */
DEFINE_GEMM(gemm_qc4w_dyadic_8x32c4, 0, 4)
DEFINE_GEMM(gemm_qc4w_fp32_8x32c4, 1, 4)
DEFINE_GEMM_1ROW(gemm_qc4w_dyadic_1x32c4, 0, 4)
DEFINE_GEMM_1ROW(gemm_qc4w_fp32_1x32c4, 1, 4)
/* dyd_q{u8,s8}_qc2w_{gemm,igemm}_{dyadic,fp32}_ukernel_8x32c4__avx512vnni */
DEFINE_GEMM(gemm_qc2w_dyadic_8x32c4, 0, 2)
DEFINE_GEMM(gemm_qc2w_fp32_8x32c4, 1, 2)
DEFINE_GEMM_1ROW(gemm_qc2w_dyadic_1x32c4, 0, 2)
DEFINE_GEMM_1ROW(gemm_qc2w_fp32_1x32c4, 1, 2)

const dyd_gemm_bundle dyd_gemm_bundle_avx512vnni = {
    .mr = MR, .nr = NR, .kr = KR, .a_signed_domain = 0,
    .ukernel = {gemm_dyadic_8x32c4, gemm_fp32_8x32c4},
    .ukernel_1row = {gemm_dyadic_1x32c4, gemm_fp32_1x32c4},
    .lowbit_unit = NR * KR,
    .w4 = {{gemm_qc4w_dyadic_8x32c4, gemm_qc4w_fp32_8x32c4},
           {gemm_qc4w_dyadic_1x32c4, gemm_qc4w_fp32_1x32c4}, unpack_w4, unpack_w4_scaled},
    .w2 = {{gemm_qc2w_dyadic_8x32c4, gemm_qc2w_fp32_8x32c4},
           {gemm_qc2w_dyadic_1x32c4, gemm_qc2w_fp32_1x32c4}, unpack_w2, unpack_w2_scaled},
    .extra_bytes = sizeof(extra_header), .pack_extra = pack_extra, .copy_min_shift = 33,
    .isa_suffix = "avx512vnni"};

#endif
