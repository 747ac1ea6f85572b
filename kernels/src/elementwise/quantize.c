/*
 * The graph's input conversion: float32 -> 8-bit (QuantizeLinear, per tensor),
 * optionally fused with the NCHW -> NHWC reordering that every image input needs.
 *
 * Quantize follows ONNX Runtime: y = saturate(round_half_even(x / scale) + z), a
 * true division; NaN gives qmin. Clamping x / scale to [qmin - z, qmax - z] before
 * rounding gives the same result (the bounds are integers and rounding is
 * monotonic) and keeps |v| < 2^22, where adding and subtracting 1.5 * 2^23 rounds
 * half to even in the default rounding mode. The loops are plain C with selects
 * so that compilers vectorize them for the baseline ISA; they move bytes and are
 * not worth per-ISA versions.
 */
#include "../common.h"

#include <math.h>

#define ROUNDING_MAGIC 12582912.0f /* 1.5 * 2^23 */
#define BLOCK 64

static void quantize_run(const float *x, size_t x_stride, uint8_t *y, size_t n, float scale,
                         float lo, float hi, int32_t zero_point) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i * x_stride] / scale;
    v = v > lo ? v : lo; /* NaN fails the comparison and becomes lo */
    v = v < hi ? v : hi;
    v = (v + ROUNDING_MAGIC) - ROUNDING_MAGIC;
    y[i] = (uint8_t)((int32_t)v + zero_point);
  }
}

void dyd_quantize_f32(const float *x, void *y, size_t n, float scale, int32_t zero_point,
                      int is_signed) {
  const int32_t qmin = is_signed ? -128 : 0, qmax = is_signed ? 127 : 255;
  quantize_run(x, 1, y, n, scale, (float)(qmin - zero_point), (float)(qmax - zero_point),
               zero_point);
}

/* tmp holds BLOCK bytes per channel; `channels` is a constant where inlined. */
__attribute__((always_inline)) static inline void interleave(const uint8_t *tmp, uint8_t *y, size_t m,
                                                             size_t channels) {
  for (size_t p = 0; p < m; p++)
    for (size_t c = 0; c < channels; c++) y[p * channels + c] = tmp[c * BLOCK + p];
}

void dyd_quantize_f32_to_nhwc(const float *x, void *y, size_t channels, size_t plane,
                              size_t first_pixel, size_t pixels, float scale, int32_t zero_point,
                              int is_signed) {
  const int32_t qmin = is_signed ? -128 : 0, qmax = is_signed ? 127 : 255;
  const float lo = (float)(qmin - zero_point), hi = (float)(qmax - zero_point);
  uint8_t *out = y;
  const size_t end = first_pixel + pixels;
  if (channels > BLOCK) {
    for (size_t c = 0; c < channels; c++)
      for (size_t p = first_pixel; p < end; p++)
        quantize_run(x + c * plane + p, 1, out + p * channels + c, 1, scale, lo, hi, zero_point);
    return;
  }
  /* Quantize BLOCK pixels of each channel (contiguous, vectorizable), then interleave. */
  uint8_t tmp[BLOCK * BLOCK];
  for (size_t p0 = first_pixel; p0 < end; p0 += BLOCK) {
    const size_t m = DYD_MIN((size_t)BLOCK, end - p0);
    for (size_t c = 0; c < channels; c++)
      quantize_run(x + c * plane + p0, 1, tmp + c * BLOCK, m, scale, lo, hi, zero_point);
    uint8_t *dst = out + p0 * channels;
    switch (channels) { /* image inputs: one, three or four channels */
      case 1: interleave(tmp, dst, m, 1); break;
      case 3: interleave(tmp, dst, m, 3); break;
      case 4: interleave(tmp, dst, m, 4); break;
      default: interleave(tmp, dst, m, channels); break;
    }
  }
}

/* Sixteen independent lanes, each a select or an add, which compilers vectorize for the
 * baseline ISA; v * 0 is 0 for every finite v and NaN otherwise, so one sum flags both
 * NaN and infinity. */
int dyd_f32_range(const float *x, size_t n, float *lo, float *hi) {
  float l[16], h[16], z[16];
  for (int j = 0; j < 16; j++) {
    l[j] = INFINITY;
    h[j] = -INFINITY;
    z[j] = 0;
  }
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) {
      const float v = x[i + j];
      l[j] = v < l[j] ? v : l[j];
      h[j] = v > h[j] ? v : h[j];
      z[j] += v * 0.0f;
    }
  for (; i < n; i++) {
    const float v = x[i];
    l[0] = v < l[0] ? v : l[0];
    h[0] = v > h[0] ? v : h[0];
    z[0] += v * 0.0f;
  }
  float lmin = l[0], hmax = h[0], zsum = 0;
  for (int j = 0; j < 16; j++) {
    lmin = l[j] < lmin ? l[j] : lmin;
    hmax = h[j] > hmax ? h[j] : hmax;
    zsum += z[j];
  }
  if (zsum != 0 || n == 0) return 0;
  *lo = lmin;
  *hi = hmax;
  return 1;
}
