/*
 * Depthwise convolution for the AVX-512 VNNI level. VPDPBUSD multiplies four
 * uint8 activations by four int8 weights and adds the four products to an int32
 * lane, so each lane takes four taps of one channel at once: the 4 tap rows of
 * 64 channels are interleaved byte-wise (two rounds of unpacks, 8 shuffles for
 * 4 x 64 bytes) into four vectors of 16 channels x 4 taps, then 4 VPDPBUSD.
 * That is 3 instructions per 64 multiply-adds, against 8 for widening to int16
 * and VPMADDWD on tap pairs (the previous kernel), whose cost per output was
 * about 4x the memory traffic of a layer.
 *
 * Channel order: the unpacks leave channel 16l + 4j + i of a 64-channel block
 * in lane l, dword i of accumulator j. The weights are packed in that order, and
 * the saturating packs of the output stage (VPACKSSDW a,b; VPACKUSWB) happen to
 * undo it: the 64 output bytes come out in channel order with no permute. The
 * per-channel constants (bias, multipliers, shifts), stored in channel order,
 * are brought into accumulator order once per block and row by a 4x4 transpose
 * of 128-bit lanes (its own inverse), and so are the accumulators when the
 * general output stage (fp32, or shifts outside the fast stage) needs them.
 *
 * int8 activations are flipped to uint8 (xor 0x80) as they are loaded, the +128
 * being folded into the packed bias (flips_signed_input). Taps are padded to a
 * multiple of 4 with zero weights; a padding tap reads tap 0's row again. The
 * last block of a layer uses masked loads and stores, so no byte past `channels`
 * is touched.
 *
 * Stride and dilation need no kernel of their own: they only change the tap
 * pointers, which the op computes per output row (conv-op.c): per pixel at the
 * row's edges, and for the interior one set that the kernel steps along the
 * row (ind_stride 0, input_step = stride * pixel stride). Per output pixel the
 * kernel does the same work at stride 1 or 2. What a stride-1
 * kernel could share (input columns reused by neighbouring outputs) is loads,
 * and loads are not what limits this kernel; the shuffles and VPDPBUSD are.
 * So the kernels are specialised by window (3x3, 5x5: tap loop fully unrolled),
 * with a generic one for any other window.
 */
#if defined(__x86_64__)

#include "../x86/requant-avx512.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define TARGET DYD_AVX512_TARGET
#define INLINE DYD_AVX512_INLINE

#define CB 64
#define GROUP 4 /* taps per VPDPBUSD lane */

typedef struct {
  dyd_avx512_rq16 rq[CB / 16];
} extra_header;

static void pack_extra(const int32_t *mult, const int32_t *shift, int32_t zero_point,
                       void *out) {
  dyd_avx512_pack_rq(mult, shift, zero_point, CB, ((extra_header *)out)->rq);
}

/* Weights of one block: per group of 4 taps, 4 vectors of 64 bytes; channel c
 * sits at vector (c % 16) / 4, lane c / 16, dword c % 4, its 4 taps in order. */
static void pack_weights(const int8_t *w, size_t channels, size_t cb, size_t taps,
                         size_t taps_padded, void *out) {
  int8_t *dst = out;
  (void)taps_padded;
  for (size_t c = 0; c < channels; c++) {
    const size_t pos = (c % 16) / 4 * 64 + c / 16 * 16 + c % 4 * 4;
    for (size_t t = 0; t < taps; t++) dst[t / GROUP * cb * GROUP + pos + t % GROUP] = w[c * taps + t];
  }
}

/* Lane j of output k = lane k of input j: channel order <-> accumulator order. */
INLINE void transpose_lanes(__m512i *v0, __m512i *v1, __m512i *v2, __m512i *v3) {
  const __m512i t0 = _mm512_shuffle_i32x4(*v0, *v1, 0x44), t1 = _mm512_shuffle_i32x4(*v0, *v1, 0xEE);
  const __m512i t2 = _mm512_shuffle_i32x4(*v2, *v3, 0x44), t3 = _mm512_shuffle_i32x4(*v2, *v3, 0xEE);
  *v0 = _mm512_shuffle_i32x4(t0, t2, 0x88);
  *v1 = _mm512_shuffle_i32x4(t0, t2, 0xDD);
  *v2 = _mm512_shuffle_i32x4(t1, t3, 0x88);
  *v3 = _mm512_shuffle_i32x4(t1, t3, 0xDD);
}

/* Four vectors of channel-ordered int32 constants, in accumulator order. */
INLINE void load_transposed(const int32_t *src, __m512i v[4]) {
  for (int k = 0; k < 4; k++) v[k] = _mm512_loadu_si512(src + 16 * k);
  transpose_lanes(&v[0], &v[1], &v[2], &v[3]);
}

INLINE __m512i load_row(const uint8_t *p, __mmask64 mask, const int full, const int is_signed) {
  const __m512i x = full ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(mask, p);
  return is_signed ? _mm512_xor_si512(x, _mm512_set1_epi8((char)0x80)) : x;
}

/* One block of channels over a row of output pixels. `full`: all 64 channels
 * present; `fast`: the fast dyadic stage applies (see requant-avx512.h). */
INLINE void dw_block(size_t pixels, size_t c0, size_t n, const size_t taps,
                     const uint8_t *const *ind, size_t ind_stride, size_t input_step,
                     const uint8_t *blk, uint8_t *out,
                     size_t out_stride, const dyd_out_params *p, const int full, const int fast,
                     const int fp32, const int is_signed) {
  const size_t groups = DYD_DIV_UP(taps, GROUP);
  const int32_t *bias = (const int32_t *)blk, *mult = bias + CB;
  const extra_header *e = (const extra_header *)(mult + 2 * CB);
  const int8_t *wt = (const int8_t *)(e + 1);
  const __mmask64 mask = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
  __m512i b[4], m[4], mo[4], r[4], s[4];
  load_transposed(bias, b);
  if (fast) {
    int32_t tmp[2][CB];
    for (int k = 0; k < 4; k++) {
      _mm512_storeu_si512(tmp[0] + 16 * k, _mm512_load_si512(e->rq[k].round32));
      _mm512_storeu_si512(tmp[1] + 16 * k, _mm512_load_si512(e->rq[k].shift32));
    }
    load_transposed(mult, m);
    load_transposed(tmp[0], r);
    load_transposed(tmp[1], s);
    for (int k = 0; k < 4; k++) mo[k] = _mm512_srli_epi64(m[k], 32);
  }
  const uint8_t *const *pi = ind;
  uint8_t *po = out + c0;
  size_t off = c0; /* input offset of this pixel's channel block */
  for (size_t px = 0; px < pixels; px++, pi += ind_stride, off += input_step, po += out_stride) {
    __m512i acc0 = b[0], acc1 = b[1], acc2 = b[2], acc3 = b[3];
    const int8_t *wg = wt;
    for (size_t g = 0; g < groups; g++, wg += CB * GROUP) {
      const size_t t = g * GROUP;
      /* taps past the window (zero weights) read tap 0's row */
      const __m512i x0 = load_row(pi[t] + off, mask, full, is_signed);
      const __m512i x1 = load_row(pi[t + 1 < taps ? t + 1 : 0] + off, mask, full, is_signed);
      const __m512i x2 = load_row(pi[t + 2 < taps ? t + 2 : 0] + off, mask, full, is_signed);
      const __m512i x3 = load_row(pi[t + 3 < taps ? t + 3 : 0] + off, mask, full, is_signed);
      const __m512i lo01 = _mm512_unpacklo_epi8(x0, x1), hi01 = _mm512_unpackhi_epi8(x0, x1);
      const __m512i lo23 = _mm512_unpacklo_epi8(x2, x3), hi23 = _mm512_unpackhi_epi8(x2, x3);
      acc0 = _mm512_dpbusd_epi32(acc0, _mm512_unpacklo_epi16(lo01, lo23), _mm512_load_si512(wg));
      acc1 = _mm512_dpbusd_epi32(acc1, _mm512_unpackhi_epi16(lo01, lo23), _mm512_load_si512(wg + 64));
      acc2 = _mm512_dpbusd_epi32(acc2, _mm512_unpacklo_epi16(hi01, hi23), _mm512_load_si512(wg + 128));
      acc3 = _mm512_dpbusd_epi32(acc3, _mm512_unpackhi_epi16(hi01, hi23), _mm512_load_si512(wg + 192));
    }
    if (fast) {
      const __m512i y = dyd_avx512_pack4(dyd_avx512_dyadic_fast_v(acc0, m[0], mo[0], r[0], s[0]),
                                         dyd_avx512_dyadic_fast_v(acc1, m[1], mo[1], r[1], s[1]),
                                         dyd_avx512_dyadic_fast_v(acc2, m[2], mo[2], r[2], s[2]),
                                         dyd_avx512_dyadic_fast_v(acc3, m[3], mo[3], r[3], s[3]), p);
      if (full) {
        _mm512_storeu_si512(po, y);
      } else {
        _mm512_mask_storeu_epi8(po, mask, y);
      }
    } else {
      transpose_lanes(&acc0, &acc1, &acc2, &acc3);
      const __m512i a[4] = {acc0, acc1, acc2, acc3};
      for (size_t k = 0; k < 4 && 16 * k < n; k++)
        dyd_avx512_store16(a[k], mult + 16 * k, &e->rq[k], p, po + 16 * k,
                           dyd_avx512_mask16(n - 16 * k), fp32);
    }
  }
}

/* A block of at most 32 channels with the fast stage (the 32-channel layers of
 * mobile networks, and 32-channel tails): the same code on 256-bit vectors, half
 * the instructions of a 64-channel block. The packed layout is the 64-channel
 * one; its 128-bit lanes 0 and 1 hold channels 0-31, so every vector is the low
 * half of its 64-channel counterpart. */
INLINE __m256i load_row32(const uint8_t *p, __mmask32 mask, const int full, const int is_signed) {
  const __m256i x = full ? _mm256_loadu_si256((const __m256i *)p) : _mm256_maskz_loadu_epi8(mask, p);
  return is_signed ? _mm256_xor_si256(x, _mm256_set1_epi8((char)0x80)) : x;
}

INLINE __m256i fast32(__m256i acc, __m256i mult, __m256i mult_odd, __m256i round32, __m256i shift32) {
  const __m256i even = _mm256_mul_epi32(acc, mult);
  const __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), mult_odd);
  const __m256i hi = _mm256_permutex2var_epi32(even, _mm256_setr_epi32(1, 9, 3, 11, 5, 13, 7, 15), odd);
  return _mm256_srav_epi32(_mm256_add_epi32(hi, round32), shift32);
}

INLINE void dw_block32(size_t pixels, size_t c0, size_t n, const size_t taps,
                       const uint8_t *const *ind, size_t ind_stride, size_t input_step,
                       const uint8_t *blk, uint8_t *out,
                       size_t out_stride, const dyd_out_params *p, const int full,
                       const int is_signed) {
  const size_t groups = DYD_DIV_UP(taps, GROUP);
  const int32_t *bias = (const int32_t *)blk, *mult = bias + CB;
  const extra_header *e = (const extra_header *)(mult + 2 * CB);
  const int8_t *wt = (const int8_t *)(e + 1);
  const __mmask32 mask = dyd_avx512_mask32(n);
  __m512i bz[4], mz[4], rz[4], sz[4];
  int32_t tmp[2][CB];
  for (int k = 0; k < 4; k++) {
    _mm512_storeu_si512(tmp[0] + 16 * k, _mm512_load_si512(e->rq[k].round32));
    _mm512_storeu_si512(tmp[1] + 16 * k, _mm512_load_si512(e->rq[k].shift32));
  }
  load_transposed(bias, bz);
  load_transposed(mult, mz);
  load_transposed(tmp[0], rz);
  load_transposed(tmp[1], sz);
  __m256i b[4], m[4], mo[4], r[4], s[4];
  for (int k = 0; k < 4; k++) {
    b[k] = _mm512_castsi512_si256(bz[k]);
    m[k] = _mm512_castsi512_si256(mz[k]);
    mo[k] = _mm256_srli_epi64(m[k], 32);
    r[k] = _mm512_castsi512_si256(rz[k]);
    s[k] = _mm512_castsi512_si256(sz[k]);
  }
  const __m256i qmin = _mm256_set1_epi8((char)p->qmin), qmax = _mm256_set1_epi8((char)p->qmax);
  const uint8_t *const *pi = ind;
  uint8_t *po = out + c0;
  size_t off = c0; /* input offset of this pixel's channel block */
  for (size_t px = 0; px < pixels; px++, pi += ind_stride, off += input_step, po += out_stride) {
    __m256i acc0 = b[0], acc1 = b[1], acc2 = b[2], acc3 = b[3];
    const int8_t *wg = wt;
    for (size_t g = 0; g < groups; g++, wg += CB * GROUP) {
      const size_t t = g * GROUP;
      const __m256i x0 = load_row32(pi[t] + off, mask, full, is_signed);
      const __m256i x1 = load_row32(pi[t + 1 < taps ? t + 1 : 0] + off, mask, full, is_signed);
      const __m256i x2 = load_row32(pi[t + 2 < taps ? t + 2 : 0] + off, mask, full, is_signed);
      const __m256i x3 = load_row32(pi[t + 3 < taps ? t + 3 : 0] + off, mask, full, is_signed);
      const __m256i lo01 = _mm256_unpacklo_epi8(x0, x1), hi01 = _mm256_unpackhi_epi8(x0, x1);
      const __m256i lo23 = _mm256_unpacklo_epi8(x2, x3), hi23 = _mm256_unpackhi_epi8(x2, x3);
      acc0 = _mm256_dpbusd_epi32(acc0, _mm256_unpacklo_epi16(lo01, lo23), _mm256_load_si256((const __m256i *)wg));
      acc1 = _mm256_dpbusd_epi32(acc1, _mm256_unpackhi_epi16(lo01, lo23), _mm256_load_si256((const __m256i *)(wg + 64)));
      acc2 = _mm256_dpbusd_epi32(acc2, _mm256_unpacklo_epi16(hi01, hi23), _mm256_load_si256((const __m256i *)(wg + 128)));
      acc3 = _mm256_dpbusd_epi32(acc3, _mm256_unpackhi_epi16(hi01, hi23), _mm256_load_si256((const __m256i *)(wg + 192)));
    }
    const __m256i ab = _mm256_packs_epi32(fast32(acc0, m[0], mo[0], r[0], s[0]),
                                          fast32(acc1, m[1], mo[1], r[1], s[1]));
    const __m256i cd = _mm256_packs_epi32(fast32(acc2, m[2], mo[2], r[2], s[2]),
                                          fast32(acc3, m[3], mo[3], r[3], s[3]));
    __m256i y;
    if (p->qmin < 0) { /* int8 output (see dyd_avx512_pack4) */
      y = _mm256_min_epi8(_mm256_max_epi8(_mm256_packs_epi16(ab, cd), qmin), qmax);
    } else {
      y = _mm256_min_epu8(_mm256_max_epu8(_mm256_packus_epi16(ab, cd), qmin), qmax);
    }
    if (full) {
      _mm256_storeu_si256((__m256i *)po, y);
    } else {
      _mm256_mask_storeu_epi8(po, mask, y);
    }
  }
}

/* Channel blocks outside, pixels inside: a block's weights and constants stay in
 * registers or L1 across the whole output row. */
INLINE void dw_body(size_t pixels, size_t channels, const size_t taps,
                    const uint8_t *const *ind, size_t ind_stride, size_t input_step,
                    const void *w, uint8_t *out, size_t out_stride,
                    const dyd_out_params *p, const int fp32, const int is_signed) {
  const size_t block_bytes =
      dyd_dw_block_bytes(CB, sizeof(extra_header), DYD_ROUND_UP(taps, GROUP), 1);
  const uint8_t *blk = w;
  for (size_t c0 = 0; c0 < channels; c0 += CB, blk += block_bytes) {
    const size_t n = DYD_MIN((size_t)CB, channels - c0);
    const extra_header *e = (const extra_header *)(blk + DYD_PANEL_HEADER(CB));
    const int fast = !fp32 && dyd_avx512_rq_fast(&e->rq[0]);
    if (fast && n == 32) {
      dw_block32(pixels, c0, n, taps, ind, ind_stride, input_step, blk, out, out_stride, p, 1, is_signed);
    } else if (fast && n < 32) {
      dw_block32(pixels, c0, n, taps, ind, ind_stride, input_step, blk, out, out_stride, p, 0, is_signed);
    } else if (n == CB && fast) {
      dw_block(pixels, c0, n, taps, ind, ind_stride, input_step, blk, out, out_stride, p, 1, 1, 0, is_signed);
    } else if (fast) {
      dw_block(pixels, c0, n, taps, ind, ind_stride, input_step, blk, out, out_stride, p, 0, 1, 0, is_signed);
    } else {
      dw_block(pixels, c0, n, taps, ind, ind_stride, input_step, blk, out, out_stride, p, 0, 0, fp32, is_signed);
    }
  }
}

#define DEFINE_DW(name, taps_expr, fp32, is_signed)                                           \
  TARGET static void name(size_t pixels, size_t channels, size_t taps,                       \
                          const uint8_t *const *ind, size_t ind_stride, size_t input_step,   \
                          const void *w, uint8_t *out, size_t out_stride,                    \
                          const dyd_out_params *p) {                                         \
    (void)taps;                                                                               \
    dw_body(pixels, channels, taps_expr, ind, ind_stride, input_step, w, out, out_stride, p, \
            fp32, is_signed);                                                                 \
  }

/* dyd_q{u8,s8}_qc8w_dwconv_{dyadic,fp32}_ukernel_{3x3,5x5,up}c64__avx512vnni */
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
      .isa = DYD_ISA_AVX512VNNI, .kernel_h = kh, .kernel_w = kw, .cb = CB, .tap_round = GROUP, \
      .tile = tile_name, .pack = pack_weights,                                               \
      .ukernel = {{prefix##_dyadic_u8, prefix##_dyadic_s8}, {prefix##_fp32_u8, prefix##_fp32_s8}}, \
      .weight_bytes = 1, .extra_bytes = sizeof(extra_header), .pack_extra = pack_extra,       \
      .flips_signed_input = 1, .isa_suffix = "avx512vnni"};

BUNDLE(dyd_dw_bundle_avx512_3x3, 3, 3, "3x3c64", dw3x3)
BUNDLE(dyd_dw_bundle_avx512_5x5, 5, 5, "5x5c64", dw5x5)
BUNDLE(dyd_dw_bundle_avx512_up, 0, 0, "upc64", dwup)

#endif
