/*
 * GEMM microkernel for AVX2 (no VNNI). Both operands are int16 and VPMADDWD
 * multiplies them: its int32 pair sums are exact for uint8 x int8
 * (|255 * 128 * 2| < 2^31), where VPMADDUBSW's int16 pair sums saturate.
 *
 * Layout c2: a K step is a pair of K values, and the panel holds them for 16
 * columns, column-major within the pair (32 int8 bytes). VPMOVSXBW widens each
 * half into one ymm of 8 columns x 2 K. The activations of the tile's rows are
 * widened to int16 once per call, a chunk of K at a time, into a buffer on the
 * stack, so that each row's pair is a single broadcast load (VPBROADCASTD from
 * memory needs no vector ALU). One VPMADDWD then gives the complete pair sums
 * of 8 columns: accumulators hold finished columns, and no reduction precedes
 * the output stage.
 *
 * Register tile 6 x 16: 12 accumulators + 2 weight vectors + 1 broadcast row
 * of the 16 ymm registers AVX2 has. Per K pair: 12 VPMADDWD + 12 VPADDD, 2
 * VPMOVSXBW and 6 broadcast loads for 192 products.
 *
 * Low-bit weights (common.h's plane layout, unit = two K steps, 64 bytes):
 * 4-bit, 32 bytes whose low nibbles are the first K pair of the 16 columns and
 * high nibbles the second; 2-bit, 16 bytes of crumbs. A VPSHUFB table
 * sign-extends the fields to int8 (lowbit-avx2.h) and they are multiplied as
 * the int8 ones are. Tiles with more than one row block run the int8 kernel
 * over a copy unpacked once per panel (`unpack`), so these kernels serve the
 * tiles of at most 6 rows.
 */
#if defined(__x86_64__)

#include "../x86/lowbit-avx2.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define TARGET DYD_AVX2_TARGET
#define INLINE DYD_AVX2_INLINE

#define MR 6
#define NR 16
#define KR 2
/* K values of the rows widened per chunk (a multiple of the low-bit unit's 4). */
#define KCHUNK 256

/* Extra panel header: the dyadic constants of the 16 columns, 8 per vector. */
typedef struct {
  dyd_avx2_rq8 rq[NR / 8];
} extra_header;
_Static_assert((DYD_PANEL_HEADER(NR) + sizeof(extra_header)) % 64 == 0, "aligned weights");

static void pack_extra(const int32_t *mult, const int32_t *shift, int32_t zero_point,
                       const int64_t *acc_max, void *out) {
  (void)zero_point, (void)acc_max;
  dyd_avx2_pack_rq(mult, shift, NR, ((extra_header *)out)->rq);
}

/* Moves the first r bytes (r <= 16) of the 16 bytes ending at the row's end
 * to the front, zeros after them: PSHUFB indices from a sliding window. */
static const int8_t tail_shuffle[48] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};

/* n bytes of a row (n <= KCHUNK) as int16 in `dst`, then up to a multiple of 16
 * values whatever bytes follow the row where they can be read, else zeros: the
 * panel's weights past K are zero, so those products vanish either way. Reads
 * nothing at or past `end`, the end of the tile's last row. */
INLINE void widen_row(const uint8_t *a, size_t n, const uint8_t *end, int16_t *dst) {
  size_t k = 0;
  for (; k + 16 <= n; k += 16)
    _mm256_store_si256((__m256i *)(dst + k),
                       _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + k))));
  if (k == n) return;
  const size_t r = n - k;
  __m128i v;
  if (a + k + 16 <= end) {
    v = _mm_loadu_si128((const __m128i *)(a + k));
  } else if (n >= 16) { /* the 16 bytes ending at a + n, moved down by 16 - r */
    v = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(a + n - 16)),
                         _mm_loadu_si128((const __m128i *)(tail_shuffle + 32 - r)));
  } else {
    uint8_t t[16] = {0};
    for (size_t i = 0; i < r; i++) t[i] = a[k + i];
    v = _mm_loadu_si128((const __m128i *)t);
  }
  _mm256_store_si256((__m256i *)(dst + k), _mm256_cvtepu8_epi16(v));
}

#define REP_MR(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* The tile's rows as int16 pairs, then per K pair the products of the 16
 * columns held in the variables w0 (columns 0-7) and w1 (8-15). */
#define TILE_BEGIN                                                                              \
  const int32_t *bias = w, *mult = bias + NR;                                                   \
  const extra_header *extra = (const extra_header *)(mult + 2 * NR);                            \
  _Alignas(32) int16_t rows16[MR][KCHUNK];                                                      \
  const uint8_t *end = a + (mr - 1) * a_stride + kc;                                            \
  /* the accumulators start at the bias (sums modulo 2^32, as the reference's) */             \
  __m256i acc0a = _mm256_loadu_si256((const __m256i *)bias),                                    \
          acc0b = _mm256_loadu_si256((const __m256i *)(bias + 8)), acc1a = acc0a,               \
          acc1b = acc0b, acc2a = acc0a, acc2b = acc0b, acc3a = acc0a, acc3b = acc0b,            \
          acc4a = acc0a, acc4b = acc0b, acc5a = acc0a, acc5b = acc0b;

#define WIDEN_ROWS(k0, n)                                                                       \
  for (size_t i = 0; i < (size_t)rows; i++)                                                     \
    widen_row(a + (i < mr ? i : mr - 1) * a_stride + (k0), (n), end, rows16[i]);

#define MADD_PAIR(t)                                                                    \
  {                                                                                             \
    const size_t pair = (t);                                                                    \
    __m256i va;                                                                                 \
    REP_MR(MADD_ROW)                                                                            \
  }
#define MADD_ROW(i)                                                                             \
  if ((i) < rows) {                                                                             \
    va = _mm256_set1_epi32(*(const int32_t *)(rows16[i] + 2 * pair));                           \
    acc##i##a = _mm256_add_epi32(acc##i##a, _mm256_madd_epi16(va, w0));                         \
    acc##i##b = _mm256_add_epi32(acc##i##b, _mm256_madd_epi16(va, w1));                         \
  }

#define TILE_END REP_MR(STORE_ROW)
#define STORE_ROW(i)                                                                            \
  if ((i) < (int)mr) {                                                                          \
    uint8_t *ci = c + (i) * c_stride;                                                           \
    const __m256i ya = dyd_avx2_requant8(acc##i##a, mult, &extra->rq[0], p, fp32);              \
    if (nc == NR) {                                                                             \
      const __m256i yb = dyd_avx2_requant8(acc##i##b, mult + 8, &extra->rq[1], p, fp32);        \
      _mm_storeu_si128((__m128i *)ci, dyd_avx2_narrow16(ya, yb, p));                            \
    } else {                                                                                    \
      dyd_avx2_store_n(ci, dyd_avx2_narrow8(ya, p), nc < 8 ? nc : 8);                           \
      if (nc > 8)                                                                               \
        dyd_avx2_store8(acc##i##b, mult + 8, &extra->rq[1], p, ci + 8, nc - 8, fp32);           \
    }                                                                                           \
  }

INLINE void gemm_body(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,
                      const void *w, uint8_t *c, size_t c_stride, const dyd_out_params *p,
                      const int fp32, const int rows) {
  TILE_BEGIN
  const int8_t *wk = (const int8_t *)(extra + 1);
  for (size_t k0 = 0; k0 < kc; k0 += KCHUNK) {
    const size_t n = kc - k0 < KCHUNK ? kc - k0 : KCHUNK;
    WIDEN_ROWS(k0, n)
    for (size_t t = 0; t < (n + 1) / 2; t++, wk += NR * KR) {
      const __m256i w0 = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)wk));
      const __m256i w1 = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(wk + 16)));
      MADD_PAIR(t)
    }
  }
  TILE_END
}

/* Low-bit panels: a unit (two K pairs) at a time; the chunk's rows are zero past
 * kc up to a multiple of 4, as the panel's weights are. */
INLINE void gemm_lowbit_body(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,
                             const void *w, uint8_t *c, size_t c_stride, const dyd_out_params *p,
                             const int fp32, const int bits) {
  const int rows = MR;
  TILE_BEGIN
  const uint8_t *wk = (const uint8_t *)(extra + 1);
  for (size_t k0 = 0; k0 < kc; k0 += KCHUNK) {
    const size_t n = kc - k0 < KCHUNK ? kc - k0 : KCHUNK;
    WIDEN_ROWS(k0, n)
    for (size_t t = 0; t < (n + 1) / 2; t += 2, wk += NR * KR * 2 * bits / 8) {
      __m256i lo, hi; /* the first K pair of the 16 columns in lo, the second in hi */
      dyd_avx2_unpack64(wk, bits, &lo, &hi);
      {
        const __m256i w0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(lo));
        const __m256i w1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(lo, 1));
        MADD_PAIR(t)
      }
      {
        const __m256i w0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(hi));
        const __m256i w1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(hi, 1));
        MADD_PAIR(t + 1)
      }
    }
  }
  TILE_END
}

/* rows: MR, or 1 for the kernels of single-row tiles (fully connected layers) */
#define DEFINE_GEMM(name, fp32, rows)                                                          \
  TARGET static void name(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, \
                          const void *w, uint8_t *c, size_t c_stride,                          \
                          const dyd_out_params *p) {                                           \
    gemm_body(mr, nc, kc, a, a_stride, w, c, c_stride, p, fp32, rows);                         \
  }

#define DEFINE_GEMM_LOWBIT(name, fp32, bits)                                                   \
  TARGET static void name(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, \
                          const void *w, uint8_t *c, size_t c_stride,                          \
                          const dyd_out_params *p) {                                           \
    gemm_lowbit_body(mr, nc, kc, a, a_stride, w, c, c_stride, p, fp32, bits);                  \
  }

/* The int8 form of low-bit planes, a unit at a time. */
#define DEFINE_UNPACK(name, bits)                                                              \
  TARGET static void name(const uint8_t *in, size_t bytes, int8_t *w8) {                       \
    for (size_t i = 0; i < bytes; i += 64, in += 64 * (bits) / 8) {                            \
      __m256i lo, hi;                                                                          \
      dyd_avx2_unpack64(in, bits, &lo, &hi);                                                   \
      _mm256_storeu_si256((__m256i *)(w8 + i), lo);                                            \
      _mm256_storeu_si256((__m256i *)(w8 + i + 32), hi);                                       \
    }                                                                                          \
  }

/* dyd_q{u8,s8}_qc{8,4,2}w_{gemm,igemm}_{dyadic,fp32}_ukernel_6x16c2__avx2 (and 1x16c2 for
 * single-row tiles) */
DEFINE_GEMM(gemm_dyadic_6x16c2, 0, MR)
DEFINE_GEMM(gemm_fp32_6x16c2, 1, MR)
DEFINE_GEMM(gemm_dyadic_1x16c2, 0, 1)
DEFINE_GEMM(gemm_fp32_1x16c2, 1, 1)
DEFINE_GEMM_LOWBIT(gemm_qc4w_dyadic_6x16c2, 0, 4)
DEFINE_GEMM_LOWBIT(gemm_qc4w_fp32_6x16c2, 1, 4)
DEFINE_GEMM_LOWBIT(gemm_qc2w_dyadic_6x16c2, 0, 2)
DEFINE_GEMM_LOWBIT(gemm_qc2w_fp32_6x16c2, 1, 2)
DEFINE_UNPACK(unpack_w4, 4)
DEFINE_UNPACK(unpack_w2, 2)

const dyd_gemm_bundle dyd_gemm_bundle_avx2 = {
    .mr = MR, .nr = NR, .kr = KR, .a_signed_domain = 0,
    .ukernel = {gemm_dyadic_6x16c2, gemm_fp32_6x16c2},
    .ukernel_1row = {gemm_dyadic_1x16c2, gemm_fp32_1x16c2},
    .lowbit_unit = NR * KR * 2,
    .w4 = {.ukernel = {gemm_qc4w_dyadic_6x16c2, gemm_qc4w_fp32_6x16c2}, .unpack = unpack_w4},
    .w2 = {.ukernel = {gemm_qc2w_dyadic_6x16c2, gemm_qc2w_fp32_6x16c2}, .unpack = unpack_w2},
    .extra_bytes = sizeof(extra_header), .pack_extra = pack_extra,
    .isa_suffix = "avx2"};

#endif
