/*
 * The FP8 graph input: float32 -> E4M3FN codes (QuantizeLinear with a FLOAT8E4M3FN
 * zero point), code = dyd_fp8_e4m3_from_f32(x / scale, saturate), optionally into
 * NHWC from an image's NCHW planes. With saturate on x86 the encode runs 8 lanes at
 * a time (fp8-x86.h: the same bit arithmetic, so the same codes); without saturate
 * (overflow gives NaN) and elsewhere, the scalar conversion.
 */
#include "../common.h"
#include "fp8-x86.h"

#if defined(__x86_64__)
/* codes of n values x[0], x[stride], ... stored at y[0], y[y_step], ... */
DYD_F8_AVX2_TARGET static void encode_avx2(const float *x, uint8_t *y, size_t y_step, size_t n,
                                           float scale) {
  const __m256 s = _mm256_set1_ps(scale);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint8_t codes[16];
    _mm_storeu_si128((__m128i *)codes,
                     dyd_f8_pack8_avx2(dyd_f8_encode_avx2(_mm256_div_ps(_mm256_loadu_ps(x + i), s))));
    if (y_step == 1) {
      memcpy(y + i, codes, 8);
    } else {
      for (int k = 0; k < 8; k++) y[(i + (size_t)k) * y_step] = codes[k];
    }
  }
  for (; i < n; i++) y[i * y_step] = dyd_fp8_e4m3_from_f32(x[i] / scale, 1);
}
#endif

static void encode(const float *x, uint8_t *y, size_t y_step, size_t n, float scale, int saturate) {
#if defined(__x86_64__)
  if (saturate && dyd_active_isa() >= DYD_ISA_AVX2 && dyd_active_isa() <= DYD_ISA_AVX512VNNI) {
    encode_avx2(x, y, y_step, n, scale);
    return;
  }
#endif
  for (size_t i = 0; i < n; i++) y[i * y_step] = dyd_fp8_e4m3_from_f32(x[i] / scale, saturate);
}

void dyd_fp8_quantize_f32(const float *x, uint8_t *y, size_t n, float scale, int saturate) {
  encode(x, y, 1, n, scale, saturate);
}

void dyd_fp8_quantize_f32_to_nhwc(const float *x, uint8_t *y, size_t channels, size_t plane,
                                  size_t first_pixel, size_t pixels, float scale, int saturate) {
  for (size_t c = 0; c < channels; c++)
    encode(x + c * plane + first_pixel, y + first_pixel * channels + c, channels, pixels, scale,
           saturate);
}
