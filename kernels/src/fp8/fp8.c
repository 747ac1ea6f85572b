/*
 * FP8 E4M3FN <-> float32, with ONNX's semantics (Cast, QuantizeLinear and
 * DequantizeLinear to and from FLOAT8E4M3FN, as onnx.reference computes them).
 *
 * The format: S.EEEE.MMM, exponent bias 7, no infinities, one NaN per sign
 * (S.1111.111), largest finite 448 = 1.110b * 2^8, smallest normal 2^-6,
 * subnormals m * 2^-9 for m = 1..7. Every code is exact in float32.
 *
 * Encoding rounds to nearest, ties to even, in integer arithmetic on the float's
 * bits, so the result does not depend on the floating-point environment
 * (rounding mode, flush-to-zero). The out-of-range rule follows from the
 * rounding: 464 is the tie between 448 (mantissa 110) and the would-be 480
 * (mantissa 111, the NaN pattern), so |x| <= 464 rounds to at most 448 and
 * anything larger overflows. Overflow and infinities give +-448 when saturating
 * and NaN otherwise; NaN inputs keep their sign (0x7F or 0xFF), as ml_dtypes,
 * which onnx.reference uses, does. ONNX's saturating path clips to [-448, 448]
 * before rounding; that agrees with rounding first because (448, 464] rounds to
 * 448 anyway.
 */
#include "../common.h"

#define F32_INF_BITS 0x7F800000u
#define F32_464_BITS 0x43E80000u /* 464.0f: the largest magnitude that rounds to 448 */
#define F32_MIN_NORMAL_E4M3_BITS 0x3C800000u /* 2^-6 */
#define F32_HALF_MIN_SUB_E4M3_BITS 0x3A800000u /* 2^-10: half the smallest subnormal, a tie to 0 */

static inline uint32_t f32_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

static inline float f32_from_bits(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

float dyd_fp8_e4m3_to_f32(uint8_t code) {
  const uint32_t sign = (uint32_t)(code & 0x80) << 24;
  const uint32_t mag = code & 0x7Fu;
  if (mag == 0x7F) return f32_from_bits(sign | 0x7FC00000u); /* quiet NaN, sign kept */
  if (mag >= 0x08) /* normal: move exponent and mantissa up, rebias 7 -> 127 */
    return f32_from_bits(sign | ((mag << 20) + (120u << 23)));
  /* subnormal m * 2^-9: exact (m < 8) and never a float32 subnormal */
  return f32_from_bits(sign | f32_bits((float)mag * 0x1p-9f));
}

uint8_t dyd_fp8_e4m3_from_f32(float x, int saturate) {
  const uint32_t u = f32_bits(x);
  const uint8_t sign = (uint8_t)((u >> 24) & 0x80);
  const uint32_t a = u & 0x7FFFFFFFu;
  if (a > F32_INF_BITS) return sign | 0x7F;                    /* NaN */
  if (a > F32_464_BITS) return sign | (saturate ? 0x7E : 0x7F); /* overflow or infinity */
  if (a >= F32_MIN_NORMAL_E4M3_BITS) {
    /* Rebias the exponent (127 -> 7) in place, then drop 20 mantissa bits with
     * round half to even; a carry out of the mantissa correctly bumps the exponent. */
    const uint32_t r = a - (120u << 23);
    return sign | (uint8_t)((r + 0x7FFFFu + ((r >> 20) & 1u)) >> 20);
  }
  if (a <= F32_HALF_MIN_SUB_E4M3_BITS) return sign; /* rounds to (signed) zero */
  /* Subnormal target, 2^-10 < |x| < 2^-6, so the float32 is normal with biased
   * exponent e in [117, 120]: |x| * 2^9 = significand * 2^(e - 141). Shift right by
   * 141 - e (21..24) with round half to even; m = 8 is the smallest normal, 0x08. */
  const uint32_t e = a >> 23;
  const uint32_t sig = 0x800000u | (a & 0x7FFFFFu);
  const uint32_t sh = 141u - e;
  const uint32_t m = (sig + (1u << (sh - 1)) - 1u + ((sig >> sh) & 1u)) >> sh;
  return sign | (uint8_t)m;
}

void dyd_fp8_e4m3_from_f32_array(const float *x, uint8_t *y, size_t n, float scale, int saturate) {
  /* A true float32 division, as the reference computes x / y_scale. */
  for (size_t i = 0; i < n; i++) y[i] = dyd_fp8_e4m3_from_f32(x[i] / scale, saturate);
}

void dyd_fp8_e4m3_to_f32_array(const uint8_t *x, float *y, size_t n, float scale) {
  for (size_t i = 0; i < n; i++) y[i] = dyd_fp8_e4m3_to_f32(x[i]) * scale;
}
