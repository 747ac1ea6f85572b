/*
 * Depthwise convolution for the AVX-512 level. Products are formed with
 * VPMADDWD on int16: for two taps t, t+1 the input bytes of 16 channels are
 * interleaved (x_t[c], x_t+1[c]), widened (zero- or sign-extended, so both
 * activation types work without a domain flip) and multiplied by the packed
 * int16 pairs (w_t[c], w_t+1[c]), giving one int32 sum per channel. A block is
 * 32 channels (2 zmm accumulators); the last block of a layer uses masked loads
 * and stores so no byte past `channels` is touched.
 *
 * The 3x3 and 5x5 kernels are the same code with the tap count a compile-time
 * constant (fully unrolled tap loop); any other window uses the generic one.
 */
#if defined(__x86_64__)

#include "../x86/requant-avx512.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define TARGET DYD_AVX512_TARGET
#define INLINE DYD_AVX512_INLINE

#define CB 32

typedef struct {
  dyd_avx512_rq16 rq[CB / 16];
} extra_header;

static void pack_extra(const int32_t *mult, const int32_t *shift, void *out) {
  dyd_avx512_pack_rq(mult, shift, CB, ((extra_header *)out)->rq);
}

/* 16 channels of taps t and t+1 interleaved and widened to int16. */
INLINE __m512i load_pair(const uint8_t *p0, const uint8_t *p1, __mmask16 mask, const int is_signed) {
  const __m128i x0 = _mm_maskz_loadu_epi8(mask, p0), x1 = _mm_maskz_loadu_epi8(mask, p1);
  const __m256i x = _mm256_set_m128i(_mm_unpackhi_epi8(x0, x1), _mm_unpacklo_epi8(x0, x1));
  return is_signed ? _mm512_cvtepi8_epi16(x) : _mm512_cvtepu8_epi16(x);
}

INLINE __m512i load_pair_full(const uint8_t *p0, const uint8_t *p1, const int is_signed) {
  const __m128i x0 = _mm_loadu_si128((const __m128i *)p0), x1 = _mm_loadu_si128((const __m128i *)p1);
  const __m256i x = _mm256_set_m128i(_mm_unpackhi_epi8(x0, x1), _mm_unpacklo_epi8(x0, x1));
  return is_signed ? _mm512_cvtepi8_epi16(x) : _mm512_cvtepu8_epi16(x);
}

/* Channel blocks outside, pixels inside: a block's weights and requantization
 * constants stay in registers (or L1) across the whole output row. */
INLINE void dw_body(size_t pixels, size_t channels, const size_t taps,
                    const uint8_t *const *ind, const void *w, uint8_t *out, size_t out_stride,
                    const dyd_out_params *p, const int fp32, const int is_signed) {
  const size_t pairs = (taps + 1) / 2;
  const size_t block_bytes = dyd_dw_block_bytes(CB, sizeof(extra_header), 2 * pairs, 2);
  const uint8_t *blk = w;
  for (size_t c0 = 0; c0 < channels; c0 += CB, blk += block_bytes) {
    const int32_t *bias = (const int32_t *)blk, *mult = bias + CB;
    const extra_header *e = (const extra_header *)(mult + 2 * CB);
    const int16_t *wt0 = (const int16_t *)(e + 1);
    const size_t n = DYD_MIN((size_t)CB, channels - c0);
    const __mmask16 m0 = dyd_avx512_mask16(n), m1 = dyd_avx512_mask16(n > 16 ? n - 16 : 0);
    const __m512i bias0 = _mm512_loadu_si512(bias), bias1 = _mm512_loadu_si512(bias + 16);
    const uint8_t *const *pi = ind;
    uint8_t *po = out + c0;
    for (size_t px = 0; px < pixels; px++, pi += taps, po += out_stride) {
      const int16_t *wt = wt0;
      __m512i acc0 = bias0, acc1 = bias1;
      if (n == CB) { /* full block: plain loads, both halves */
        for (size_t tp = 0; tp < pairs; tp++, wt += 2 * CB) {
          const uint8_t *p0 = pi[2 * tp] + c0;
          /* an odd last tap pairs with itself; its partner weight is zero */
          const uint8_t *p1 = (2 * tp + 1 < taps ? pi[2 * tp + 1] : pi[2 * tp]) + c0;
          acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(load_pair_full(p0, p1, is_signed),
                                                          _mm512_load_si512(wt)));
          acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(load_pair_full(p0 + 16, p1 + 16, is_signed),
                                                          _mm512_load_si512(wt + 32)));
        }
      } else {
        for (size_t tp = 0; tp < pairs; tp++, wt += 2 * CB) {
          const uint8_t *p0 = pi[2 * tp] + c0;
          const uint8_t *p1 = (2 * tp + 1 < taps ? pi[2 * tp + 1] : pi[2 * tp]) + c0;
          acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(load_pair(p0, p1, m0, is_signed),
                                                          _mm512_load_si512(wt)));
          if (n > 16)
            acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(load_pair(p0 + 16, p1 + 16, m1, is_signed),
                                                            _mm512_load_si512(wt + 32)));
        }
      }
      dyd_avx512_store16(acc0, mult, &e->rq[0], p, po, m0, fp32);
      if (n > 16) dyd_avx512_store16(acc1, mult + 16, &e->rq[1], p, po + 16, m1, fp32);
    }
  }
}

#define DEFINE_DW(name, taps_expr, fp32, is_signed)                                           \
  TARGET static void name(size_t pixels, size_t channels, size_t taps,                       \
                          const uint8_t *const *ind, const void *w, uint8_t *out,            \
                          size_t out_stride, const dyd_out_params *p) {                      \
    (void)taps;                                                                               \
    dw_body(pixels, channels, taps_expr, ind, w, out, out_stride, p, fp32, is_signed);       \
  }

/* dyd_q{u8,s8}_qc8w_dwconv_{dyadic,fp32}_ukernel_{3x3,5x5,up}c32__avx512vnni */
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
      .isa = DYD_ISA_AVX512VNNI, .kernel_h = kh, .kernel_w = kw, .cb = CB, .tap_round = 2, .tile = tile_name, \
      .pack = dyd_dw_pack_i16_pairs,                                                         \
      .ukernel = {{prefix##_dyadic_u8, prefix##_dyadic_s8}, {prefix##_fp32_u8, prefix##_fp32_s8}}, \
      .weight_bytes = 2, .extra_bytes = sizeof(extra_header), .pack_extra = pack_extra,       \
      .isa_suffix = "avx512vnni"};

BUNDLE(dyd_dw_bundle_avx512_3x3, 3, 3, "3x3c32", dw3x3)
BUNDLE(dyd_dw_bundle_avx512_5x5, 5, 5, "5x5c32", dw5x5)
BUNDLE(dyd_dw_bundle_avx512_up, 0, 0, "upc32", dwup)

#endif
