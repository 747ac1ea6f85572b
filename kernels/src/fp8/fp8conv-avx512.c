/*
 * FP8 kernels for AVX-512 without BF16: float32 FMA, weights decoded in registers.
 *
 * GEMM 8x2c32: per 32-element K block and column, one VPMOVZXBD of the column's
 * 16 bytes gives the low nibbles in the low 4 bits of 16 int32 lanes; VPERMPS
 * reads only those 4 bits, so it decodes 16 weights through the column's table
 * (16 floats, one zmm) with no masking, and a shift by 4 gives the high nibbles:
 * 4 instructions for 32 weights, against 32 FMAs for 8 rows x 2 columns. The 16
 * accumulators hold partial sums along K; a transpose-and-add tree reduces them
 * into one vector of the tile's 16 outputs for a vectorised epilogue.
 *
 * GEMM 8x32c2 (the pair layout of common.h; every op with at least
 * DYD_F8_PAIR_MIN_M rows, in both AVX-512 bundles): per tile, pdecode turns each
 * 32-column panel into float32 once, K-major (per K element 32 floats), and every
 * row block reuses it from L1/L2. The microkernel is then the classic 8x32 float
 * GEMM: per K element two panel loads and per row one broadcast activation (an
 * embedded-broadcast operand) into 16 accumulators (8 rows x 32 columns, lane j =
 * column j). No horizontal reduction, and the epilogue works on 16 outputs per
 * vector. K is padded only to pairs (per table group), so 16 input channels cost
 * 16 steps. Decode, per K pair and 16 columns: the 16 code bytes widened to dwords,
 * one shift/OR/ternary-logic that puts the low nibble in the low word, the high
 * nibble in the high word and 16 * (column mod 4) in both, then four masked VPERMI2W,
 * each over 64 bfloat16 entries (4 columns' tables, decoded from E4M3 when the
 * pair's table changes; a bfloat16 is the float's high half, exact for E4M3), and a
 * shift / an AND turn the 32 words into the float32 weights of elements 2p and 2p+1.
 * About 4 VPERMI2W per 32 weights, once per tile, against rows x 32 FMA lanes.
 *
 * Depthwise c64: input converted once per tile to float32 (e4m3 / 256, the shifted
 * float16 of fp8-x86.h widened; the weights carry the 256), so a tap is one FMA
 * with a memory operand per 16 channels; per 16 channels the 3x3 or 5x5 weights sit
 * in registers and 4 (3x3) or 2 (5x5) pixels advance together.
 */
#if defined(__x86_64__)

#include "fp8-x86.h"

#define TARGET DYD_F8_AVX512_TARGET
#define INLINE DYD_F8_INLINE
#define MR 8
#define NR 2

/* n codes -> floats e4m3 * k / 256 (the shifted float16 widened, times k), masked tail */
TARGET INLINE void convert_times(const uint8_t *codes, size_t n, float *d, float k) {
  const __m512 kv = _mm512_set1_ps(k);
  for (; n >= 16; n -= 16, codes += 16, d += 16)
    _mm512_storeu_ps(d, _mm512_mul_ps(_mm512_cvtph_ps(dyd_f8_h16_avx2(_mm_loadu_si128((const __m128i *)codes))), kv));
  if (n) {
    const __mmask16 m = (__mmask16)((1u << n) - 1);
    _mm512_mask_storeu_ps(d, m, _mm512_mul_ps(_mm512_cvtph_ps(dyd_f8_h16_avx2(_mm_maskz_loadu_epi8(m, codes))), kv));
  }
}

/* activations: the E4M3 values */
TARGET static void convert_f32(const uint8_t *codes, size_t n, void *dst) { convert_times(codes, n, dst, 256.0f); }

/* depthwise weights: e4m3 * 256 (the window below carries 1 / 256) */
TARGET static void convert_w(const uint8_t *codes, size_t n, void *dst) { convert_times(codes, n, dst, 65536.0f); }

/* the depthwise window: e4m3 / 256 */
TARGET static void convert_q(const uint8_t *codes, size_t n, void *dst) { convert_times(codes, n, dst, 1.0f); }

/* 16 vectors -> one vector of their 16 sums, lane i = sum of v[i] */
TARGET INLINE __m512 reduce16(const __m512 v[16]) {
  __m512 s[8], u[4], z[2];
  for (int i = 0; i < 8; i++) /* [A0+A2, A1+A3, B0+B2, B1+B3] in 128-bit blocks */
    s[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xEE));
  for (int j = 0; j < 4; j++) /* block b of u[j]: 4 partials of output 4j + b */
    u[j] = _mm512_add_ps(_mm512_shuffle_f32x4(s[2 * j], s[2 * j + 1], 0x88),
                         _mm512_shuffle_f32x4(s[2 * j], s[2 * j + 1], 0xDD));
  for (int k = 0; k < 2; k++)
    z[k] = _mm512_add_ps(_mm512_shuffle_ps(u[2 * k], u[2 * k + 1], 0x44),
                         _mm512_shuffle_ps(u[2 * k], u[2 * k + 1], 0xEE));
  /* lane 4b + i now holds output 4i + b: transpose back */
  const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(z[0], z[1], 0x88), _mm512_shuffle_ps(z[0], z[1], 0xDD));
  return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), r);
}

TARGET static void gemm_8x2(size_t mr, size_t nc, size_t kb, const void *a, size_t a_stride,
                            const uint8_t *w, const uint8_t *const *tables, const uint16_t *bt,
                            const float *scale, const float *bias, void *c, size_t c_stride,
                            const dyd_f8_out *p) {
  const float *ar[MR];
  _Pragma("GCC unroll 8") for (size_t i = 0; i < MR; i++) ar[i] = (const float *)((const uint8_t *)a + DYD_MIN(i, mr - 1) * a_stride);
  __m512 acc[MR * NR];
  _Pragma("GCC unroll 16") for (size_t i = 0; i < MR * NR; i++) acc[i] = _mm512_setzero_ps();
  int cur = bt ? bt[0] : 0;
  __m512 t0 = dyd_f8_decode16_avx512(_mm_loadu_si128((const __m128i *)(tables[0] + 16 * (size_t)cur)));
  __m512 t1 = dyd_f8_decode16_avx512(_mm_loadu_si128((const __m128i *)(tables[1] + 16 * (size_t)cur)));
  for (size_t b = 0; b < kb; b++, w += 32) {
    if (bt && bt[b] != cur) {
      cur = bt[b];
      t0 = dyd_f8_decode16_avx512(_mm_loadu_si128((const __m128i *)(tables[0] + 16 * (size_t)cur)));
      t1 = dyd_f8_decode16_avx512(_mm_loadu_si128((const __m128i *)(tables[1] + 16 * (size_t)cur)));
    }
    const __m512i i0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)w));
    const __m512i i1 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(w + 16)));
    const __m512 w0l = _mm512_permutexvar_ps(i0, t0), w0h = _mm512_permutexvar_ps(_mm512_srli_epi32(i0, 4), t0);
    const __m512 w1l = _mm512_permutexvar_ps(i1, t1), w1h = _mm512_permutexvar_ps(_mm512_srli_epi32(i1, 4), t1);
    _Pragma("GCC unroll 8") for (size_t r = 0; r < MR; r++) {
      const __m512 al = _mm512_loadu_ps(ar[r] + b * 32), ah = _mm512_loadu_ps(ar[r] + b * 32 + 16);
      acc[2 * r] = _mm512_fmadd_ps(ah, w0h, _mm512_fmadd_ps(al, w0l, acc[2 * r]));
      acc[2 * r + 1] = _mm512_fmadd_ps(ah, w1h, _mm512_fmadd_ps(al, w1l, acc[2 * r + 1]));
    }
  }
  /* lane v = output (row v / 2, column v % 2) */
  const __m512 sums = reduce16(acc);
  const size_t j1 = nc > 1 ? 1 : 0;
  const __m512 s = _mm512_broadcast_f32x2(_mm_unpacklo_ps(_mm_load_ss(scale), _mm_load_ss(scale + j1)));
  const __m512 bb = _mm512_broadcast_f32x2(_mm_unpacklo_ps(_mm_load_ss(bias), _mm_load_ss(bias + j1)));
  const __m512 v = dyd_f8_epilogue_avx512(sums, s, bb, p);
  uint8_t *o = c;
  if (p->output_fp8) {
    uint16_t codes[8];
    _mm_storeu_si128((__m128i *)codes, _mm512_cvtepi32_epi8(dyd_f8_encode_avx512(
                                           dyd_f8_div_avx512(v, _mm512_set1_ps(p->output_scale), _mm512_set1_ps(p->output_recip)))));
    for (size_t r = 0; r < mr; r++, o += c_stride) memcpy(o, &codes[r], nc == NR ? 2 : 1);
  } else {
    float out[16];
    _mm512_storeu_ps(out, v);
    for (size_t r = 0; r < mr; r++, o += c_stride)
      memcpy(o, out + 2 * r, nc == NR ? 2 * sizeof(float) : sizeof(float));
  }
}

/* Depthwise, one output row, channels [16 v, 16 v + 16), any window: weights from
 * memory, one pixel at a time */
TARGET static void dw_vec_any(size_t kh, size_t kw, size_t v, size_t pixels, size_t channels,
                              const uint8_t *in, size_t in_row, size_t in_col, size_t in_step,
                              const float *w, size_t cb, const float *scale, const float *bias,
                              uint8_t *out, size_t out_step, const dyd_f8_out *p) {
  const size_t c0 = 16 * v, n = DYD_MIN((size_t)16, channels - c0), ob = p->output_fp8 ? 1 : 4;
  const __mmask16 m = (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1);
  const __m512 s = _mm512_maskz_loadu_ps(m, scale + c0), b = _mm512_maskz_loadu_ps(m, bias + c0);
  for (size_t i = 0; i < pixels; i++) {
    const uint8_t *px = in + i * in_step + c0 * sizeof(float);
    __m512 acc = _mm512_setzero_ps();
    for (size_t ky = 0; ky < kh; ky++)
      for (size_t kx = 0; kx < kw; kx++)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps((const float *)(px + ky * in_row + kx * in_col)),
                              _mm512_loadu_ps(w + (ky * kw + kx) * cb + c0), acc);
    dyd_f8_store16_avx512(dyd_f8_epilogue_avx512(acc, s, b, p), p, out + i * out_step + c0 * ob, n);
  }
}

/* The same for 3x3 and 5x5: the taps' weights stay in registers (KH x KW known at
 * compile time) and P pixels advance together, each tap one FMA with its float32
 * input (e4m3 / 256) from memory. */
TARGET INLINE void dw_vec(size_t KH, size_t KW, size_t P, size_t v, size_t pixels, size_t channels,
                          const uint8_t *in, size_t in_row, size_t in_col, size_t in_step,
                          const float *w, size_t cb, const float *scale, const float *bias,
                          uint8_t *out, size_t out_step, const dyd_f8_out *p) {
  const size_t c0 = 16 * v, n = DYD_MIN((size_t)16, channels - c0), ob = p->output_fp8 ? 1 : 4;
  const __mmask16 m = (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1);
  const __m512 s = _mm512_maskz_loadu_ps(m, scale + c0), b = _mm512_maskz_loadu_ps(m, bias + c0);
  __m512 wt[25];
  _Pragma("GCC unroll 25") for (size_t t = 0; t < KH * KW; t++) wt[t] = _mm512_loadu_ps(w + t * cb + c0);
  const uint8_t *px = in + c0 * sizeof(float);
  uint8_t *o = out + c0 * ob;
  size_t i = 0;
  for (; i + P <= pixels; i += P, px += P * in_step, o += P * out_step) {
    __m512 acc[4];
    _Pragma("GCC unroll 4") for (size_t j = 0; j < P; j++) acc[j] = _mm512_setzero_ps();
    _Pragma("GCC unroll 5") for (size_t ky = 0; ky < KH; ky++)
      _Pragma("GCC unroll 5") for (size_t kx = 0; kx < KW; kx++)
        _Pragma("GCC unroll 4") for (size_t j = 0; j < P; j++)
          acc[j] = _mm512_fmadd_ps(_mm512_loadu_ps((const float *)(px + j * in_step + ky * in_row + kx * in_col)),
                                   wt[ky * KW + kx], acc[j]);
    _Pragma("GCC unroll 4") for (size_t j = 0; j < P; j++)
      dyd_f8_store16_avx512(dyd_f8_epilogue_avx512(acc[j], s, b, p), p, o + j * out_step, n);
  }
  if (i < pixels) /* the last pixels, fewer than P */
    dw_vec_any(KH, KW, v, pixels - i, channels, in + i * in_step, in_row, in_col,
               in_step, w, cb, scale, bias, out + i * out_step, out_step, p);
}

TARGET static void dw_c64(size_t pixels, size_t channels, size_t kh, size_t kw, const void *in,
                          size_t in_row, size_t in_col, size_t in_step, const float *w, size_t cb,
                          const float *scale, const float *bias, void *out, size_t out_step,
                          const dyd_f8_out *p) {
  for (size_t v = 0; v < DYD_DIV_UP(channels, 16); v++) {
    if (kh == 3 && kw == 3)
      dw_vec(3, 3, 4, v, pixels, channels, in, in_row, in_col, in_step, w, cb, scale, bias, out, out_step, p);
    else if (kh == 5 && kw == 5)
      dw_vec(5, 5, 2, v, pixels, channels, in, in_row, in_col, in_step, w, cb, scale, bias, out, out_step, p);
    else
      dw_vec_any(kh, kw, v, pixels, channels, in, in_row, in_col, in_step, w, cb, scale, bias, out, out_step, p);
  }
}

/* ---- the pair layout ---- */

/* 32 E4M3 codes -> 32 bfloat16 words (the floats' high halves: exact) */
TARGET INLINE __m512i bf16x32(const uint8_t *codes) {
  const __m512i lo = _mm512_srli_epi32(_mm512_castps_si512(dyd_f8_decode16_avx512(_mm_loadu_si128((const __m128i *)codes))), 16);
  const __m512i hi = _mm512_srli_epi32(_mm512_castps_si512(dyd_f8_decode16_avx512(_mm_loadu_si128((const __m128i *)(codes + 16)))), 16);
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(lo)), _mm512_cvtepi32_epi16(hi), 1);
}

TARGET static void pdecode(const uint8_t *w, const uint8_t *tables, const uint16_t *pt, size_t pairs,
                           size_t nc, float *dst) {
  const __m512i off = _mm512_setr_epi32(0, 0x100010, 0x200020, 0x300030, 0, 0x100010, 0x200020, 0x300030,
                                        0, 0x100010, 0x200020, 0x300030, 0, 0x100010, 0x200020, 0x300030);
  const __m512i nib = _mm512_set1_epi32(0x000F000F), hi16 = _mm512_set1_epi32((int)0xFFFF0000u);
  for (size_t h = 0; h < (nc > 16 ? 2u : 1u); h++) {
    size_t cur = pt ? pt[0] : 0;
    __m512i t[8];
    _Pragma("GCC unroll 8") for (size_t i = 0; i < 8; i++)
      t[i] = bf16x32(tables + (cur * DYD_F8_PNR + 16 * h) * 16 + 32 * i);
    for (size_t p = 0; p < pairs; p++) {
      if (pt && pt[p] != cur) {
        cur = pt[p];
        _Pragma("GCC unroll 8") for (size_t i = 0; i < 8; i++)
          t[i] = bf16x32(tables + (cur * DYD_F8_PNR + 16 * h) * 16 + 32 * i);
      }
      const __m512i d = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(w + p * DYD_F8_PNR + 16 * h)));
      const __m512i idx = _mm512_ternarylogic_epi32(_mm512_or_si512(d, _mm512_slli_epi32(d, 12)), nib, off, 0xEA);
      __m512i r = _mm512_mask2_permutex2var_epi16(t[0], idx, 0x000000FF, t[1]);
      r = _mm512_mask2_permutex2var_epi16(t[2], r, 0x0000FF00, t[3]);
      r = _mm512_mask2_permutex2var_epi16(t[4], r, 0x00FF0000, t[5]);
      r = _mm512_mask2_permutex2var_epi16(t[6], r, 0xFF000000, t[7]);
      float *o = dst + 2 * p * DYD_F8_PNR + 16 * h;
      _mm512_storeu_si512(o, _mm512_slli_epi32(r, 16));
      _mm512_storeu_si512(o + DYD_F8_PNR, _mm512_and_si512(r, hi16));
    }
  }
}

TARGET INLINE void pgemm_body(size_t mrc, size_t nv, size_t nc, size_t kk, const uint8_t *a,
                              size_t a_stride, const float *w, const float *scale, const float *bias,
                              uint8_t *c, size_t c_stride, const dyd_f8_out *p) {
  __m512 acc[8][2];
  _Pragma("GCC unroll 8") for (size_t r = 0; r < mrc; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  const float *ar[8];
  _Pragma("GCC unroll 8") for (size_t r = 0; r < mrc; r++) ar[r] = (const float *)(a + r * a_stride);
  for (size_t k = 0; k < kk; k++, w += DYD_F8_PNR) {
    const __m512 w0 = _mm512_loadu_ps(w);
    const __m512 w1 = nv > 1 ? _mm512_loadu_ps(w + 16) : w0;
    _Pragma("GCC unroll 8") for (size_t r = 0; r < mrc; r++) {
      const __m512 x = _mm512_set1_ps(ar[r][k]);
      acc[r][0] = _mm512_fmadd_ps(x, w0, acc[r][0]);
      if (nv > 1) acc[r][1] = _mm512_fmadd_ps(x, w1, acc[r][1]);
    }
  }
  const size_t ob = p->output_fp8 ? 1 : 4;
  _Pragma("GCC unroll 2") for (size_t v = 0; v < nv; v++) {
    const size_t n = DYD_MIN((size_t)16, nc - 16 * v);
    const __mmask16 m = (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1);
    const __m512 s = _mm512_maskz_loadu_ps(m, scale + 16 * v), b = _mm512_maskz_loadu_ps(m, bias + 16 * v);
    _Pragma("GCC unroll 8") for (size_t r = 0; r < mrc; r++)
      dyd_f8_store16_avx512(dyd_f8_epilogue_avx512(acc[r][v], s, b, p), p, c + r * c_stride + 16 * v * ob, n);
  }
}

TARGET static void pgemm_8x32(size_t mr, size_t nc, size_t pairs, const void *a, size_t a_stride,
                              const float *w, const float *scale, const float *bias, void *c,
                              size_t c_stride, const dyd_f8_out *p) {
#define PCASE(R)                                                                                 \
  case R:                                                                                        \
    if (nc > 16) pgemm_body(R, 2, nc, 2 * pairs, a, a_stride, w, scale, bias, c, c_stride, p);  \
    else pgemm_body(R, 1, nc, 2 * pairs, a, a_stride, w, scale, bias, c, c_stride, p);          \
    break;
  switch (mr) {
    PCASE(1) PCASE(2) PCASE(3) PCASE(4) PCASE(5) PCASE(6) PCASE(7)
    default: PCASE(8)
  }
#undef PCASE
}

/* The FP8 add of the header, 16 lanes at a time (the tail masked): the same float32
 * operations as the scalar form, the division as in fp8-x86.h. */
TARGET static void add16(const dyd_fp8_add_params *p, const uint8_t *a, size_t a_inc, const uint8_t *b,
                         size_t b_inc, uint8_t *y, size_t n) {
  const __m512 sa = _mm512_set1_ps(p->a_scale), sb = _mm512_set1_ps(p->b_scale);
  const __m512 lo = _mm512_set1_ps(p->out_min), hi = _mm512_set1_ps(p->out_max);
  const __m512 sy = _mm512_set1_ps(p->y_scale), ry = _mm512_set1_ps(1.0f / p->y_scale);
  const __m128i ab = _mm_set1_epi8((char)a[0]), bb = _mm_set1_epi8((char)b[0]);
  for (size_t i = 0; i < n; i += 16) {
    const size_t k = DYD_MIN((size_t)16, n - i);
    const __mmask16 m = (__mmask16)(k == 16 ? 0xFFFF : (1u << k) - 1);
    const __m128i ca = a_inc ? _mm_maskz_loadu_epi8(m, a + i) : ab;
    const __m128i cb = b_inc ? _mm_maskz_loadu_epi8(m, b + i) : bb;
    __m512 ta = _mm512_mul_ps(dyd_f8_decode16_avx512(ca), sa);
    __m512 tb = _mm512_mul_ps(dyd_f8_decode16_avx512(cb), sb);
    DYD_FP_BARRIER512(ta); /* two roundings, never an FMA */
    DYD_FP_BARRIER512(tb);
    const __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(ta, tb), lo), hi);
    _mm_mask_storeu_epi8(y + i, m, _mm512_cvtepi32_epi8(dyd_f8_encode_avx512(dyd_f8_div_avx512(v, sy, ry))));
  }
}

void dyd_f8_pdecode_avx512(const uint8_t *w, const uint8_t *tables, const uint16_t *pt, size_t pairs,
                           size_t nc, float *dst);
void dyd_f8_pgemm_8x32_avx512(size_t mr, size_t nc, size_t pairs, const void *a, size_t a_stride,
                              const float *w, const float *scale, const float *bias, void *c,
                              size_t c_stride, const dyd_f8_out *p);
void dyd_f8_convert_f32_avx512(const uint8_t *codes, size_t n, void *dst);
void dyd_f8_pdecode_avx512(const uint8_t *w, const uint8_t *tables, const uint16_t *pt, size_t pairs,
                           size_t nc, float *dst) {
  pdecode(w, tables, pt, pairs, nc, dst);
}
void dyd_f8_pgemm_8x32_avx512(size_t mr, size_t nc, size_t pairs, const void *a, size_t a_stride,
                              const float *w, const float *scale, const float *bias, void *c,
                              size_t c_stride, const dyd_f8_out *p) {
  pgemm_8x32(mr, nc, pairs, a, a_stride, w, scale, bias, c, c_stride, p);
}
void dyd_f8_convert_f32_avx512(const uint8_t *codes, size_t n, void *dst) { convert_f32(codes, n, dst); }

void dyd_f8_add_avx512(const dyd_fp8_add_params *p, const uint8_t *a, size_t a_inc, const uint8_t *b,
                       size_t b_inc, uint8_t *y, size_t n);
void dyd_f8_add_avx512(const dyd_fp8_add_params *p, const uint8_t *a, size_t a_inc, const uint8_t *b,
                       size_t b_inc, uint8_t *y, size_t n) {
  add16(p, a, a_inc, b, b_inc, y, n);
}
void dyd_f8_gavg_avx2(const dyd_fp8_avgpool_params *p, const uint8_t *x, uint8_t *y);
void dyd_f8_convert_q_avx512(const uint8_t *codes, size_t n, void *dst);
void dyd_f8_convert_w_avx512(const uint8_t *codes, size_t n, void *dst);
void dyd_f8_dw_c64_avx512(size_t pixels, size_t channels, size_t kh, size_t kw, const void *in,
                          size_t in_row, size_t in_col, size_t in_step, const float *w, size_t cb,
                          const float *scale, const float *bias, void *out, size_t out_step,
                          const dyd_f8_out *p);

/* shared with the BF16 bundle */
void dyd_f8_convert_q_avx512(const uint8_t *codes, size_t n, void *dst) { convert_q(codes, n, dst); }
void dyd_f8_convert_w_avx512(const uint8_t *codes, size_t n, void *dst) { convert_w(codes, n, dst); }
void dyd_f8_dw_c64_avx512(size_t pixels, size_t channels, size_t kh, size_t kw, const void *in,
                          size_t in_row, size_t in_col, size_t in_step, const float *w, size_t cb,
                          const float *scale, const float *bias, void *out, size_t out_step,
                          const dyd_f8_out *p) {
  dw_c64(pixels, channels, kh, kw, in, in_row, in_col, in_step, w, cb, scale, bias, out, out_step, p);
}

const dyd_f8_bundle dyd_f8_bundle_avx512f = {
    .isa_suffix = "avx512f",
    .mr = MR, .nr = NR, .a_bytes = 4, .convert = convert_f32, .gemm = gemm_8x2,
    .pdecode = pdecode, .pgemm = pgemm_8x32, .pmr = 8, .pa_bytes = 4, .pconvert = convert_f32,
    .dw_cb = 64, .dw_in_bytes = 4, .dw_w_mult = 256.0f, .dw_convert = convert_q,
    .dw_wconvert = convert_w, .dw = dw_c64,
    .add = add16, .gavg = dyd_f8_gavg_avx2,
    .add_name = "dyd_qf8_vadd_fp32_ukernel__avx512f",
    .gavg_name = "dyd_qf8_gavgpool_fp32_ukernel__avx2"};

#endif
