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

/* SiLU of 4 floats, dyd_f32_silu step by step (2^n as two exact factors, each
 * normal; FDIV for the quotient, correctly rounded). */
static inline float32x4_t silu4(float32x4_t y) {
  const float32x4_t xmin = vdupq_n_f32(DYD_SILU_XMIN), one = vdupq_n_f32(1.0f);
  const float32x4_t x = vmaxq_f32(vnegq_f32(vabsq_f32(y)), xmin);
  const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, DYD_SILU_LOG2E));
  float32x4_t r = vfmsq_n_f32(x, n, DYD_SILU_LN2_HI);
  r = vfmsq_n_f32(r, n, DYD_SILU_LN2_LO);
  float32x4_t p = vfmaq_f32(vdupq_n_f32(DYD_SILU_C6), vdupq_n_f32(DYD_SILU_C7), r);
  p = vfmaq_f32(vdupq_n_f32(DYD_SILU_C5), p, r);
  p = vfmaq_f32(vdupq_n_f32(DYD_SILU_C4), p, r);
  p = vfmaq_f32(vdupq_n_f32(DYD_SILU_C3), p, r);
  p = vfmaq_f32(vdupq_n_f32(DYD_SILU_C2), p, r);
  p = vfmaq_f32(one, p, r);
  p = vfmaq_f32(one, p, r);
  const int32x4_t ni = vcvtq_s32_f32(n), n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1);
  const int32x4_t bias = vdupq_n_s32(127);
  const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
  const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
  const float32x4_t d = vaddq_f32(one, vmulq_f32(vmulq_f32(p, s1), s2));
  const uint32x4_t neg = vcltq_f32(y, vdupq_n_f32(0.0f));
  const float32x4_t num = vbslq_f32(neg, vmulq_f32(vmaxq_f32(y, xmin), p), y);
  const float32x4_t q = vdivq_f32(num, d);
  return vbslq_f32(neg, vmulq_f32(vmulq_f32(q, s1), s2), q);
}

static inline float32x4_t act4(float32x4_t v, const dyd_f32_act *act) {
  if (act->kind == DYD_F32_ACT_LEAKY_CLAMP)
    v = vbslq_f32(vcltq_f32(v, vdupq_n_f32(0)), vmulq_f32(v, vdupq_n_f32(act->alpha)), v);
  if (act->kind == DYD_F32_ACT_CLAMP || act->kind == DYD_F32_ACT_LEAKY_CLAMP)
    return vminq_f32(vmaxq_f32(v, vdupq_n_f32(act->lo)), vdupq_n_f32(act->hi));
  if (act->kind == DYD_F32_ACT_HARDSWISH) {
    const float32x4_t t = vaddq_f32(vmulq_f32(v, vdupq_n_f32(act->alpha)), vdupq_n_f32(act->beta));
    return vmulq_f32(v, vmaxq_f32(vminq_f32(t, vdupq_n_f32(1)), vdupq_n_f32(0)));
  }
  return silu4(v);
}

/* One row of A (a batch-1 linear layer, an LSTM's hidden state, the last output
 * channel of a conv): the 8-row kernel would spend 14 of its 16 FMLA on zero rows,
 * and the real row's FMLA form one dependency chain per vector. Here K runs as 4
 * chains (k mod 4) summed pairwise at the end. A is still a panel: a[k * MR]. */
static void gemv(size_t nc, size_t kc, const float *a, const float *bias, const float *b, size_t b_stride,
                 const size_t *b_off, float *c, int accumulate, const dyd_f32_act *act) {
  const float32x4_t z = vdupq_n_f32(0.0f), b0v = bias ? vdupq_n_f32(bias[0]) : z;
  float32x4_t acc[4][2] = {{b0v, b0v}, {z, z}, {z, z}, {z, z}};
  size_t k = 0;
  for (; k + 4 <= kc; k += 4)
    for (int u = 0; u < 4; u++) {
      const float *bk = b_off ? b + b_off[k + u] : b + (k + u) * b_stride;
      const float au = a[(k + u) * MR];
      acc[u][0] = vfmaq_n_f32(acc[u][0], vld1q_f32(bk), au);
      acc[u][1] = vfmaq_n_f32(acc[u][1], vld1q_f32(bk + 4), au);
    }
  for (; k < kc; k++) {
    const float *bk = b_off ? b + b_off[k] : b + k * b_stride;
    acc[0][0] = vfmaq_n_f32(acc[0][0], vld1q_f32(bk), a[k * MR]);
    acc[0][1] = vfmaq_n_f32(acc[0][1], vld1q_f32(bk + 4), a[k * MR]);
  }
  float32x4_t v0 = vaddq_f32(vaddq_f32(acc[0][0], acc[1][0]), vaddq_f32(acc[2][0], acc[3][0]));
  float32x4_t v1 = vaddq_f32(vaddq_f32(acc[0][1], acc[1][1]), vaddq_f32(acc[2][1], acc[3][1]));
  float tmp[NR] = {0};
  for (size_t j = 0; j < nc; j++) tmp[j] = accumulate ? c[j] : 0.0f;
  v0 = vaddq_f32(v0, vld1q_f32(tmp));
  v1 = vaddq_f32(v1, vld1q_f32(tmp + 4));
  if (act != NULL && act->kind != DYD_F32_ACT_NONE) v0 = act4(v0, act), v1 = act4(v1, act);
  vst1q_f32(tmp, v0);
  vst1q_f32(tmp + 4, v1);
  for (size_t j = 0; j < nc; j++) c[j] = tmp[j];
}

static void gemm_8x8(size_t mr, size_t nc, size_t kc, const float *a, const float *bias,
                     const float *b, size_t b_stride, const size_t *b_off, float *c, size_t c_stride,
                     int accumulate, const dyd_f32_act *act) {
  if (mr == 1) {
    gemv(nc, kc, a, bias, b, b_stride, b_off, c, accumulate, act);
    return;
  }
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
  for (size_t k = 0; k < kc; k++, a += MR) {
    const float *bk = b_off ? b + b_off[k] : b + k * b_stride;
    const float32x4_t al = vld1q_f32(a), ah = vld1q_f32(a + 4);
    const float32x4_t b0 = vld1q_f32(bk), b1 = vld1q_f32(bk + 4);
#define ROW(i, av, lane)                                        \
  acc[i][0] = vfmaq_laneq_f32(acc[i][0], b0, av, lane);          \
  acc[i][1] = vfmaq_laneq_f32(acc[i][1], b1, av, lane);
    ROW(0, al, 0) ROW(1, al, 1) ROW(2, al, 2) ROW(3, al, 3)
    ROW(4, ah, 0) ROW(5, ah, 1) ROW(6, ah, 2) ROW(7, ah, 3)
#undef ROW
  }
  const bool has_act = act != NULL && act->kind != DYD_F32_ACT_NONE;
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
      if (has_act) v0 = act4(v0, act), v1 = act4(v1, act);
      vst1q_f32(c_, v0);
      vst1q_f32(c_ + 4, v1);
    } else { /* the same vector arithmetic on the partial strip, through a buffer */
      float tmp[NR] = {0};
      for (size_t j = 0; j < nc; j++) tmp[j] = accumulate ? c_[j] : 0.0f;
      v0 = vaddq_f32(v0, vld1q_f32(tmp));
      v1 = vaddq_f32(v1, vld1q_f32(tmp + 4));
      if (has_act) v0 = act4(v0, act), v1 = act4(v1, act);
      vst1q_f32(tmp, v0);
      vst1q_f32(tmp + 4, v1);
      for (size_t j = 0; j < nc; j++) c_[j] = tmp[j];
    }
  }
}

static void act_row(size_t n, float *x, const dyd_f32_act *act) {
  if (act == NULL || act->kind == DYD_F32_ACT_NONE) return;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(x + i, act4(vld1q_f32(x + i), act));
  if (i < n) {
    float tmp[4] = {0};
    for (size_t j = 0; i + j < n; j++) tmp[j] = x[i + j];
    vst1q_f32(tmp, act4(vld1q_f32(tmp), act));
    for (size_t j = 0; i + j < n; j++) x[i + j] = tmp[j];
  }
}

/* Stride 2 (the 3x3/2 downsampling convs): LD2 deinterleaves 8 floats into 4 even, 4 odd. */
static void gather(size_t n, const float *src, size_t stride, float *dst) {
  size_t q = 0;
  if (stride == 2)
    for (; q + 4 < n; q += 4) vst1q_f32(dst + q, vld2q_f32(src + 2 * q).val[0]); /* reads to 2q + 7 */
  dyd_f32_gather_scalar(n - q, src + q * stride, stride, dst + q);
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

/* 4 columns of 4 rows: TRN pairs rows, then halves combine into one column each. */
static inline void transpose4x4(const float *a, size_t lda, size_t rows, float32x4_t c[4]) {
  float32x4_t r[4];
  for (size_t i = 0; i < 4; i++) r[i] = i < rows ? vld1q_f32(a + i * lda) : vdupq_n_f32(0.0f);
  const float32x4x2_t t01 = vtrnq_f32(r[0], r[1]), t23 = vtrnq_f32(r[2], r[3]);
  c[0] = vcombine_f32(vget_low_f32(t01.val[0]), vget_low_f32(t23.val[0]));
  c[1] = vcombine_f32(vget_low_f32(t01.val[1]), vget_low_f32(t23.val[1]));
  c[2] = vcombine_f32(vget_high_f32(t01.val[0]), vget_high_f32(t23.val[0]));
  c[3] = vcombine_f32(vget_high_f32(t01.val[1]), vget_high_f32(t23.val[1]));
}

/* An 8 x 4 block per step: rows 0-3 and 4-7 as two 4 x 4 transposes, a panel row
 * being one column of each. Missing rows are zero registers. */
static void pack(size_t rows, size_t k, const float *a, size_t lda, float *panel) {
  size_t q = 0;
  const size_t lo = DYD_MIN(rows, (size_t)4), hi = rows > 4 ? rows - 4 : 0;
  for (; q + 4 <= k; q += 4) {
    float32x4_t u[4], w[4];
    transpose4x4(a + q, lda, lo, u);
    transpose4x4(hi ? a + 4 * lda + q : a, lda, hi, w); /* no pointer past a short panel */
    float *p = panel + q * MR;
    for (int j = 0; j < 4; j++) {
      vst1q_f32(p + 8 * j, u[j]);
      vst1q_f32(p + 8 * j + 4, w[j]);
    }
  }
  dyd_f32_pack_scalar(rows, q, k, a, lda, MR, panel);
}

const dyd_f32_bundle dyd_f32_bundle_neon = {
    .mr = MR, .nr = NR, .gemm = gemm_8x8, .dw = dw_row, .act = act_row, .gather = gather, .pack = pack,
    .isa_suffix = "neon", .gemm_name = "dyd_f32_gemm_ukernel_8x8__neon",
};

#endif
