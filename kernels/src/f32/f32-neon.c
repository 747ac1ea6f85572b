/*
 * Float32 kernels for AArch64 NEON, the structure of the x86 ones.
 * GEMM 8x8: 16 accumulators; per K step one A panel row (8 floats, two loads) and
 * 8 floats of B (two loads) feed 16 FMLA by lane, the lane index being NEON's
 * broadcast. Partial strips go through a small buffer (no masked stores).
 * Depthwise row: 4 outputs per vector, 4 vectors x 2 tap chains, scalar tail.
 */
#if defined(__aarch64__)

#include "../common.h"

#include <arm_neon.h>

#define MR 8
#define NR 8

static void gemm_8x8(size_t mr, size_t nc, size_t kc, const float *a, const float *bias,
                     const float *b, size_t b_stride, float *c, size_t c_stride, int accumulate) {
  float32x4_t acc[MR][2];
  const float32x4_t z = vdupq_n_f32(0.0f);
  const float32x4_t bl = bias ? vld1q_f32(bias) : z, bh = bias ? vld1q_f32(bias + 4) : z;
  acc[0][0] = acc[0][1] = vdupq_laneq_f32(bl, 0);
  acc[1][0] = acc[1][1] = vdupq_laneq_f32(bl, 1);
  acc[2][0] = acc[2][1] = vdupq_laneq_f32(bl, 2);
  acc[3][0] = acc[3][1] = vdupq_laneq_f32(bl, 3);
  acc[4][0] = acc[4][1] = vdupq_laneq_f32(bh, 0);
  acc[5][0] = acc[5][1] = vdupq_laneq_f32(bh, 1);
  acc[6][0] = acc[6][1] = vdupq_laneq_f32(bh, 2);
  acc[7][0] = acc[7][1] = vdupq_laneq_f32(bh, 3);
  for (size_t k = 0; k < kc; k++, a += MR, b += b_stride) {
    const float32x4_t al = vld1q_f32(a), ah = vld1q_f32(a + 4);
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4);
#define ROW(i, av, lane)                                        \
  acc[i][0] = vfmaq_laneq_f32(acc[i][0], b0, av, lane);          \
  acc[i][1] = vfmaq_laneq_f32(acc[i][1], b1, av, lane);
    ROW(0, al, 0) ROW(1, al, 1) ROW(2, al, 2) ROW(3, al, 3)
    ROW(4, ah, 0) ROW(5, ah, 1) ROW(6, ah, 2) ROW(7, ah, 3)
#undef ROW
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) { /* constant indices keep acc in registers */
    if ((size_t)i >= mr) break;
    float *c_ = c + (size_t)i * c_stride;
    float32x4_t v0 = acc[i][0], v1 = acc[i][1];
    if (nc == NR) {
      if (accumulate) {
        v0 = vaddq_f32(v0, vld1q_f32(c_));
        v1 = vaddq_f32(v1, vld1q_f32(c_ + 4));
      }
      vst1q_f32(c_, v0);
      vst1q_f32(c_ + 4, v1);
    } else {
      float tmp[NR];
      vst1q_f32(tmp, v0);
      vst1q_f32(tmp + 4, v1);
      for (size_t j = 0; j < nc; j++) c_[j] = tmp[j] + (accumulate ? c_[j] : 0.0f);
    }
  }
}

static inline void dw_body(size_t n, size_t taps, const float *const *rows, const float *w,
                           float bias, float *out) {
  const float32x4_t vb = vdupq_n_f32(bias), z = vdupq_n_f32(0.0f);
  size_t x = 0;
  for (; x + 16 <= n; x += 16) {
    float32x4_t s[4][2];
    for (int v = 0; v < 4; v++) s[v][0] = vb, s[v][1] = z;
    size_t t = 0;
    for (; t + 2 <= taps; t += 2) {
      const float w0 = w[t], w1 = w[t + 1];
      for (int v = 0; v < 4; v++) {
        s[v][0] = vfmaq_n_f32(s[v][0], vld1q_f32(rows[t] + x + 4 * v), w0);
        s[v][1] = vfmaq_n_f32(s[v][1], vld1q_f32(rows[t + 1] + x + 4 * v), w1);
      }
    }
    if (t < taps)
      for (int v = 0; v < 4; v++) s[v][0] = vfmaq_n_f32(s[v][0], vld1q_f32(rows[t] + x + 4 * v), w[t]);
    for (int v = 0; v < 4; v++) vst1q_f32(out + x + 4 * v, vaddq_f32(s[v][0], s[v][1]));
  }
  for (; x + 4 <= n; x += 4) {
    float32x4_t s0 = vb, s1 = z;
    size_t t = 0;
    for (; t + 2 <= taps; t += 2) {
      s0 = vfmaq_n_f32(s0, vld1q_f32(rows[t] + x), w[t]);
      s1 = vfmaq_n_f32(s1, vld1q_f32(rows[t + 1] + x), w[t + 1]);
    }
    if (t < taps) s0 = vfmaq_n_f32(s0, vld1q_f32(rows[t] + x), w[t]);
    vst1q_f32(out + x, vaddq_f32(s0, s1));
  }
  for (; x < n; x++) {
    float s = bias;
    for (size_t t = 0; t < taps; t++) s += w[t] * rows[t][x];
    out[x] = s;
  }
}

static void dw_row(size_t n, size_t taps, const float *const *rows, const float *w, float bias,
                   float *out) {
  if (taps == 9) dw_body(n, 9, rows, w, bias, out);
  else if (taps == 25) dw_body(n, 25, rows, w, bias, out);
  else dw_body(n, taps, rows, w, bias, out);
}

const dyd_f32_bundle dyd_f32_bundle_neon = {
    .mr = MR, .nr = NR, .gemm = gemm_8x8, .dw = dw_row,
    .isa_suffix = "neon", .gemm_name = "dyd_f32_gemm_ukernel_8x8__neon",
};

#endif
