/*
 * FP8 kernels for AVX2 + FMA + F16C: float32 FMA, the fallback below AVX-512 and
 * the element-wise kernels of both x86 levels.
 *
 * GEMM 4x2c32: VPERMPS on ymm reads 3 index bits, so a 16-entry table is two
 * registers (entries 0-7, 8-15); both are permuted and bit 3 of the code, moved to
 * the sign bit, selects with one VBLENDVPS. About 5 instructions per 8 weights, the
 * price of 8-lane permutes; 4 rows share each decode.
 * Depthwise c32: as the AVX-512 kernel, 8 channels per vector.
 */
#if defined(__x86_64__)

#include "fp8-x86.h"

#define TARGET DYD_F8_AVX2_TARGET
#define INLINE DYD_F8_INLINE
#define MR 4
#define NR 2

TARGET static void convert_f32(const uint8_t *codes, size_t n, void *dst) {
  float *d = dst;
  for (; n >= 8; n -= 8, codes += 8, d += 8)
    _mm256_storeu_ps(d, dyd_f8_decode8_avx2(_mm_loadl_epi64((const __m128i *)codes)));
  for (; n; n--) *d++ = dyd_fp8_e4m3_to_f32(*codes++);
}

TARGET static void convert_h(const uint8_t *codes, size_t n, void *dst) {
  uint16_t *d = dst;
  for (; n >= 16; n -= 16, codes += 16, d += 16)
    _mm256_storeu_si256((__m256i *)d, dyd_f8_h16_avx2(_mm_loadu_si128((const __m128i *)codes)));
  for (; n; n--) *d++ = dyd_f8_to_h(*codes++);
}

typedef struct { __m256 lo, hi; } table8x2;

TARGET INLINE table8x2 load_table(const uint8_t *t) {
  table8x2 r = {dyd_f8_decode8_avx2(_mm_loadl_epi64((const __m128i *)t)),
                dyd_f8_decode8_avx2(_mm_loadl_epi64((const __m128i *)(t + 8)))};
  return r;
}

/* codes in the low 4 bits of int32 lanes (higher bits ignored except bit 3 via `sel`) */
TARGET INLINE __m256 lookup(table8x2 t, __m256i idx, __m256i sel) {
  return _mm256_blendv_ps(_mm256_permutevar8x32_ps(t.lo, idx), _mm256_permutevar8x32_ps(t.hi, idx),
                          _mm256_castsi256_ps(sel));
}

TARGET static void gemm_4x2(size_t mr, size_t nc, size_t kb, const void *a, size_t a_stride,
                            const uint8_t *w, const uint8_t *const *tables, const uint16_t *bt,
                            const float *scale, const float *bias, void *c, size_t c_stride,
                            const dyd_f8_out *p) {
  const float *ar[MR];
  _Pragma("GCC unroll 4") for (size_t i = 0; i < MR; i++) ar[i] = (const float *)((const uint8_t *)a + DYD_MIN(i, mr - 1) * a_stride);
  __m256 acc[MR][NR];
  _Pragma("GCC unroll 4") for (size_t i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  size_t cur = bt ? bt[0] : 0;
  table8x2 t[NR] = {load_table(tables[0] + 16 * cur), load_table(tables[1] + 16 * cur)};
  for (size_t b = 0; b < kb; b++, w += 32) {
    if (bt && bt[b] != cur) {
      cur = bt[b];
      t[0] = load_table(tables[0] + 16 * cur);
      t[1] = load_table(tables[1] + 16 * cur);
    }
    _Pragma("GCC unroll 2") for (size_t j = 0; j < NR; j++) {
      __m256 wv[4]; /* elements 0-7, 8-15 (low nibbles), 16-23, 24-31 (high) */
      _Pragma("GCC unroll 2") for (size_t h = 0; h < 2; h++) {
        const __m256i x = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(w + 16 * j + 8 * h)));
        wv[h] = lookup(t[j], x, _mm256_slli_epi32(x, 28));
        wv[h + 2] = lookup(t[j], _mm256_srli_epi32(x, 4), _mm256_slli_epi32(x, 24));
      }
      _Pragma("GCC unroll 4") for (size_t r = 0; r < MR; r++) {
        const float *ab = ar[r] + b * 32;
        __m256 s = acc[r][j];
        _Pragma("GCC unroll 4") for (size_t q = 0; q < 4; q++) s = _mm256_fmadd_ps(_mm256_loadu_ps(ab + 8 * q), wv[q], s);
        acc[r][j] = s;
      }
    }
  }
  uint8_t *o = c;
  for (size_t r = 0; r < mr; r++, o += c_stride) {
    float sums[NR];
    for (size_t j = 0; j < NR; j++) { /* horizontal sum of 8 partials */
      __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc[r][j]), _mm256_extractf128_ps(acc[r][j], 1));
      h = _mm_add_ps(h, _mm_movehl_ps(h, h));
      h = _mm_add_ss(h, _mm_movehdup_ps(h));
      sums[j] = _mm_cvtss_f32(h);
    }
    for (size_t j = 0; j < nc; j++) dyd_f8_store_scalar(sums[j], scale[j], bias[j], p, o, j);
  }
}

TARGET INLINE void store8(__m256 acc, const float *scale, const float *bias, const dyd_f8_out *p,
                          uint8_t *out, size_t n) {
  if (n < 8) { /* tail: the scalar epilogue, same operations */
    float tmp[8];
    _mm256_storeu_ps(tmp, acc);
    for (size_t j = 0; j < n; j++) dyd_f8_store_scalar(tmp[j], scale[j], bias[j], p, out, j);
    return;
  }
  __m256 v = _mm256_fmadd_ps(acc, _mm256_loadu_ps(scale), _mm256_loadu_ps(bias));
  v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(p->out_min)), _mm256_set1_ps(p->out_max));
  if (p->output_fp8) {
    const __m256i code = dyd_f8_encode_avx2(
        dyd_f8_div_avx2(v, _mm256_set1_ps(p->output_scale), _mm256_set1_ps(p->output_recip)));
    _mm_storel_epi64((__m128i *)out, dyd_f8_pack8_avx2(code));
  } else {
    _mm256_storeu_ps((float *)out, v);
  }
}

TARGET INLINE void dw_pixel(size_t nv, size_t channels, size_t kh, size_t kw, const uint8_t *px,
                            size_t in_row, size_t in_col, const float *w, size_t cb,
                            const float *scale, const float *bias, uint8_t *out, const dyd_f8_out *p) {
  __m256 acc[4];
  _Pragma("GCC unroll 4") for (size_t v = 0; v < nv; v++) acc[v] = _mm256_setzero_ps();
  for (size_t ky = 0; ky < kh; ky++)
    for (size_t kx = 0; kx < kw; kx++) {
      const uint16_t *x = (const uint16_t *)(px + ky * in_row + kx * in_col);
      const float *wt = w + (ky * kw + kx) * cb;
      _Pragma("GCC unroll 4") for (size_t v = 0; v < nv; v++)
        acc[v] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 8 * v))),
                                 _mm256_loadu_ps(wt + 8 * v), acc[v]);
    }
  const size_t ob = p->output_fp8 ? 1 : 4;
  _Pragma("GCC unroll 4") for (size_t v = 0; v < nv; v++)
    store8(acc[v], scale + 8 * v, bias + 8 * v, p, out + 8 * v * ob, DYD_MIN((size_t)8, channels - 8 * v));
}

TARGET static void dw_c32(size_t pixels, size_t channels, size_t kh, size_t kw, const void *in,
                          size_t in_row, size_t in_col, size_t in_step, const float *w, size_t cb,
                          const float *scale, const float *bias, void *out, size_t out_step,
                          const dyd_f8_out *p) {
  const size_t nv = DYD_DIV_UP(channels, 8);
  const uint8_t *px = in;
  uint8_t *o = out;
  for (size_t i = 0; i < pixels; i++, px += in_step, o += out_step) {
    switch (nv) {
      case 1: dw_pixel(1, channels, kh, kw, px, in_row, in_col, w, cb, scale, bias, o, p); break;
      case 2: dw_pixel(2, channels, kh, kw, px, in_row, in_col, w, cb, scale, bias, o, p); break;
      case 3: dw_pixel(3, channels, kh, kw, px, in_row, in_col, w, cb, scale, bias, o, p); break;
      default: dw_pixel(4, channels, kh, kw, px, in_row, in_col, w, cb, scale, bias, o, p); break;
    }
  }
}

/* ---- element-wise (both x86 levels) ---- */

void dyd_f8_add_avx2(const dyd_fp8_add_params *p, const uint8_t *a, size_t a_inc, const uint8_t *b,
                     size_t b_inc, uint8_t *y, size_t n);
void dyd_f8_gavg_avx2(const dyd_fp8_avgpool_params *p, const uint8_t *x, uint8_t *y);

TARGET void dyd_f8_add_avx2(const dyd_fp8_add_params *p, const uint8_t *a, size_t a_inc,
                            const uint8_t *b, size_t b_inc, uint8_t *y, size_t n) {
  const __m256 sa = _mm256_set1_ps(p->a_scale), sb = _mm256_set1_ps(p->b_scale);
  const __m256 lo = _mm256_set1_ps(p->out_min), hi = _mm256_set1_ps(p->out_max);
  const __m256 sy = _mm256_set1_ps(p->y_scale), ry = _mm256_set1_ps(1.0f / p->y_scale);
  const __m128i ab = _mm_set1_epi8((char)a[0]), bb = _mm_set1_epi8((char)b[0]);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i ca = a_inc ? _mm_loadl_epi64((const __m128i *)(a + i)) : ab;
    const __m128i cb = b_inc ? _mm_loadl_epi64((const __m128i *)(b + i)) : bb;
    __m256 ta = _mm256_mul_ps(dyd_f8_decode8_avx2(ca), sa);
    __m256 tb = _mm256_mul_ps(dyd_f8_decode8_avx2(cb), sb);
    DYD_FP_BARRIER(ta); /* two roundings, never an FMA */
    DYD_FP_BARRIER(tb);
    const __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(ta, tb), lo), hi);
    _mm_storel_epi64((__m128i *)(y + i), dyd_f8_pack8_avx2(dyd_f8_encode_avx2(dyd_f8_div_avx2(v, sy, ry))));
  }
  for (; i < n; i++) {
    float ta = dyd_fp8_e4m3_to_f32(a[i * a_inc]) * p->a_scale;
    float tb = dyd_fp8_e4m3_to_f32(b[i * b_inc]) * p->b_scale;
    DYD_FP_BARRIER(ta);
    DYD_FP_BARRIER(tb);
    float v = ta + tb;
    v = v > p->out_min ? v : p->out_min; /* as _mm256_max_ps: the bound wins ties (-0 vs +0) */
    v = v < p->out_max ? v : p->out_max;
    y[i] = dyd_f8_encode_sat(v / p->y_scale);
  }
}

/* per channel a float32 sum in pixel order, 32 channels per pass */
TARGET void dyd_f8_gavg_avx2(const dyd_fp8_avgpool_params *p, const uint8_t *x, uint8_t *y) {
  const __m256 np = _mm256_set1_ps((float)p->pixels), si = _mm256_set1_ps(p->input_scale);
  const __m256 so = _mm256_set1_ps(p->output_scale), ro = _mm256_set1_ps(1.0f / p->output_scale);
  const __m256 rp = _mm256_set1_ps(1.0f / (float)p->pixels);
  for (size_t n = 0; n < p->batch; n++) {
    const uint8_t *img = x + n * (size_t)p->pixels * p->in_pixel_stride;
    size_t c = 0;
    for (; c + 8 <= p->channels; c += 8) {
      __m256 s = _mm256_setzero_ps();
      for (size_t i = 0; i < p->pixels; i++)
        s = _mm256_add_ps(s, dyd_f8_decode8_avx2(_mm_loadl_epi64((const __m128i *)(img + i * p->in_pixel_stride + c))));
      __m256 m = dyd_f8_div_avx2(s, np, rp);
      DYD_FP_BARRIER(m);
      m = _mm256_mul_ps(m, si);
      DYD_FP_BARRIER(m);
      _mm_storel_epi64((__m128i *)(y + n * p->channels + c), dyd_f8_pack8_avx2(dyd_f8_encode_avx2(dyd_f8_div_avx2(m, so, ro))));
    }
    for (; c < p->channels; c++) {
      float s = 0.0f;
      for (size_t i = 0; i < p->pixels; i++) s += dyd_fp8_e4m3_to_f32(img[i * p->in_pixel_stride + c]);
      float m = s / (float)p->pixels;
      DYD_FP_BARRIER(m);
      m *= p->input_scale;
      DYD_FP_BARRIER(m);
      y[n * p->channels + c] = dyd_f8_encode_sat(m / p->output_scale);
    }
  }
}

const dyd_f8_bundle dyd_f8_bundle_avx2 = {
    .isa_suffix = "avx2",
    .mr = MR, .nr = NR, .a_bytes = 4, .convert = convert_f32, .gemm = gemm_4x2,
    .dw_cb = 32, .dw_in_bytes = 2, .dw_w_mult = 256.0f, .dw_convert = convert_h, .dw = dw_c32,
    .add = dyd_f8_add_avx2, .gavg = dyd_f8_gavg_avx2,
    .add_name = "dyd_qf8_vadd_fp32_ukernel__avx2",
    .gavg_name = "dyd_qf8_gavgpool_fp32_ukernel__avx2"};

#endif
