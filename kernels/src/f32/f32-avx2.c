/*
 * Float32 kernels for AVX2 + FMA (16 ymm registers).
 * GEMM 6x16: 12 accumulators (6 rows of A broadcast x 2 vectors of B) + 2 B vectors
 * + 1 broadcast = 15 registers; per K step 2 loads and 6 broadcasts feed 12 FMAs,
 * enough independent chains to cover the FMA latency on both FMA ports.
 * Depthwise row: 8 outputs per vector, taps summed into two chains per vector so
 * that 4 vectors give 8 independent FMA chains.
 */
#if defined(__x86_64__)

#include "../common.h"

#include <immintrin.h>

#define MR 6
#define NR 16
#define TARGET __attribute__((target("avx2,fma")))

TARGET static inline __m256i tail_mask(size_t n) { /* lanes j < n (n may exceed 8) */
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)DYD_MIN(n, (size_t)8)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

TARGET static void gemm_6x16(size_t mr, size_t nc, size_t kc, const float *a, const float *bias,
                             const float *b, size_t b_stride, float *c, size_t c_stride,
                             int accumulate) {
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = bias ? _mm256_broadcast_ss(bias + i) : _mm256_setzero_ps();
  for (size_t k = 0; k < kc; k++, a += MR, b += b_stride) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  /* constant row indices (unrolled) keep acc in registers: a runtime index would
   * make the compiler keep the array in memory inside the K loop */
  const __m256i m0 = tail_mask(nc), m1 = tail_mask(nc > 8 ? nc - 8 : 0);
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) {
    if ((size_t)i >= mr) break;
    float *ci = c + (size_t)i * c_stride;
    __m256 v0 = acc[i][0], v1 = acc[i][1];
    if (nc == NR) {
      if (accumulate) {
        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(ci));
        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(ci + 8));
      }
      _mm256_storeu_ps(ci, v0);
      _mm256_storeu_ps(ci + 8, v1);
    } else {
      if (accumulate) {
        v0 = _mm256_add_ps(v0, _mm256_maskload_ps(ci, m0));
        v1 = _mm256_add_ps(v1, _mm256_maskload_ps(ci + 8, m1));
      }
      _mm256_maskstore_ps(ci, m0, v0);
      _mm256_maskstore_ps(ci + 8, m1, v1);
    }
  }
}

/* One vector of outputs at x: two chains (even and odd taps). */
TARGET static inline __m256 dw_vec(size_t x, size_t taps, const float *const *rows, const float *w,
                                   __m256 vb) {
  __m256 s0 = vb, s1 = _mm256_setzero_ps();
  size_t t = 0;
  for (; t + 2 <= taps; t += 2) {
    s0 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + t), _mm256_loadu_ps(rows[t] + x), s0);
    s1 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + t + 1), _mm256_loadu_ps(rows[t + 1] + x), s1);
  }
  if (t < taps) s0 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + t), _mm256_loadu_ps(rows[t] + x), s0);
  return _mm256_add_ps(s0, s1);
}

/* `taps` is a constant where the caller passes one, so the tap loops unroll. */
TARGET static inline void dw_body(size_t n, size_t taps, const float *const *rows, const float *w,
                                  float bias, float *out) {
  const __m256 vb = _mm256_set1_ps(bias);
  size_t x = 0;
  for (; x + 32 <= n; x += 32) {
    __m256 s[4][2];
    for (int v = 0; v < 4; v++) s[v][0] = vb, s[v][1] = _mm256_setzero_ps();
    size_t t = 0;
    for (; t + 2 <= taps; t += 2) {
      const __m256 w0 = _mm256_broadcast_ss(w + t), w1 = _mm256_broadcast_ss(w + t + 1);
      for (int v = 0; v < 4; v++) {
        s[v][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(rows[t] + x + 8 * v), s[v][0]);
        s[v][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(rows[t + 1] + x + 8 * v), s[v][1]);
      }
    }
    if (t < taps) {
      const __m256 w0 = _mm256_broadcast_ss(w + t);
      for (int v = 0; v < 4; v++) s[v][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(rows[t] + x + 8 * v), s[v][0]);
    }
    for (int v = 0; v < 4; v++) _mm256_storeu_ps(out + x + 8 * v, _mm256_add_ps(s[v][0], s[v][1]));
  }
  for (; x + 8 <= n; x += 8) _mm256_storeu_ps(out + x, dw_vec(x, taps, rows, w, vb));
  if (x < n) _mm256_maskstore_ps(out + x, tail_mask(n - x), dw_vec(x, taps, rows, w, vb));
}

TARGET static void dw_row(size_t n, size_t taps, const float *const *rows, const float *w, float bias,
                          float *out) {
  if (taps == 9) dw_body(n, 9, rows, w, bias, out);
  else if (taps == 25) dw_body(n, 25, rows, w, bias, out);
  else dw_body(n, taps, rows, w, bias, out);
}

const dyd_f32_bundle dyd_f32_bundle_avx2 = {
    .mr = MR, .nr = NR, .gemm = gemm_6x16, .dw = dw_row,
    .isa_suffix = "avx2", .gemm_name = "dyd_f32_gemm_ukernel_6x16__avx2",
};

#endif
