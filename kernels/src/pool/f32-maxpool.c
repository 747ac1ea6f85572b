/*
 * Float32 max pooling of NCHW planes, in two passes per plane: the max over each
 * window's columns for every input row (into a buffer of in_h x out_w), then the max
 * over each window's rows. Each input row is first copied between -inf borders, so the
 * column pass needs no bounds checks: a -inf tap never changes a running max that
 * starts at -inf, which is what skipping a padded tap does. The max is
 * `v >= m ? v : m` (a NaN input is passed over, as the reference's Swift.max does),
 * and max is associative, so the result equals the window-by-window definition.
 *
 * Kernel names: dyd_f32_maxpool_2d__scalar, dyd_f32_maxpool_2d__avx2,
 * dyd_f32_maxpool_2d__avx512 (the same loops compiled for wider vectors).
 */
#include "../common.h"

#include <math.h>

static size_t padded_width(const dyd_f32_maxpool_desc *d) {
  const size_t span = (size_t)(d->out_w - 1) * d->stride_w + (size_t)(d->kernel_w - 1) * d->dilation_w + 1;
  const size_t data = (size_t)d->pad_left + d->in_w;
  return span > data ? span : data;
}

size_t dyd_f32_maxpool_2d_workspace_size(const dyd_f32_maxpool_desc *d) {
  const size_t positions = (size_t)(d->out_w - 1) * d->stride_w + 1;
  return ((size_t)d->in_h * d->out_w + padded_width(d) + positions) * sizeof(float);
}

#define MAXPOOL_BODY                                                                                         \
  const size_t in_w = d->in_w, in_h = d->in_h, out_w = d->out_w, out_h = d->out_h;                          \
  const size_t kw = d->kernel_w, kh = d->kernel_h, sw = d->stride_w, sh = d->stride_h;                      \
  const size_t dw = d->dilation_w, dh = d->dilation_h, pl = d->pad_left;                                     \
  const size_t width = padded_width(d);                                                                      \
  const size_t positions = (out_w - 1) * sw + 1;                                                             \
  float *restrict rows = workspace, *restrict padded = rows + in_h * out_w, *restrict wide = padded + width;   \
  for (size_t i = 0; i < width; i++) padded[i] = -INFINITY;                                                  \
  for (size_t p = 0; p < planes; p++) {                                                                      \
    const float *src = x + p * in_h * in_w;                                                                  \
    float *dst = y + p * out_h * out_w;                                                                      \
    for (size_t iy = 0; iy < in_h; iy++) {                                                                   \
      for (size_t i = 0; i < in_w; i++) padded[pl + i] = src[iy * in_w + i];                                 \
      float *restrict r = rows + iy * out_w;                                                                 \
      /* The window max at every position (tap-major, contiguous: it vectorises),      \
       * then every stride-th of them. */                                                                    \
      for (size_t i = 0; i < positions; i++) wide[i] = -INFINITY;                                            \
      for (size_t k = 0; k < kw; k++) {                                                                      \
        const float *restrict tap = padded + k * dw;                                                         \
        for (size_t i = 0; i < positions; i++) wide[i] = tap[i] >= wide[i] ? tap[i] : wide[i];               \
      }                                                                                                      \
      for (size_t ox = 0; ox < out_w; ox++) r[ox] = wide[ox * sw];                                           \
    }                                                                                                        \
    for (size_t oy = 0; oy < out_h; oy++) {                                                                  \
      float *restrict out = dst + oy * out_w;                                                                \
      for (size_t ox = 0; ox < out_w; ox++) out[ox] = -INFINITY;                                             \
      for (size_t k = 0; k < kh; k++) {                                                                      \
        const ptrdiff_t iy = (ptrdiff_t)(oy * sh + k * dh) - (ptrdiff_t)d->pad_top;                          \
        if (iy < 0 || iy >= (ptrdiff_t)in_h) continue;                                                       \
        const float *restrict r = rows + (size_t)iy * out_w;                                                 \
        for (size_t ox = 0; ox < out_w; ox++) out[ox] = r[ox] >= out[ox] ? r[ox] : out[ox];                 \
      }                                                                                                      \
    }                                                                                                        \
  }

#define MAXPOOL_ARGS const dyd_f32_maxpool_desc *d, const float *x, float *y, size_t planes, void *workspace

static void maxpool_scalar(MAXPOOL_ARGS) { MAXPOOL_BODY }

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void maxpool_avx2(MAXPOOL_ARGS) { MAXPOOL_BODY }
__attribute__((target("avx512f"))) static void maxpool_avx512(MAXPOOL_ARGS) { MAXPOOL_BODY }
#endif

const char *dyd_f32_maxpool_2d_kernel_name(void) {
#if defined(__x86_64__)
  if (dyd_active_isa() >= DYD_ISA_AVX512VNNI) return "dyd_f32_maxpool_2d__avx512";
  if (dyd_active_isa() >= DYD_ISA_AVX2) return "dyd_f32_maxpool_2d__avx2";
#endif
  return "dyd_f32_maxpool_2d__scalar";
}

void dyd_f32_maxpool_2d(const dyd_f32_maxpool_desc *d, const float *x, float *y, size_t planes, void *workspace) {
#if defined(__x86_64__)
  if (dyd_active_isa() >= DYD_ISA_AVX512VNNI) {
    maxpool_avx512(d, x, y, planes, workspace);
    return;
  }
  if (dyd_active_isa() >= DYD_ISA_AVX2) {
    maxpool_avx2(d, x, y, planes, workspace);
    return;
  }
#endif
  maxpool_scalar(d, x, y, planes, workspace);
}
