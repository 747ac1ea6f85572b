/*
 * Depthwise convolution for AVX2: the AVX-512 scheme at half width. For two
 * taps the input bytes of 16 channels are interleaved, widened to int16 (zero-
 * or sign-extended) and multiplied by packed int16 weight pairs with VPMADDWD,
 * one int32 sum per channel, 8 channels per ymm. A block is 16 channels; the
 * last block of a layer goes through a small stack copy so no byte past
 * `channels` is read or written.
 */
#if defined(__x86_64__)

#include "../x86/requant-avx2.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define TARGET DYD_AVX2_TARGET
#define INLINE DYD_AVX2_INLINE

#define CB 16

typedef struct {
  dyd_avx2_rq8 rq[CB / 8];
} extra_header;

static void pack_extra(const int32_t *mult, const int32_t *shift, int32_t zero_point,
                       const int64_t *acc_max, void *out) {
  (void)zero_point, (void)acc_max;
  dyd_avx2_pack_rq(mult, shift, CB, ((extra_header *)out)->rq);
}

INLINE __m128i load16(const uint8_t *p, size_t n) {
  if (n >= 16) return _mm_loadu_si128((const __m128i *)p);
  uint8_t tmp[16] = {0};
  memcpy(tmp, p, n);
  return _mm_loadu_si128((const __m128i *)tmp);
}

INLINE __m256i widen(__m128i x, const int is_signed) {
  return is_signed ? _mm256_cvtepi8_epi16(x) : _mm256_cvtepu8_epi16(x);
}

/* Low-bit blocks (dyd_dw_pack_bits over int8 tap pairs, 32-byte chunks): chunk k,
 * one tap pair of 16 channels, is bits [s, s + bits) of stored chunk k / per,
 * s = (k % per) * bits; its two's complement values are sign-extended to the int16
 * pairs VPMADDWD takes. Once per block and call. */
INLINE void unpack_block(const uint8_t *src, size_t chunks, const unsigned bits, int16_t *dst) {
  const size_t per = 8 / bits; /* a constant: callers pass 4 or 2 literally */
  const __m256i mask = _mm256_set1_epi8((char)((1 << bits) - 1));
  const __m256i half = _mm256_set1_epi8((char)(1 << (bits - 1)));
  for (size_t k = 0; k < chunks; k += per, src += 32) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)src);
    for (size_t j = 0; j < per && k + j < chunks; j++) {
      const __m256i f = _mm256_and_si256(_mm256_srli_epi16(v, (int)(j * bits)), mask);
      const __m256i t = _mm256_sub_epi8(_mm256_xor_si256(f, half), half);
      int16_t *d = dst + 32 * (k + j);
      _mm256_store_si256((__m256i *)d, _mm256_cvtepi8_epi16(_mm256_castsi256_si128(t)));
      _mm256_store_si256((__m256i *)(d + 16), _mm256_cvtepi8_epi16(_mm256_extracti128_si256(t, 1)));
    }
  }
}

/* Channel blocks outside, pixels inside, as the AVX-512 kernel. bits: 8, or 4 / 2
 * for low-bit blocks, unpacked into `stage` first. */
INLINE void dw_body(size_t pixels, size_t channels, const size_t taps,
                    const uint8_t *const *ind, size_t ind_stride, size_t input_step,
                    const void *w, uint8_t *out, size_t out_stride,
                    const dyd_out_params *p, const int fp32, const int is_signed, unsigned bits,
                    int16_t *stage) {
  const size_t pairs = (taps + 1) / 2;
  const size_t block_bytes =
      bits == 8 ? dyd_dw_block_bytes(CB, sizeof(extra_header), 2 * pairs, 2)
                : dyd_dw_lowbit_block_bytes(CB, sizeof(extra_header), 2 * pairs, 32, bits);
  const uint8_t *blk = w;
  for (size_t c0 = 0; c0 < channels; c0 += CB, blk += block_bytes) {
    const int32_t *bias = (const int32_t *)blk, *mult = bias + CB;
    const extra_header *e = (const extra_header *)(mult + 2 * CB);
    const int16_t *wt0 = (const int16_t *)(e + 1);
    if (bits != 8) {
      if (bits == 4) {
        unpack_block((const uint8_t *)(e + 1), pairs, 4, stage);
      } else {
        unpack_block((const uint8_t *)(e + 1), pairs, 2, stage);
      }
      wt0 = stage;
    }
    const size_t n = DYD_MIN((size_t)CB, channels - c0);
    const __m256i bias0 = _mm256_loadu_si256((const __m256i *)bias);
    const __m256i bias1 = _mm256_loadu_si256((const __m256i *)(bias + 8));
    const uint8_t *const *pi = ind;
    uint8_t *po = out + c0;
    size_t off = c0; /* input offset of this pixel's channel block */
    for (size_t px = 0; px < pixels; px++, pi += ind_stride, off += input_step, po += out_stride) {
      const int16_t *wt = wt0;
      __m256i acc0 = bias0, acc1 = bias1;
      for (size_t tp = 0; tp < pairs; tp++, wt += 2 * CB) {
        const uint8_t *p0 = pi[2 * tp] + off;
        /* an odd last tap pairs with itself; its partner weight is zero */
        const uint8_t *p1 = (2 * tp + 1 < taps ? pi[2 * tp + 1] : pi[2 * tp]) + off;
        const __m128i x0 = load16(p0, n), x1 = load16(p1, n);
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(widen(_mm_unpacklo_epi8(x0, x1), is_signed),
                                                        _mm256_load_si256((const __m256i *)wt)));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(widen(_mm_unpackhi_epi8(x0, x1), is_signed),
                                                        _mm256_load_si256((const __m256i *)(wt + 16))));
      }
      dyd_avx2_store8(acc0, mult, &e->rq[0], p, po, n, fp32);
      if (n > 8) dyd_avx2_store8(acc1, mult + 8, &e->rq[1], p, po + 8, n - 8, fp32);
    }
  }
}

/* name: int8 weights; name_w4, name_w2: low-bit blocks (one function, the unpack
 * before each block the only difference). */
#define DEFINE_DW(name, taps_expr, fp32, is_signed)                                           \
  TARGET __attribute__((noinline)) static void name##_bits(                                  \
      size_t pixels, size_t channels, size_t taps, const uint8_t *const *ind,                \
      size_t ind_stride, size_t input_step, const void *w, uint8_t *out, size_t out_stride,   \
      const dyd_out_params *p, unsigned bits) {                                               \
    _Alignas(32) int16_t stage[DYD_DW_STAGE_BYTES / 2];                                       \
    (void)taps;                                                                               \
    dw_body(pixels, channels, taps_expr, ind, ind_stride, input_step, w, out, out_stride, p, \
            fp32, is_signed, bits, stage);                                                    \
  }                                                                                           \
  TARGET static void name(size_t pixels, size_t channels, size_t taps,                       \
                          const uint8_t *const *ind, size_t ind_stride, size_t input_step,   \
                          const void *w, uint8_t *out, size_t out_stride,                    \
                          const dyd_out_params *p) {                                         \
    (void)taps;                                                                               \
    dw_body(pixels, channels, taps_expr, ind, ind_stride, input_step, w, out, out_stride, p, \
            fp32, is_signed, 8, NULL);                                                        \
  }                                                                                           \
  static void name##_w4(size_t pixels, size_t channels, size_t taps, const uint8_t *const *ind, \
                        size_t ind_stride, size_t input_step, const void *w, uint8_t *out,     \
                        size_t out_stride, const dyd_out_params *p) {                          \
    name##_bits(pixels, channels, taps, ind, ind_stride, input_step, w, out, out_stride, p, 4); \
  }                                                                                           \
  static void name##_w2(size_t pixels, size_t channels, size_t taps, const uint8_t *const *ind, \
                        size_t ind_stride, size_t input_step, const void *w, uint8_t *out,     \
                        size_t out_stride, const dyd_out_params *p) {                          \
    name##_bits(pixels, channels, taps, ind, ind_stride, input_step, w, out, out_stride, p, 2); \
  }

/* dyd_q{u8,s8}_qc{8,4,2}w_dwconv_{dyadic,fp32}_ukernel_{3x3,5x5,up}c16__avx2 */
DEFINE_DW(dw3x3_dyadic_u8, 9, 0, 0)
DEFINE_DW(dw3x3_dyadic_s8, 9, 0, 1)
DEFINE_DW(dw3x3_fp32_u8, 9, 1, 0)
DEFINE_DW(dw3x3_fp32_s8, 9, 1, 1)
DEFINE_DW(dw5x5_dyadic_u8, 25, 0, 0)
DEFINE_DW(dw5x5_dyadic_s8, 25, 0, 1)
DEFINE_DW(dw5x5_fp32_u8, 25, 1, 0)
DEFINE_DW(dw5x5_fp32_s8, 25, 1, 1)
DEFINE_DW(dwup_dyadic_u8, taps, 0, 0)
DEFINE_DW(dwup_dyadic_s8, taps, 0, 1)
DEFINE_DW(dwup_fp32_u8, taps, 1, 0)
DEFINE_DW(dwup_fp32_s8, taps, 1, 1)

#define BUNDLE(name, kh, kw, tile_name, prefix)                                                \
  const dyd_dw_bundle name = {                                                               \
      .kernel_h = kh, .kernel_w = kw, .cb = CB, .tap_round = 2, .tile = tile_name,        \
      .pack = dyd_dw_pack_i16_pairs,                                                         \
      .ukernel = {{prefix##_dyadic_u8, prefix##_dyadic_s8}, {prefix##_fp32_u8, prefix##_fp32_s8}}, \
      .weight_bytes = 2, .extra_bytes = sizeof(extra_header), .pack_extra = pack_extra,       \
      .isa_suffix = "avx2", .pack_i8 = dyd_dw_pack_i8_pairs, .chunk = 32,                   \
      .ukernel_lowbit = {{{prefix##_dyadic_u8_w4, prefix##_dyadic_s8_w4},                     \
                          {prefix##_fp32_u8_w4, prefix##_fp32_s8_w4}},                        \
                         {{prefix##_dyadic_u8_w2, prefix##_dyadic_s8_w2},                     \
                          {prefix##_fp32_u8_w2, prefix##_fp32_s8_w2}}}};

BUNDLE(dyd_dw_bundle_avx2_3x3, 3, 3, "3x3c16", dw3x3)
BUNDLE(dyd_dw_bundle_avx2_5x5, 5, 5, "5x5c16", dw5x5)
BUNDLE(dyd_dw_bundle_avx2_up, 0, 0, "upc16", dwup)

#endif
