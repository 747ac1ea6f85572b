/*
 * The two requantizations of the numerics contract, one accumulator at a time.
 * Every SIMD kernel reproduces these bit for bit, so they favour obvious
 * correctness: the dyadic product is formed in 128 bits, which makes any int64
 * accumulator and any shift in [1, 62] exact without reasoning about overflow.
 */
#include "dyadic_kernels.h"
#include "../common.h"

#include <math.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

int32_t dyd_requantize_dyadic(int64_t acc, int32_t multiplier, int32_t shift,
                              int32_t zero_point, int32_t qmin, int32_t qmax) {
  /* One rounding, ties toward +infinity: add half an output step, then floor. */
  return dyd_requantize_dyadic_inline(acc, multiplier, shift, zero_point, qmin, qmax);
}

int32_t dyd_requantize_fp32(int32_t acc, float scale, int32_t zero_point,
                            int32_t qmin, int32_t qmax) {
  return dyd_requantize_fp32_inline(acc, scale, zero_point, qmin, qmax);
}
