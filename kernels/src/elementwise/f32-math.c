/*
 * exp, sigmoid, tanh, erf and HardSwish over float32 arrays for the float layers. One
 * branch-free scalar body per function (selects, no library calls), compiled once per
 * ISA with its target attribute so that the compiler vectorises the loop 8 or 16 lanes
 * wide; every ISA computes the same operations, so the results agree to the rounding
 * of fused multiply-adds.
 *
 * exp: x = n ln2 + r with |r| <= ln2/2 (ln2 split so that n*ln2_hi is exact), a degree-6
 * polynomial for e^r (truncation below 2^-23 relative), 2^n put into the exponent field;
 * inputs clamped to [-87.3, 88.3] where 2^n stays normal. erf: the odd Taylor series to
 * x^9 for |x| < 0.5 (relative error below 1e-6), else Abramowitz-Stegun 7.1.26,
 * 1 - t P(t) e^{-x^2} with t = 1/(1 + 0.3275911|x|) (absolute error below 1.5e-7).
 * tanh: 1 - 2/(e^{2|x|} + 1) with the sign restored (|x| >= 9 is +-1 in float32).
 * HardSwish: x * min(max(x/6 + 1/2, 0), 1), the scalar definition's operations in order.
 */
#include "../common.h"

static inline float clampf(float x, float lo, float hi) {
  x = x < lo ? lo : x;
  return x > hi ? hi : x;
}

static inline float exp_approx(float x) {
  const float xc = clampf(x, -87.3f, 88.3f);
  const float t = xc * 1.442695040888963f + 12582912.0f; /* low mantissa bits: round(x log2 e) */
  const float n = t - 12582912.0f;
  const float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1;
  p = p * r + 1;
  int32_t ti;
  memcpy(&ti, &t, sizeof ti);
  const int32_t e = (ti - 0x4B400000 + 127) << 23;
  float scale;
  memcpy(&scale, &e, sizeof scale);
  return p * scale;
}

static inline float erf_approx(float x) {
  const float a = x < 0 ? -x : x, a2 = a * a;
  float series = 1.0f / 216;
  series = series * -a2 + 1.0f / 42;
  series = series * -a2 + 1.0f / 10;
  series = series * -a2 + 1.0f / 3;
  series = (series * -a2 + 1) * a * 1.1283791670955126f;
  const float t = 1 / (1 + 0.3275911f * a);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float tail = 1 - p * t * exp_approx(-a2);
  const float y = a < 0.5f ? series : tail;
  return x < 0 ? -y : y;
}

static inline float tanh_approx(float x) {
  const float a = clampf(x < 0 ? -x : x, 0, 9);
  const float t = 1 - 2 / (exp_approx(2 * a) + 1);
  return x < 0 ? -t : t;
}

static inline float apply(dyd_f32_function f, float x) {
  switch (f) {
  case DYD_F32_EXP: return exp_approx(x);
  case DYD_F32_SIGMOID: return 1 / (1 + exp_approx(-x));
  case DYD_F32_TANH: return tanh_approx(x);
  case DYD_F32_ERF: return erf_approx(x);
  default: return x * clampf(x / 6 + 0.5f, 0, 1);
  }
}

/* y[i] depends on x[i] alone, so the loop is safe to vectorise even when y is x (the
 * layers run in place); without the hint the compilers' overlap check sends y == x to
 * the scalar loop. */
#if defined(__clang__)
#define ELEMENTWISE _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define ELEMENTWISE _Pragma("GCC ivdep")
#else
#define ELEMENTWISE
#endif

#define LOOP(function) ELEMENTWISE for (size_t i = 0; i < n; i++) y[i] = apply(function, x[i])

/* One loop per function so that each is vectorised with its body inlined. */
#define DEFINE(name, attributes)                                                 \
  attributes static void name(dyd_f32_function f, const float *x, float *y, size_t n) { \
    switch (f) {                                                                 \
    case DYD_F32_EXP: LOOP(DYD_F32_EXP); break;                                  \
    case DYD_F32_SIGMOID: LOOP(DYD_F32_SIGMOID); break;                          \
    case DYD_F32_TANH: LOOP(DYD_F32_TANH); break;                                \
    case DYD_F32_ERF: LOOP(DYD_F32_ERF); break;                                  \
    default: LOOP(DYD_F32_HARDSWISH); break;                                     \
    }                                                                            \
  }

DEFINE(map_scalar, )
#if defined(__x86_64__)
DEFINE(map_avx2, __attribute__((target("avx2,fma"))))
DEFINE(map_avx512, __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))))
#endif

void dyd_f32_map(dyd_f32_function f, const float *x, float *y, size_t n) {
#if defined(__x86_64__)
  switch (dyd_active_isa()) {
  case DYD_ISA_AVX512VNNI: map_avx512(f, x, y, n); return;
  case DYD_ISA_AVX2: map_avx2(f, x, y, n); return;
  default: break;
  }
#endif
  map_scalar(f, x, y, n);
}

const char *dyd_f32_map_kernel_name(void) {
#if defined(__x86_64__)
  switch (dyd_active_isa()) {
  case DYD_ISA_AVX512VNNI: return "dyd_f32_vmath__avx512";
  case DYD_ISA_AVX2: return "dyd_f32_vmath__avx2";
  default: break;
  }
#elif defined(__aarch64__)
  return "dyd_f32_vmath__neon";
#endif
  return "dyd_f32_vmath__scalar";
}
