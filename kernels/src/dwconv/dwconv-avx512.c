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
 * row (ind_stride 0, input_step = stride * pixel stride). In such a run at
 * stride 1 the 3x3 and 5x5 kernels share the interleaves between pixels: their
 * taps are grouped by column (rows 0-2 of a column for 3x3; rows 0-3, and row 4
 * as runs of 4 columns, for 5x5), so one column's interleave serves every pixel
 * whose window covers it (column_pixels), and a pixel costs the interleaves of
 * its one new column instead of all of its taps. Blocks of at most 32 channels
 * run two pixels per 512-bit vector there. At stride 2 (two new columns per
 * pixel) this measured no faster than interleaving per pixel, which the edge
 * pixels, stride 2 and other windows do. Rows the op does not split (narrow
 * layers) are per pixel too: the column path over their short interior runs
 * measured slower.
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
                       const int64_t *acc_max, void *out) {
  dyd_avx512_pack_rq(mult, shift, zero_point, acc_max, CB, ((extra_header *)out)->rq);
}

/* Tap order. The 3x3 and 5x5 kernels group taps by column so that an output row
 * can reuse each column's interleave (see column_pixels): 3x3 group kx holds rows
 * 0-2 of column kx (and a padding tap); 5x5 groups 0-4 hold rows 0-3 of column kx,
 * group 5 row 4 columns 0-3, group 6 row 4 columns 1-4 with only column 4
 * weighted. src: the tap each slot reads; wt: the tap whose weight it holds, -1
 * for none. Other windows: taps in order, padding slots reading tap 0. */
static const int8_t order3_src[12] = {0, 3, 6, 0, 1, 4, 7, 1, 2, 5, 8, 2};
static const int8_t order3_wt[12] = {0, 3, 6, -1, 1, 4, 7, -1, 2, 5, 8, -1};
static const int8_t order5_src[28] = {0, 5, 10, 15, 1, 6, 11, 16, 2, 7, 12, 17, 3, 8,
                                      13, 18, 4, 9, 14, 19, 20, 21, 22, 23, 21, 22, 23, 24};
static const int8_t order5_wt[28] = {0, 5, 10, 15, 1, 6, 11, 16, 2, 7, 12, 17, 3, 8,
                                     13, 18, 4, 9, 14, 19, 20, 21, 22, 23, -1, -1, -1, 24};

/* Weights of one block: per group of 4 slots, 4 vectors of 64 bytes; channel c
 * sits at vector (c % 16) / 4, lane c / 16, dword c % 4, its 4 slots in order. */
static void pack_order(const int8_t *w, size_t channels, size_t cb, size_t taps, size_t slots,
                       const int8_t *order, void *out) {
  int8_t *dst = out;
  for (size_t c = 0; c < channels; c++) {
    const size_t pos = (c % 16) / 4 * 64 + c / 16 * 16 + c % 4 * 4;
    for (size_t j = 0; j < slots; j++) {
      const int t = order != NULL ? order[j] : (j < taps ? (int)j : -1);
      if (t >= 0) dst[j / GROUP * cb * GROUP + pos + j % GROUP] = w[c * taps + (size_t)t];
    }
  }
}

static void pack_weights(const int8_t *w, size_t channels, size_t cb, size_t taps,
                         size_t taps_padded, void *out) {
  pack_order(w, channels, cb, taps, taps_padded, NULL, out);
}

static void pack_weights3(const int8_t *w, size_t channels, size_t cb, size_t taps,
                          size_t taps_padded, void *out) {
  pack_order(w, channels, cb, taps, taps_padded, order3_wt, out);
}

static void pack_weights5(const int8_t *w, size_t channels, size_t cb, size_t taps,
                          size_t taps_padded, void *out) {
  pack_order(w, channels, cb, taps, taps_padded, order5_wt, out);
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

INLINE void interleave4(__m512i x0, __m512i x1, __m512i x2, __m512i x3, __m512i *v) {
  const __m512i lo01 = _mm512_unpacklo_epi8(x0, x1), hi01 = _mm512_unpackhi_epi8(x0, x1);
  const __m512i lo23 = _mm512_unpacklo_epi8(x2, x3), hi23 = _mm512_unpackhi_epi8(x2, x3);
  v[0] = _mm512_unpacklo_epi16(lo01, lo23);
  v[1] = _mm512_unpackhi_epi16(lo01, lo23);
  v[2] = _mm512_unpacklo_epi16(hi01, hi23);
  v[3] = _mm512_unpackhi_epi16(hi01, hi23);
}

/* Column geometry of an interior run (ind_stride 0): every row's taps one column
 * step apart (or all equal: a padding row on the zero buffer), the same step in
 * every row, and input_step 1 or 2 column steps. Returns that stride, 0 if not. */
static int column_geometry(const uint8_t *const *pi, size_t kh, size_t kw, size_t input_step,
                           ptrdiff_t *rstep) {
  ptrdiff_t col = 0;
  for (size_t ky = 0; ky < kh; ky++) {
    const uint8_t *const *row = pi + ky * kw;
    const ptrdiff_t d = row[1] - row[0];
    for (size_t kx = 2; kx < kw; kx++)
      if (row[kx] - row[0] != (ptrdiff_t)kx * d) return 0;
    if (d != 0) {
      if (col != 0 && d != col) return 0;
      col = d;
    }
    rstep[ky] = d;
  }
  if (col <= 0) return 0;
  if ((ptrdiff_t)input_step == col) return 1;
  if ((ptrdiff_t)input_step == 2 * col) return 2;
  return 0;
}

/* dyd_avx512_pack4 without the byte clamps a bound at the type's end makes
 * redundant (the saturating packs already clamp there): depthwise layers of mobile
 * networks usually clamp to the whole range (ReLU6 folded into the output scale),
 * and two of the output stage's ~29 instructions per pixel are then saved. */
INLINE __m512i pack4(__m512i a, __m512i b, __m512i c, __m512i d, const dyd_out_params *p) {
  const __m512i ab = _mm512_packs_epi32(a, b), cd = _mm512_packs_epi32(c, d);
  if (p->qmin < 0) {
    __m512i y = _mm512_packs_epi16(ab, cd);
    if (p->qmin > -128) y = _mm512_max_epi8(y, _mm512_set1_epi8((char)p->qmin));
    if (p->qmax < 127) y = _mm512_min_epi8(y, _mm512_set1_epi8((char)p->qmax));
    return y;
  }
  __m512i y = _mm512_packus_epi16(ab, cd);
  if (p->qmin > 0) y = _mm512_max_epu8(y, _mm512_set1_epi8((char)p->qmin));
  if (p->qmax < 255) y = _mm512_min_epu8(y, _mm512_set1_epi8((char)p->qmax));
  return y;
}

/* The fast stage's pre-shift (shifts below 33, see requant-avx512.h), k per channel. */
INLINE void preshift4(__m512i *a0, __m512i *a1, __m512i *a2, __m512i *a3, const __m512i *l) {
  *a0 = _mm512_sllv_epi32(*a0, l[0]);
  *a1 = _mm512_sllv_epi32(*a1, l[1]);
  *a2 = _mm512_sllv_epi32(*a2, l[2]);
  *a3 = _mm512_sllv_epi32(*a3, l[3]);
}

/* Output stage of one pixel of a block. */
INLINE void finish(__m512i acc0, __m512i acc1, __m512i acc2, __m512i acc3, const __m512i *m,
                   const __m512i *mo, const __m512i *r, const __m512i *s, const __m512i *l,
                   uint8_t *po, size_t n, __mmask64 mask, const int32_t *mult,
                   const extra_header *e, const dyd_out_params *p, const int full,
                   const int fast, const int pre, const int fp32) {
  if (fast) {
    if (pre) preshift4(&acc0, &acc1, &acc2, &acc3, l);
    const __m512i y = pack4(dyd_avx512_dyadic_fast_v(acc0, m[0], mo[0], r[0], s[0]),
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

#define RING 8 /* columns kept; >= the window width + 1, a power of two */

/* Rows of one column entry. Single: 64 channels of column c. Pair (blocks of at
 * most 32 channels): channels 0-31 of column c in lanes 0-1, of column c + stride
 * in lanes 2-3 (hi_mask 0 past the last pixel). */
INLINE __m512i load_entry(const uint8_t *q, ptrdiff_t hi_off, __mmask64 mask, __mmask32 hi_mask,
                          const int full, const int pair, const int is_signed) {
  if (!pair) return load_row(q, mask, full, is_signed);
  const __m512i x = _mm512_inserti64x4(_mm512_maskz_loadu_epi8(mask, q),
                                       _mm256_maskz_loadu_epi8(hi_mask, q + hi_off), 1);
  return is_signed ? _mm512_xor_si512(x, _mm512_set1_epi8((char)0x80)) : x;
}

/* A weight vector; in pair mode channels 0-31 (lanes 0-1) in lanes 2-3 too. */
INLINE __m512i load_w(const int pair, const int8_t *wg) {
  return pair ? _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)wg)) : _mm512_load_si512(wg);
}

/* A run of pixels whose taps form columns (3x3 or 5x5, stride 1 or 2 along the
 * row): each input column's rows are interleaved once, into a ring, and used by
 * every pixel whose window covers it, with the column's weight group. 5x5: rows
 * 0-3 per column, and row 4 as groups of 4 consecutive columns (P[c] = columns
 * c..c+3): a pixel at column b takes P[b] (weights of columns 0-3) and P[b+1]
 * (column 4's weight in its last slot). `pair` (at most 32 channels, fast stage):
 * two pixels per step, the second in lanes 2-3 of the same vectors, so the
 * interleaves, VPDPBUSD and output stage of a 64-channel block serve both. */
INLINE void column_pixels(size_t pixels, size_t c0, const size_t kh, const size_t kw,
                          const uint8_t *const *pi, const ptrdiff_t *rstep, const int stride,
                          const int8_t *wt, __mmask64 mask, const __m512i *b,
                          const __m512i *m, const __m512i *mo, const __m512i *r, const __m512i *s,
                          const __m512i *l, uint8_t *po, size_t out_stride, size_t n,
                          const int32_t *mult, const extra_header *e, const dyd_out_params *p,
                          const int full, const int fast, const int pre, const int fp32,
                          const int pair, const int is_signed) {
  __m512i ring[RING][4], ringp[RING][4];
  const uint8_t *rows[5];
  ptrdiff_t hi_off[5];
  for (size_t ky = 0; ky < kh; ky++) {
    rows[ky] = pi[ky * kw] + c0;
    hi_off[ky] = stride * rstep[ky];
  }
  const size_t step = pair ? 2 : 1;
  size_t next = 0, nextp = 0;
  for (size_t px = 0; px < pixels; px += step, po += step * out_stride) {
    const size_t bc = (size_t)stride * px;
    const __mmask32 hi_mask = pair && px + 1 < pixels ? (__mmask32)mask : 0;
    if (next < bc) next = bc;
    for (; next < bc + kw; next++) {
      const ptrdiff_t c = (ptrdiff_t)next;
      const __m512i x0 = load_entry(rows[0] + c * rstep[0], hi_off[0], mask, hi_mask, full, pair, is_signed);
      const __m512i x1 = load_entry(rows[1] + c * rstep[1], hi_off[1], mask, hi_mask, full, pair, is_signed);
      const __m512i x2 = load_entry(rows[2] + c * rstep[2], hi_off[2], mask, hi_mask, full, pair, is_signed);
      const __m512i x3 =
          kh == 3 ? x0 : load_entry(rows[3] + c * rstep[3], hi_off[3], mask, hi_mask, full, pair, is_signed);
      interleave4(x0, x1, x2, x3, ring[next % RING]);
    }
    if (kh == 5) {
      if (nextp < bc) nextp = bc;
      for (; nextp < bc + 2; nextp++) {
        const uint8_t *q = rows[4] + (ptrdiff_t)nextp * rstep[4];
        const ptrdiff_t d = rstep[4], h = hi_off[4];
        interleave4(load_entry(q, h, mask, hi_mask, full, pair, is_signed),
                    load_entry(q + d, h, mask, hi_mask, full, pair, is_signed),
                    load_entry(q + 2 * d, h, mask, hi_mask, full, pair, is_signed),
                    load_entry(q + 3 * d, h, mask, hi_mask, full, pair, is_signed), ringp[nextp % RING]);
      }
    }
    __m512i acc0 = b[0], acc1 = b[1], acc2 = b[2], acc3 = b[3];
    const int8_t *wg = wt;
    _Pragma("GCC unroll 8")
    for (size_t kx = 0; kx < kw; kx++, wg += CB * GROUP) {
      const __m512i *v = ring[(bc + kx) % RING];
      acc0 = _mm512_dpbusd_epi32(acc0, v[0], load_w(pair, wg));
      acc1 = _mm512_dpbusd_epi32(acc1, v[1], load_w(pair, wg + 64));
      acc2 = _mm512_dpbusd_epi32(acc2, v[2], load_w(pair, wg + 128));
      acc3 = _mm512_dpbusd_epi32(acc3, v[3], load_w(pair, wg + 192));
    }
    if (kh == 5) {
      _Pragma("GCC unroll 8")
      for (size_t k = 0; k < 2; k++, wg += CB * GROUP) {
        const __m512i *v = ringp[(bc + k) % RING];
        acc0 = _mm512_dpbusd_epi32(acc0, v[0], load_w(pair, wg));
        acc1 = _mm512_dpbusd_epi32(acc1, v[1], load_w(pair, wg + 64));
        acc2 = _mm512_dpbusd_epi32(acc2, v[2], load_w(pair, wg + 128));
        acc3 = _mm512_dpbusd_epi32(acc3, v[3], load_w(pair, wg + 192));
      }
    }
    if (pair) {
      if (pre) preshift4(&acc0, &acc1, &acc2, &acc3, l);
      const __m512i y = pack4(dyd_avx512_dyadic_fast_v(acc0, m[0], mo[0], r[0], s[0]),
                                         dyd_avx512_dyadic_fast_v(acc1, m[1], mo[1], r[1], s[1]),
                                         dyd_avx512_dyadic_fast_v(acc2, m[2], mo[2], r[2], s[2]),
                                         dyd_avx512_dyadic_fast_v(acc3, m[3], mo[3], r[3], s[3]), p);
      _mm256_mask_storeu_epi8(po, (__mmask32)mask, _mm512_castsi512_si256(y));
      if (hi_mask) _mm256_mask_storeu_epi8(po + out_stride, hi_mask, _mm512_extracti64x4_epi64(y, 1));
    } else {
      finish(acc0, acc1, acc2, acc3, m, mo, r, s, l, po, n, mask, mult, e, p, full, fast, pre, fp32);
    }
  }
}

/* One block of channels over a row of output pixels. `full`: all 64 channels
 * present; `fast`: the fast dyadic stage applies (see requant-avx512.h). kh, kw:
 * the window of the 3x3 / 5x5 kernels (taps in column order), 0 for any other. */
INLINE void dw_block(size_t pixels, size_t c0, size_t n, const size_t taps, const size_t kh,
                     const size_t kw, const uint8_t *const *ind, size_t ind_stride,
                     size_t input_step, const uint8_t *blk, const int8_t *wt, uint8_t *out,
                     size_t out_stride, const dyd_out_params *pp, const int full, const int fast,
                     const int pre, const int fp32, const int is_signed) {
  /* a local copy: stores through `out` could alias *pp, forcing reloads per pixel */
  const dyd_out_params pl = *pp, *p = &pl;
  const size_t slots = kw == 5 ? 28 : DYD_ROUND_UP(taps, GROUP);
  const int8_t *src = kw == 3 ? order3_src : kw == 5 ? order5_src : NULL;
  const int32_t *bias = (const int32_t *)blk, *mult = bias + CB;
  const extra_header *e = (const extra_header *)(mult + 2 * CB);
  const __mmask64 mask = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
  __m512i b[4], m[4], mo[4], r[4], s[4], l[4];
  load_transposed(bias, b);
  if (fast) {
    int32_t tmp[3][CB];
    for (int k = 0; k < 4; k++) {
      _mm512_storeu_si512(tmp[0] + 16 * k, _mm512_load_si512(e->rq[k].round32));
      _mm512_storeu_si512(tmp[1] + 16 * k, _mm512_load_si512(e->rq[k].shift32));
      if (pre) _mm512_storeu_si512(tmp[2] + 16 * k, _mm512_load_si512(e->rq[k].lshift));
    }
    load_transposed(mult, m);
    load_transposed(tmp[0], r);
    load_transposed(tmp[1], s);
    if (pre) load_transposed(tmp[2], l);
    for (int k = 0; k < 4; k++) mo[k] = _mm512_srli_epi64(m[k], 32);
  }
  if (kw != 0 && ind_stride == 0) {
    ptrdiff_t rstep[5];
    /* stride 2 measured no faster than per pixel: 2 new columns per pixel */
    const int stride = column_geometry(ind, kh, kw, input_step, rstep);
    if (stride == 1) {
      if (fast && n <= 32) {
        /* constants of channels 0-31 in lanes 2-3 too, for the second pixel */
        for (int k = 0; k < 4; k++) {
          b[k] = _mm512_shuffle_i64x2(b[k], b[k], 0x44);
          m[k] = _mm512_shuffle_i64x2(m[k], m[k], 0x44);
          mo[k] = _mm512_shuffle_i64x2(mo[k], mo[k], 0x44);
          r[k] = _mm512_shuffle_i64x2(r[k], r[k], 0x44);
          s[k] = _mm512_shuffle_i64x2(s[k], s[k], 0x44);
          if (pre) l[k] = _mm512_shuffle_i64x2(l[k], l[k], 0x44);
        }
        column_pixels(pixels, c0, kh, kw, ind, rstep, stride, wt, mask, b, m, mo, r, s, l,
                      out + c0, out_stride, n, mult, e, p, 0, 1, pre, 0, 1, is_signed);
      } else {
        column_pixels(pixels, c0, kh, kw, ind, rstep, stride, wt, mask, b, m, mo, r, s, l,
                      out + c0, out_stride, n, mult, e, p, full, fast, pre, fp32, 0, is_signed);
      }
      return;
    }
  }
  const uint8_t *const *pi = ind;
  uint8_t *po = out + c0;
  size_t off = c0; /* input offset of this pixel's channel block */
  for (size_t px = 0; px < pixels; px++, pi += ind_stride, off += input_step, po += out_stride) {
    __m512i acc0 = b[0], acc1 = b[1], acc2 = b[2], acc3 = b[3];
    const int8_t *wg = wt;
    _Pragma("GCC unroll 8")
    for (size_t t = 0; t < slots; t += GROUP, wg += CB * GROUP) {
      /* padding slots read a tap of the window (zero weights) */
      const size_t t0 = src ? (size_t)src[t] : t;
      const size_t t1 = src ? (size_t)src[t + 1] : (t + 1 < taps ? t + 1 : 0);
      const size_t t2 = src ? (size_t)src[t + 2] : (t + 2 < taps ? t + 2 : 0);
      const size_t t3 = src ? (size_t)src[t + 3] : (t + 3 < taps ? t + 3 : 0);
      __m512i v[4];
      interleave4(load_row(pi[t0] + off, mask, full, is_signed),
                  load_row(pi[t1] + off, mask, full, is_signed),
                  load_row(pi[t2] + off, mask, full, is_signed),
                  load_row(pi[t3] + off, mask, full, is_signed), v);
      acc0 = _mm512_dpbusd_epi32(acc0, v[0], _mm512_load_si512(wg));
      acc1 = _mm512_dpbusd_epi32(acc1, v[1], _mm512_load_si512(wg + 64));
      acc2 = _mm512_dpbusd_epi32(acc2, v[2], _mm512_load_si512(wg + 128));
      acc3 = _mm512_dpbusd_epi32(acc3, v[3], _mm512_load_si512(wg + 192));
    }
    finish(acc0, acc1, acc2, acc3, m, mo, r, s, l, po, n, mask, mult, e, p, full, fast, pre, fp32);
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

INLINE void dw_block32(size_t pixels, size_t c0, size_t n, const size_t taps, const size_t kw,
                       const uint8_t *const *ind, size_t ind_stride, size_t input_step,
                       const uint8_t *blk, const int8_t *wt, uint8_t *out,
                       size_t out_stride, const dyd_out_params *pp, const int full,
                       const int pre, const int is_signed) {
  const dyd_out_params pl = *pp, *p = &pl; /* as in dw_block */
  const size_t slots = kw == 5 ? 28 : DYD_ROUND_UP(taps, GROUP);
  const int8_t *src = kw == 3 ? order3_src : kw == 5 ? order5_src : NULL;
  const int32_t *bias = (const int32_t *)blk, *mult = bias + CB;
  const extra_header *e = (const extra_header *)(mult + 2 * CB);
  const __mmask32 mask = dyd_avx512_mask32(n);
  __m512i bz[4], mz[4], rz[4], sz[4], lz[4];
  int32_t tmp[3][CB];
  for (int k = 0; k < 4; k++) {
    _mm512_storeu_si512(tmp[0] + 16 * k, _mm512_load_si512(e->rq[k].round32));
    _mm512_storeu_si512(tmp[1] + 16 * k, _mm512_load_si512(e->rq[k].shift32));
    if (pre) _mm512_storeu_si512(tmp[2] + 16 * k, _mm512_load_si512(e->rq[k].lshift));
  }
  load_transposed(bias, bz);
  load_transposed(mult, mz);
  load_transposed(tmp[0], rz);
  load_transposed(tmp[1], sz);
  if (pre) load_transposed(tmp[2], lz);
  __m256i b[4], m[4], mo[4], r[4], s[4], l[4];
  for (int k = 0; k < 4; k++) {
    b[k] = _mm512_castsi512_si256(bz[k]);
    m[k] = _mm512_castsi512_si256(mz[k]);
    mo[k] = _mm256_srli_epi64(m[k], 32);
    r[k] = _mm512_castsi512_si256(rz[k]);
    s[k] = _mm512_castsi512_si256(sz[k]);
    l[k] = pre ? _mm512_castsi512_si256(lz[k]) : _mm256_setzero_si256();
  }
  const __m256i qmin = _mm256_set1_epi8((char)p->qmin), qmax = _mm256_set1_epi8((char)p->qmax);
  const uint8_t *const *pi = ind;
  uint8_t *po = out + c0;
  size_t off = c0; /* input offset of this pixel's channel block */
  for (size_t px = 0; px < pixels; px++, pi += ind_stride, off += input_step, po += out_stride) {
    __m256i acc0 = b[0], acc1 = b[1], acc2 = b[2], acc3 = b[3];
    const int8_t *wg = wt;
    _Pragma("GCC unroll 8")
    for (size_t t = 0; t < slots; t += GROUP, wg += CB * GROUP) {
      const size_t t0 = src ? (size_t)src[t] : t;
      const size_t t1 = src ? (size_t)src[t + 1] : (t + 1 < taps ? t + 1 : 0);
      const size_t t2 = src ? (size_t)src[t + 2] : (t + 2 < taps ? t + 2 : 0);
      const size_t t3 = src ? (size_t)src[t + 3] : (t + 3 < taps ? t + 3 : 0);
      const __m256i x0 = load_row32(pi[t0] + off, mask, full, is_signed);
      const __m256i x1 = load_row32(pi[t1] + off, mask, full, is_signed);
      const __m256i x2 = load_row32(pi[t2] + off, mask, full, is_signed);
      const __m256i x3 = load_row32(pi[t3] + off, mask, full, is_signed);
      const __m256i lo01 = _mm256_unpacklo_epi8(x0, x1), hi01 = _mm256_unpackhi_epi8(x0, x1);
      const __m256i lo23 = _mm256_unpacklo_epi8(x2, x3), hi23 = _mm256_unpackhi_epi8(x2, x3);
      acc0 = _mm256_dpbusd_epi32(acc0, _mm256_unpacklo_epi16(lo01, lo23), _mm256_load_si256((const __m256i *)wg));
      acc1 = _mm256_dpbusd_epi32(acc1, _mm256_unpackhi_epi16(lo01, lo23), _mm256_load_si256((const __m256i *)(wg + 64)));
      acc2 = _mm256_dpbusd_epi32(acc2, _mm256_unpacklo_epi16(hi01, hi23), _mm256_load_si256((const __m256i *)(wg + 128)));
      acc3 = _mm256_dpbusd_epi32(acc3, _mm256_unpackhi_epi16(hi01, hi23), _mm256_load_si256((const __m256i *)(wg + 192)));
    }
    if (pre) {
      acc0 = _mm256_sllv_epi32(acc0, l[0]);
      acc1 = _mm256_sllv_epi32(acc1, l[1]);
      acc2 = _mm256_sllv_epi32(acc2, l[2]);
      acc3 = _mm256_sllv_epi32(acc3, l[3]);
    }
    const __m256i ab = _mm256_packs_epi32(fast32(acc0, m[0], mo[0], r[0], s[0]),
                                          fast32(acc1, m[1], mo[1], r[1], s[1]));
    const __m256i cd = _mm256_packs_epi32(fast32(acc2, m[2], mo[2], r[2], s[2]),
                                          fast32(acc3, m[3], mo[3], r[3], s[3]));
    __m256i y;
    if (p->qmin < 0) { /* int8 output (see pack4) */
      y = _mm256_packs_epi16(ab, cd);
      if (p->qmin > -128) y = _mm256_max_epi8(y, qmin);
      if (p->qmax < 127) y = _mm256_min_epi8(y, qmax);
    } else {
      y = _mm256_packus_epi16(ab, cd);
      if (p->qmin > 0) y = _mm256_max_epu8(y, qmin);
      if (p->qmax < 255) y = _mm256_min_epu8(y, qmax);
    }
    if (full) {
      _mm256_storeu_si256((__m256i *)po, y);
    } else {
      _mm256_mask_storeu_epi8(po, mask, y);
    }
  }
}

/* Low-bit blocks (dyd_dw_pack_bits, 64-byte chunks): weight vector k of the int8
 * layout is bits [s, s + bits) of the bytes of stored vector k / per, s = (k % per)
 * * bits, two's complement: ((v >> s) & mask) ^ half) - half, three instructions
 * per vector, once per block and call. */
INLINE void unpack_block(const uint8_t *src, size_t vectors, const unsigned bits, int8_t *dst) {
  const size_t per = 8 / bits; /* a constant: callers pass 4 or 2 literally */
  const __m512i mask = _mm512_set1_epi8((char)((1 << bits) - 1));
  const __m512i half = _mm512_set1_epi8((char)(1 << (bits - 1)));
  for (size_t k = 0; k < vectors; k += per, src += 64) { /* vectors: 4 per slot group */
    const __m512i v = _mm512_load_si512(src);
    for (size_t j = 0; j < per; j++) {
      const __m512i t = _mm512_ternarylogic_epi32(_mm512_srli_epi16(v, j * bits), mask, half, 0x6A);
      _mm512_store_si512(dst + 64 * (k + j), _mm512_sub_epi8(t, half)); /* (v & mask) ^ half - half */
    }
  }
}

/* Channel blocks outside, pixels inside: a block's weights and constants stay in
 * registers or L1 across the whole output row. bits: 8, or 4 / 2 for low-bit
 * blocks, unpacked into `stage` first. */
INLINE void dw_body(size_t pixels, size_t channels, const size_t taps, const size_t win,
                    const uint8_t *const *ind, size_t ind_stride, size_t input_step,
                    const void *w, uint8_t *out, size_t out_stride,
                    const dyd_out_params *p, const int fp32, const int is_signed, unsigned bits,
                    int8_t *stage) {
  const size_t slots = DYD_ROUND_UP(taps, GROUP);
  const size_t block_bytes =
      bits == 8 ? dyd_dw_block_bytes(CB, sizeof(extra_header), slots, 1)
                : dyd_dw_lowbit_block_bytes(CB, sizeof(extra_header), slots, 64, bits);
  ptrdiff_t rstep[5];
  /* column runs take 32-channel blocks on 512-bit vectors too */
  const int cols = win != 0 && ind_stride == 0 && column_geometry(ind, win, win, input_step, rstep) == 1;
  const uint8_t *blk = w;
  for (size_t c0 = 0; c0 < channels; c0 += CB, blk += block_bytes) {
    const size_t n = DYD_MIN((size_t)CB, channels - c0);
    const extra_header *e = (const extra_header *)(blk + DYD_PANEL_HEADER(CB));
    const int8_t *wt = (const int8_t *)(e + 1);
    if (bits != 8) {
      if (bits == 4) {
        unpack_block((const uint8_t *)wt, slots, 4, stage);
      } else {
        unpack_block((const uint8_t *)wt, slots, 2, stage);
      }
      wt = stage;
    }
    const int fast = !fp32 && dyd_avx512_rq_fast(&e->rq[0]);
    const int pre = fast && dyd_avx512_rq_preshift(&e->rq[0]); /* a separate copy: int8 models rarely need it */
    if (fast && n <= 32 && !cols) {
      if (pre && n == 32) {
        dw_block32(pixels, c0, n, taps, win, ind, ind_stride, input_step, blk, wt, out, out_stride, p, 1, 1, is_signed);
      } else if (pre) {
        dw_block32(pixels, c0, n, taps, win, ind, ind_stride, input_step, blk, wt, out, out_stride, p, 0, 1, is_signed);
      } else if (n == 32) {
        dw_block32(pixels, c0, n, taps, win, ind, ind_stride, input_step, blk, wt, out, out_stride, p, 1, 0, is_signed);
      } else {
        dw_block32(pixels, c0, n, taps, win, ind, ind_stride, input_step, blk, wt, out, out_stride, p, 0, 0, is_signed);
      }
    } else if (fast) {
      if (pre && n == CB) {
        dw_block(pixels, c0, n, taps, win, win, ind, ind_stride, input_step, blk, wt, out, out_stride, p, 1, 1, 1, 0, is_signed);
      } else if (pre) {
        dw_block(pixels, c0, n, taps, win, win, ind, ind_stride, input_step, blk, wt, out, out_stride, p, 0, 1, 1, 0, is_signed);
      } else if (n == CB) {
        dw_block(pixels, c0, n, taps, win, win, ind, ind_stride, input_step, blk, wt, out, out_stride, p, 1, 1, 0, 0, is_signed);
      } else {
        dw_block(pixels, c0, n, taps, win, win, ind, ind_stride, input_step, blk, wt, out, out_stride, p, 0, 1, 0, 0, is_signed);
      }
    } else {
      dw_block(pixels, c0, n, taps, win, win, ind, ind_stride, input_step, blk, wt, out, out_stride, p, 0, 0, 0, fp32, is_signed);
    }
  }
}

/* name: int8 weights; name_w4, name_w2: low-bit blocks, through one function whose
 * only difference is the unpack before each block. */
#define DEFINE_DW(name, taps_expr, win, fp32, is_signed)                                      \
  TARGET __attribute__((noinline)) static void name##_bits(                                  \
      size_t pixels, size_t channels, size_t taps, const uint8_t *const *ind,                \
      size_t ind_stride, size_t input_step, const void *w, uint8_t *out, size_t out_stride,   \
      const dyd_out_params *p, unsigned bits) {                                               \
    _Alignas(64) int8_t stage[DYD_DW_STAGE_BYTES];                                            \
    (void)taps;                                                                               \
    dw_body(pixels, channels, taps_expr, win, ind, ind_stride, input_step, w, out, out_stride, \
            p, fp32, is_signed, bits, stage);                                                 \
  }                                                                                           \
  TARGET static void name(size_t pixels, size_t channels, size_t taps,                       \
                          const uint8_t *const *ind, size_t ind_stride, size_t input_step,   \
                          const void *w, uint8_t *out, size_t out_stride,                    \
                          const dyd_out_params *p) {                                         \
    (void)taps;                                                                               \
    dw_body(pixels, channels, taps_expr, win, ind, ind_stride, input_step, w, out, out_stride, \
            p, fp32, is_signed, 8, NULL);                                                     \
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

/* dyd_q{u8,s8}_qc{8,4,2}w_dwconv_{dyadic,fp32}_ukernel_{3x3,5x5,up}c64__avx512vnni */
DEFINE_DW(dw3x3_dyadic_u8, 9, 3, 0, 0)
DEFINE_DW(dw3x3_dyadic_s8, 9, 3, 0, 1)
DEFINE_DW(dw3x3_fp32_u8, 9, 3, 1, 0)
DEFINE_DW(dw3x3_fp32_s8, 9, 3, 1, 1)
DEFINE_DW(dw5x5_dyadic_u8, 25, 5, 0, 0)
DEFINE_DW(dw5x5_dyadic_s8, 25, 5, 0, 1)
DEFINE_DW(dw5x5_fp32_u8, 25, 5, 1, 0)
DEFINE_DW(dw5x5_fp32_s8, 25, 5, 1, 1)
DEFINE_DW(dwup_dyadic_u8, taps, 0, 0, 0)
DEFINE_DW(dwup_dyadic_s8, taps, 0, 0, 1)
DEFINE_DW(dwup_fp32_u8, taps, 0, 1, 0)
DEFINE_DW(dwup_fp32_s8, taps, 0, 1, 1)

#define BUNDLE(name, kh, kw, tile_name, prefix, packer)                                                \
  const dyd_dw_bundle name = {                                                               \
      .kernel_h = kh, .kernel_w = kw, .cb = CB, .tap_round = GROUP, \
      .tile = tile_name, .pack = packer,                                               \
      .ukernel = {{prefix##_dyadic_u8, prefix##_dyadic_s8}, {prefix##_fp32_u8, prefix##_fp32_s8}}, \
      .weight_bytes = 1, .extra_bytes = sizeof(extra_header), .pack_extra = pack_extra,       \
      .flips_signed_input = 1, .isa_suffix = "avx512vnni", .pack_i8 = packer, .chunk = 64,    \
      .ukernel_lowbit = {{{prefix##_dyadic_u8_w4, prefix##_dyadic_s8_w4},                     \
                          {prefix##_fp32_u8_w4, prefix##_fp32_s8_w4}},                        \
                         {{prefix##_dyadic_u8_w2, prefix##_dyadic_s8_w2},                     \
                          {prefix##_fp32_u8_w2, prefix##_fp32_s8_w2}}}};

BUNDLE(dyd_dw_bundle_avx512_3x3, 3, 3, "3x3c64", dw3x3, pack_weights3)
BUNDLE(dyd_dw_bundle_avx512_5x5, 5, 5, "5x5c64", dw5x5, pack_weights5)
BUNDLE(dyd_dw_bundle_avx512_up, 0, 0, "upc64", dwup, pack_weights)

#endif
