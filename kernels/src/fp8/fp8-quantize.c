/*
 * The FP8 graph input: float32 -> E4M3FN codes (QuantizeLinear with a FLOAT8E4M3FN
 * zero point), code = dyd_fp8_e4m3_from_f32(x / scale, saturate), optionally into
 * NHWC from an image's NCHW planes. With saturate on x86 the encode runs 16 lanes
 * (AVX-512) or 8 (AVX2) at a time (fp8-x86.h: the same quotient and codes as the
 * scalar form); without saturate (overflow gives NaN) and elsewhere, the scalar one.
 */
#include "../common.h"
#include "fp8-x86.h"

#if defined(__x86_64__)
/* the encoded codes (one per int32 lane, 8 or 16 of them) to y[0], y[y_step], ... */
static void put_codes(const uint8_t *codes, size_t count, uint8_t *y, size_t y_step) {
  if (y_step == 1) {
    memcpy(y, codes, count);
  } else {
    for (size_t k = 0; k < count; k++) y[k * y_step] = codes[k];
  }
}

/* codes of n values x[0], x[1], ... stored at y[0], y[y_step], ... */
DYD_F8_AVX2_TARGET static void encode_avx2(const float *x, uint8_t *y, size_t y_step, size_t n,
                                           float scale) {
  const __m256 s = _mm256_set1_ps(scale), r = _mm256_set1_ps(1.0f / scale);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint8_t codes[16];
    _mm_storeu_si128((__m128i *)codes,
                     dyd_f8_pack8_avx2(dyd_f8_encode_avx2(dyd_f8_div_avx2(_mm256_loadu_ps(x + i), s, r))));
    put_codes(codes, 8, y + i * y_step, y_step);
  }
  for (; i < n; i++) y[i * y_step] = dyd_fp8_e4m3_from_f32(x[i] / scale, 1);
}

DYD_F8_AVX512_TARGET static void encode_avx512(const float *x, uint8_t *y, size_t y_step, size_t n,
                                               float scale) {
  const __m512 s = _mm512_set1_ps(scale), r = _mm512_set1_ps(1.0f / scale);
  for (size_t i = 0; i < n; i += 16) {
    const size_t k = DYD_MIN((size_t)16, n - i);
    const __mmask16 m = (__mmask16)(k == 16 ? 0xFFFF : (1u << k) - 1);
    uint8_t codes[16];
    _mm_storeu_si128((__m128i *)codes, _mm512_cvtepi32_epi8(dyd_f8_encode_avx512(
                                           dyd_f8_div_avx512(_mm512_maskz_loadu_ps(m, x + i), s, r))));
    put_codes(codes, k, y + i * y_step, y_step);
  }
}
#endif

static void encode(dyd_isa isa, const float *x, uint8_t *y, size_t y_step, size_t n, float scale,
                   int saturate) {
#if defined(__x86_64__)
  const float r = 1.0f / scale; /* the vector forms divide through it: it must be finite */
  if (r - r != 0.0f) isa = DYD_ISA_SCALAR;
  if (saturate && isa == DYD_ISA_AVX512VNNI) {
    encode_avx512(x, y, y_step, n, scale);
    return;
  }
  if (saturate && isa == DYD_ISA_AVX2) {
    encode_avx2(x, y, y_step, n, scale);
    return;
  }
#endif
  (void)isa;
  for (size_t i = 0; i < n; i++) y[i * y_step] = dyd_fp8_e4m3_from_f32(x[i] / scale, saturate);
}

void dyd_fp8_quantize_f32_for_isa(dyd_isa isa, const float *x, uint8_t *y, size_t n, float scale,
                                  int saturate) {
  encode(dyd_isa_supported(isa), x, y, 1, n, scale, saturate);
}

void dyd_fp8_quantize_f32(const float *x, uint8_t *y, size_t n, float scale, int saturate) {
  encode(dyd_active_isa(), x, y, 1, n, scale, saturate);
}

void dyd_fp8_quantize_f32_to_nhwc(const float *x, uint8_t *y, size_t channels, size_t plane,
                                  size_t first_pixel, size_t pixels, float scale, int saturate) {
  const dyd_isa isa = dyd_active_isa();
  for (size_t c = 0; c < channels; c++)
    encode(isa, x + c * plane + first_pixel, y + first_pixel * channels + c, channels, pixels, scale,
           saturate);
}
