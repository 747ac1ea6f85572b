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
 * Depthwise c64: input converted once per tile to the shifted float16 bits (see
 * fp8-x86.h), so a tap is one VCVTPH2PS and one FMA per 16 channels; weights are
 * decoded per tile with the 256 folded in.
 */
#if defined(__x86_64__)

#include "fp8-x86.h"

#define TARGET DYD_F8_AVX512_TARGET
#define INLINE DYD_F8_INLINE
#define MR 8
#define NR 2

TARGET static void convert_f32(const uint8_t *codes, size_t n, void *dst) {
  float *d = dst;
  for (; n >= 16; n -= 16, codes += 16, d += 16)
    _mm512_storeu_ps(d, dyd_f8_decode16_avx512(_mm_loadu_si128((const __m128i *)codes)));
  if (n) {
    const __mmask16 m = (__mmask16)((1u << n) - 1);
    _mm512_mask_storeu_ps(d, m, dyd_f8_decode16_avx512(_mm_maskz_loadu_epi8(m, codes)));
  }
}

/* shifted float16 bits for the depthwise buffer */
TARGET static void convert_h(const uint8_t *codes, size_t n, void *dst) {
  uint16_t *d = dst;
  for (; n >= 16; n -= 16, codes += 16, d += 16)
    _mm256_storeu_si256((__m256i *)d, dyd_f8_h16_avx2(_mm_loadu_si128((const __m128i *)codes)));
  if (n) {
    const __mmask16 m = (__mmask16)((1u << n) - 1);
    _mm256_mask_storeu_epi16(d, m, dyd_f8_h16_avx2(_mm_maskz_loadu_epi8(m, codes)));
  }
}

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
                                           _mm512_div_ps(v, _mm512_set1_ps(p->output_scale)))));
    for (size_t r = 0; r < mr; r++, o += c_stride) memcpy(o, &codes[r], nc == NR ? 2 : 1);
  } else {
    float out[16];
    _mm512_storeu_ps(out, v);
    for (size_t r = 0; r < mr; r++, o += c_stride)
      memcpy(o, out + 2 * r, nc == NR ? 2 * sizeof(float) : sizeof(float));
  }
}

/* NV vectors of 16 channels for one output pixel */
TARGET INLINE void dw_pixel(size_t nv, size_t channels, size_t kh, size_t kw, const uint8_t *px,
                            size_t in_row, size_t in_col, const float *w, size_t cb,
                            const float *scale, const float *bias, uint8_t *out, const dyd_f8_out *p) {
  __m512 acc[4];
  _Pragma("GCC unroll 4") for (size_t v = 0; v < nv; v++) acc[v] = _mm512_setzero_ps();
  for (size_t ky = 0; ky < kh; ky++)
    for (size_t kx = 0; kx < kw; kx++) {
      const uint16_t *x = (const uint16_t *)(px + ky * in_row + kx * in_col);
      const float *wt = w + (ky * kw + kx) * cb;
      _Pragma("GCC unroll 4") for (size_t v = 0; v < nv; v++)
        acc[v] = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + 16 * v))),
                                 _mm512_loadu_ps(wt + 16 * v), acc[v]);
    }
  const size_t ob = p->output_fp8 ? 1 : 4;
  _Pragma("GCC unroll 4") for (size_t v = 0; v < nv; v++) {
    const size_t c0 = 16 * v, n = DYD_MIN((size_t)16, channels - c0);
    const __mmask16 m = (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1);
    const __m512 r = dyd_f8_epilogue_avx512(acc[v], _mm512_maskz_loadu_ps(m, scale + c0),
                                            _mm512_maskz_loadu_ps(m, bias + c0), p);
    dyd_f8_store16_avx512(r, p, out + c0 * ob, n);
  }
}

TARGET static void dw_c64(size_t pixels, size_t channels, size_t kh, size_t kw, const void *in,
                          size_t in_row, size_t in_col, size_t in_step, const float *w, size_t cb,
                          const float *scale, const float *bias, void *out, size_t out_step,
                          const dyd_f8_out *p) {
  const size_t nv = DYD_DIV_UP(channels, 16);
  const uint8_t *px = in;
  uint8_t *o = out;
  /* constant vector counts, so the accumulators stay in registers */
  for (size_t i = 0; i < pixels; i++, px += in_step, o += out_step) {
    switch (nv) {
      case 1: dw_pixel(1, channels, kh, kw, px, in_row, in_col, w, cb, scale, bias, o, p); break;
      case 2: dw_pixel(2, channels, kh, kw, px, in_row, in_col, w, cb, scale, bias, o, p); break;
      case 3: dw_pixel(3, channels, kh, kw, px, in_row, in_col, w, cb, scale, bias, o, p); break;
      default: dw_pixel(4, channels, kh, kw, px, in_row, in_col, w, cb, scale, bias, o, p); break;
    }
  }
}

void dyd_f8_add_avx2(const dyd_fp8_add_params *p, const uint8_t *a, size_t a_inc, const uint8_t *b,
                     size_t b_inc, uint8_t *y, size_t n);
void dyd_f8_gavg_avx2(const dyd_fp8_avgpool_params *p, const uint8_t *x, uint8_t *y);
void dyd_f8_convert_h_avx512(const uint8_t *codes, size_t n, void *dst);
void dyd_f8_dw_c64_avx512(size_t pixels, size_t channels, size_t kh, size_t kw, const void *in,
                          size_t in_row, size_t in_col, size_t in_step, const float *w, size_t cb,
                          const float *scale, const float *bias, void *out, size_t out_step,
                          const dyd_f8_out *p);

/* shared with the BF16 bundle */
void dyd_f8_convert_h_avx512(const uint8_t *codes, size_t n, void *dst) { convert_h(codes, n, dst); }
void dyd_f8_dw_c64_avx512(size_t pixels, size_t channels, size_t kh, size_t kw, const void *in,
                          size_t in_row, size_t in_col, size_t in_step, const float *w, size_t cb,
                          const float *scale, const float *bias, void *out, size_t out_step,
                          const dyd_f8_out *p) {
  dw_c64(pixels, channels, kh, kw, in, in_row, in_col, in_step, w, cb, scale, bias, out, out_step, p);
}

const dyd_f8_bundle dyd_f8_bundle_avx512f = {
    .isa = DYD_ISA_AVX512VNNI, .needs = DYD_F8_NEEDS_NONE, .isa_suffix = "avx512f",
    .mr = MR, .nr = NR, .a_bytes = 4, .convert = convert_f32, .gemm = gemm_8x2,
    .dw_cb = 64, .dw_in_bytes = 2, .dw_w_mult = 256.0f, .dw_convert = convert_h, .dw = dw_c64,
    .add = dyd_f8_add_avx2, .gavg = dyd_f8_gavg_avx2,
    .add_name = "dyd_qf8_vadd_fp32_ukernel__avx2",
    .gavg_name = "dyd_qf8_gavgpool_fp32_ukernel__avx2"};

#endif
