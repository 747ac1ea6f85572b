/*
 * Float32 kernels for AVX-512F (the AVX-512 level; only AVX-512F instructions).
 * GEMM 8x32: 16 zmm accumulators (8 rows of A broadcast x 2 vectors of B); per K
 * step 2 loads and 8 broadcasts (load-port only) feed 16 FMAs, so the two 512-bit
 * FMA pipes, not the loads, bound it. Partial strips use masked loads/stores.
 * Depthwise row: 16 outputs per vector, 4 vectors x 2 tap chains.
 */
#if defined(__x86_64__)

#include "../common.h"

#include <immintrin.h>

#define MR 8
#define NR 32
#define TARGET __attribute__((target("avx512f")))

TARGET static void gemm_8x32(size_t mr, size_t nc, size_t kc, const float *a, const float *bias,
                             const float *b, size_t b_stride, float *c, size_t c_stride,
                             int accumulate) {
  __m512 acc[MR][2];
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = bias ? _mm512_set1_ps(bias[i]) : _mm512_setzero_ps();
  for (size_t k = 0; k < kc; k++, a += MR, b += b_stride) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  const __mmask16 m0 = (__mmask16)(nc >= 16 ? 0xFFFF : (1u << nc) - 1);
  const __mmask16 m1 = (__mmask16)(nc >= 32 ? 0xFFFF : nc <= 16 ? 0 : (1u << (nc - 16)) - 1);
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) { /* constant indices keep acc in registers */
    if ((size_t)i >= mr) break;
    float *ci = c + (size_t)i * c_stride;
    __m512 v0 = acc[i][0], v1 = acc[i][1];
    if (accumulate) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, ci));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, ci + 16));
    }
    _mm512_mask_storeu_ps(ci, m0, v0);
    _mm512_mask_storeu_ps(ci + 16, m1, v1);
  }
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

const dyd_f32_bundle dyd_f32_bundle_avx512 = {
    .mr = MR, .nr = NR, .gemm = gemm_8x32, .dw = dw_row,
    .isa_suffix = "avx512f", .gemm_name = "dyd_f32_gemm_ukernel_8x32__avx512f",
};

#endif
