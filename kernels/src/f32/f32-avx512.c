/*
 * Float32 kernels for AVX-512F (the AVX-512 level; only AVX-512F instructions).
 * GEMM 8x32: 16 zmm accumulators (8 rows of A broadcast x 2 vectors of B); per K
 * step 2 loads and 8 embedded broadcasts (load-port only) feed 16 FMAs, so the two
 * 512-bit FMA pipes, not the loads, bound it. Partial strips use masked loads/stores.
 * 8x48 (24 accumulators, NV 3) measured no better on YOLOv8n's shapes (within the
 * noise on large planes, worse on 10x10 and 20x20 ones, whose strips it fills less).
 * Depthwise row: 16 outputs per vector, 4 vectors x 2 tap chains.
 */
#if defined(__x86_64__)

#include "../common.h"

#include <immintrin.h>

#define MR 8
#define NV 2 /* vectors of B per K step */
#define NR (16 * NV)
#define TARGET __attribute__((target("avx512f")))
#define INLINE __attribute__((always_inline)) inline

/* SiLU of 16 floats, dyd_f32_silu step by step; VSCALEFPS applies 2^n with one
 * rounding, subnormal results included, and the quotient is a 14-bit reciprocal
 * refined once with the exact residual (about 2^-28 before the final rounding). */
TARGET static INLINE __m512 silu16(__m512 y) {
  const __m512 xmin = _mm512_set1_ps(DYD_SILU_XMIN), one = _mm512_set1_ps(1.0f);
  const __m512 x = _mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(y)), xmin);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(DYD_SILU_LOG2E)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(DYD_SILU_LN2_HI), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(DYD_SILU_LN2_LO), r);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(DYD_SILU_C7), r, _mm512_set1_ps(DYD_SILU_C6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(DYD_SILU_C5));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(DYD_SILU_C4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(DYD_SILU_C3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(DYD_SILU_C2));
  p = _mm512_fmadd_ps(p, r, one);
  p = _mm512_fmadd_ps(p, r, one);
  const __m512 d = _mm512_add_ps(one, _mm512_scalef_ps(p, n));
  const __mmask16 neg = _mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512 num = _mm512_mask_mul_ps(y, neg, _mm512_max_ps(y, xmin), p);
  const __m512 rd = _mm512_rcp14_ps(d);
  const __m512 q0 = _mm512_mul_ps(num, rd);
  const __m512 q = _mm512_fmadd_ps(_mm512_fnmadd_ps(q0, d, num), rd, q0);
  return _mm512_mask_scalef_ps(q, neg, q, n);
}

TARGET static INLINE __m512 act16(__m512 v, const dyd_f32_act *act) {
  if (act->kind == DYD_F32_ACT_LEAKY_CLAMP)
    v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, _mm512_set1_ps(act->alpha));
  if (act->kind == DYD_F32_ACT_CLAMP || act->kind == DYD_F32_ACT_LEAKY_CLAMP)
    return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(act->lo)), _mm512_set1_ps(act->hi));
  if (act->kind == DYD_F32_ACT_HARDSWISH) {
    const __m512 t = _mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(act->alpha)), _mm512_set1_ps(act->beta));
    return _mm512_mul_ps(v, _mm512_max_ps(_mm512_min_ps(t, _mm512_set1_ps(1)), _mm512_setzero_ps()));
  }
  return silu16(v);
}

/* `indirect` is a constant in each instantiation below, so the K loop has one
 * addressing form: b + b_off[k] (the direct conv) or a pointer stepped by b_stride. */
TARGET static INLINE void gemm_body(size_t mr, size_t nc, size_t kc, const float *a, const float *bias,
                                    const float *b, size_t b_stride, const size_t *b_off, float *c,
                                    size_t c_stride, int accumulate, const dyd_f32_act *act,
                                    const bool indirect) {
  __m512 acc[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) {
    const __m512 v = bias ? _mm512_set1_ps(bias[i]) : _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) acc[i][j] = v;
  }
  for (size_t k = 0; k < kc; k++, a += MR) {
    const float *bk = indirect ? b + b_off[k] : b;
    if (!indirect) b += b_stride;
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) bv[j] = _mm512_loadu_ps(bk + 16 * j);
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
      const __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; j++) acc[i][j] = _mm512_fmadd_ps(ai, bv[j], acc[i][j]);
    }
  }
  __mmask16 m[NV];
#pragma GCC unroll 4
  for (int j = 0; j < NV; j++) {
    const size_t lo = 16 * (size_t)j, n = nc > lo ? DYD_MIN(nc - lo, (size_t)16) : 0;
    m[j] = (__mmask16)((1u << n) - 1);
  }
  const bool has_act = act != NULL && act->kind != DYD_F32_ACT_NONE;
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) { /* constant indices keep acc in registers */
    if ((size_t)i >= mr) break;
    float *ci = c + (size_t)i * c_stride;
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) {
      __m512 v = acc[i][j];
      if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m[j], ci + 16 * j));
      if (has_act) v = act16(v, act);
      _mm512_mask_storeu_ps(ci + 16 * j, m[j], v);
    }
  }
}

/* One row of A (a batch-1 linear layer, an LSTM's hidden state, the last output
 * channel of a conv): gemm_body would spend 15 of its 16 FMAs on zero rows, and the
 * real row's FMAs form one dependency chain per vector. Here K runs as 4 chains
 * (k mod 4) summed pairwise at the end, so per K step 2 loads of B feed 2
 * independent FMAs and B's loads bound it. A is still a panel: a[k * MR]. */
TARGET static INLINE void gemv_body(size_t nc, size_t kc, const float *a, const float *bias, const float *b,
                                    size_t b_stride, const size_t *b_off, float *c, int accumulate,
                                    const dyd_f32_act *act, const bool indirect) {
  __m512 acc[4][NV];
#pragma GCC unroll 4
  for (int u = 0; u < 4; u++)
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) acc[u][j] = u == 0 && bias ? _mm512_set1_ps(bias[0]) : _mm512_setzero_ps();
  size_t k = 0;
  for (; k + 4 <= kc; k += 4) {
#pragma GCC unroll 4
    for (int u = 0; u < 4; u++) {
      const float *bk = indirect ? b + b_off[k + u] : b + (k + u) * b_stride;
      const __m512 au = _mm512_set1_ps(a[(k + u) * MR]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; j++) acc[u][j] = _mm512_fmadd_ps(au, _mm512_loadu_ps(bk + 16 * j), acc[u][j]);
    }
  }
  for (; k < kc; k++) {
    const float *bk = indirect ? b + b_off[k] : b + k * b_stride;
    const __m512 au = _mm512_set1_ps(a[k * MR]);
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) acc[0][j] = _mm512_fmadd_ps(au, _mm512_loadu_ps(bk + 16 * j), acc[0][j]);
  }
  const bool has_act = act != NULL && act->kind != DYD_F32_ACT_NONE;
#pragma GCC unroll 4
  for (int j = 0; j < NV; j++) {
    const size_t lo = 16 * (size_t)j, n = nc > lo ? DYD_MIN(nc - lo, (size_t)16) : 0;
    const __mmask16 m = (__mmask16)((1u << n) - 1);
    __m512 v = _mm512_add_ps(_mm512_add_ps(acc[0][j], acc[1][j]), _mm512_add_ps(acc[2][j], acc[3][j]));
    if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, c + 16 * j));
    if (has_act) v = act16(v, act);
    _mm512_mask_storeu_ps(c + 16 * j, m, v);
  }
}

TARGET static void gemm_8x32(size_t mr, size_t nc, size_t kc, const float *a, const float *bias,
                             const float *b, size_t b_stride, const size_t *b_off, float *c,
                             size_t c_stride, int accumulate, const dyd_f32_act *act) {
  if (mr == 1) {
    if (b_off) gemv_body(nc, kc, a, bias, b, b_stride, b_off, c, accumulate, act, true);
    else gemv_body(nc, kc, a, bias, b, b_stride, NULL, c, accumulate, act, false);
    return;
  }
  if (b_off) gemm_body(mr, nc, kc, a, bias, b, b_stride, b_off, c, c_stride, accumulate, act, true);
  else gemm_body(mr, nc, kc, a, bias, b, b_stride, NULL, c, c_stride, accumulate, act, false);
}

TARGET static void act_row(size_t n, float *x, const dyd_f32_act *act) {
  if (act == NULL || act->kind == DYD_F32_ACT_NONE) return;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, act16(_mm512_loadu_ps(x + i), act));
  if (i < n) {
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(x + i, m, act16(_mm512_maskz_loadu_ps(m, x + i), act));
  }
}

/* Stride 2 (the 3x3/2 downsampling convs): 16 even floats of 32 per VPERMT2PS. */
TARGET static void gather(size_t n, const float *src, size_t stride, float *dst) {
  size_t q = 0;
  if (stride == 2) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (; q + 16 < n; q += 16) /* reads src[2q .. 2q + 31], 2q + 31 < 2(n - 1) + 1 */
      _mm512_storeu_ps(dst + q, _mm512_permutex2var_ps(_mm512_loadu_ps(src + 2 * q), even,
                                                       _mm512_loadu_ps(src + 2 * q + 16)));
  }
  dyd_f32_gather_scalar(n - q, src + q * stride, stride, dst + q);
}

TARGET static inline __m512 dw_vec(size_t x, size_t taps, const float *const *rows, const float *w,
                                   __m512 vb) {
  __m512 s0 = vb, s1 = _mm512_setzero_ps();
  size_t t = 0;
  for (; t + 2 <= taps; t += 2) {
    s0 = _mm512_fmadd_ps(_mm512_set1_ps(w[t]), _mm512_loadu_ps(rows[t] + x), s0);
    s1 = _mm512_fmadd_ps(_mm512_set1_ps(w[t + 1]), _mm512_loadu_ps(rows[t + 1] + x), s1);
  }
  if (t < taps) s0 = _mm512_fmadd_ps(_mm512_set1_ps(w[t]), _mm512_loadu_ps(rows[t] + x), s0);
  return _mm512_add_ps(s0, s1);
}

TARGET static inline void dw_body(size_t n, size_t taps, const float *const *rows, const float *w,
                                  float bias, float *out) {
  const __m512 vb = _mm512_set1_ps(bias);
  size_t x = 0;
  for (; x + 64 <= n; x += 64) {
    __m512 s[4][2];
    for (int v = 0; v < 4; v++) s[v][0] = vb, s[v][1] = _mm512_setzero_ps();
    size_t t = 0;
    for (; t + 2 <= taps; t += 2) {
      const __m512 w0 = _mm512_set1_ps(w[t]), w1 = _mm512_set1_ps(w[t + 1]);
      for (int v = 0; v < 4; v++) {
        s[v][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(rows[t] + x + 16 * v), s[v][0]);
        s[v][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(rows[t + 1] + x + 16 * v), s[v][1]);
      }
    }
    if (t < taps) {
      const __m512 w0 = _mm512_set1_ps(w[t]);
      for (int v = 0; v < 4; v++) s[v][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(rows[t] + x + 16 * v), s[v][0]);
    }
    for (int v = 0; v < 4; v++) _mm512_storeu_ps(out + x + 16 * v, _mm512_add_ps(s[v][0], s[v][1]));
  }
  for (; x + 16 <= n; x += 16) _mm512_storeu_ps(out + x, dw_vec(x, taps, rows, w, vb));
  if (x < n) _mm512_mask_storeu_ps(out + x, (__mmask16)((1u << (n - x)) - 1), dw_vec(x, taps, rows, w, vb));
}

TARGET static void dw_row(size_t n, size_t taps, const float *const *rows, const float *w, float bias,
                          float *out) {
  if (taps == 9) dw_body(n, 9, rows, w, bias, out);
  else if (taps == 25) dw_body(n, 25, rows, w, bias, out);
  else dw_body(n, taps, rows, w, bias, out);
}

/* 8 columns of 4 rows: column 4l + j in lane l of u[j] (two unpack, two shuffle stages). */
TARGET static INLINE void transpose4x8(const float *a, size_t lda, size_t rows, __m256 u[4]) {
  __m256 r[4];
  for (size_t i = 0; i < 4; i++) r[i] = i < rows ? _mm256_loadu_ps(a + i * lda) : _mm256_setzero_ps();
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  u[0] = _mm256_shuffle_ps(t0, t2, 0x44), u[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
  u[2] = _mm256_shuffle_ps(t1, t3, 0x44), u[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
}

/* An 8 x 8 block per step as two 4 x 8 transposes; a panel row (8 floats) is then one
 * lane of each half, joined by one lane permute. Missing rows are zero registers. */
TARGET static void pack(size_t rows, size_t k, const float *a, size_t lda, float *panel) {
  size_t q = 0;
  const size_t lo = DYD_MIN(rows, (size_t)4), hi = rows > 4 ? rows - 4 : 0;
  for (; q + 8 <= k; q += 8) {
    __m256 u[4], w[4];
    transpose4x8(a + q, lda, lo, u);
    transpose4x8(hi ? a + 4 * lda + q : a, lda, hi, w); /* no pointer past a short panel */
    float *p = panel + q * MR;
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
      _mm256_storeu_ps(p + 8 * j, _mm256_permute2f128_ps(u[j], w[j], 0x20));       /* column j */
      _mm256_storeu_ps(p + 8 * (j + 4), _mm256_permute2f128_ps(u[j], w[j], 0x31)); /* column j + 4 */
    }
  }
  dyd_f32_pack_scalar(rows, q, k, a, lda, MR, panel);
}

const dyd_f32_bundle dyd_f32_bundle_avx512 = {
    .mr = MR, .nr = NR, .gemm = gemm_8x32, .dw = dw_row, .act = act_row, .gather = gather, .pack = pack,
    .isa_suffix = "avx512f", .gemm_name = "dyd_f32_gemm_ukernel_8x32__avx512f",
};

#endif
