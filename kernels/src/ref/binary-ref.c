/*
 * Reference element-wise add and mul, and the 8-bit table lookup. The dyadic
 * add rescales both inputs to a common shift and rounds once; everything in
 * int64 (a multiplier below 2^31 times a difference below 2^9 cannot overflow).
 */
#include "dyadic_kernels.h"
#include "../common.h"

#include <math.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

static int32_t load_act(const void *base, size_t index, int is_signed) {
  return is_signed ? (int32_t)((const int8_t *)base)[index]
                   : (int32_t)((const uint8_t *)base)[index];
}

static void store_act(void *base, size_t index, int is_signed, int32_t v) {
  if (is_signed) ((int8_t *)base)[index] = (int8_t)v;
  else ((uint8_t *)base)[index] = (uint8_t)v;
}

static int32_t clamp_i64(int64_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : v > hi ? hi : (int32_t)v;
}

void dyd_ref_qadd(const dyd_binary_params *p, const void *a, size_t a_inc, const void *b,
                  size_t b_inc, void *y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const int32_t da = load_act(a, i * a_inc, p->a_signed) - p->a_zero_point;
    const int32_t db = load_act(b, i * b_inc, p->b_signed) - p->b_zero_point;
    int32_t out;
    if (p->kind == DYD_REQUANT_DYADIC) {
      /* 128 bits: any shift in [1, 127] is exact */
      __int128 acc = (__int128)p->a_mul * da + (__int128)p->b_mul * db;
      acc = (acc + ((__int128)1 << (p->shift - 1))) >> p->shift;
      out = clamp_i64((int64_t)(acc + p->y_zero_point), p->qmin, p->qmax);
    } else {
      float t = p->a_scale * (float)da;
      float u = p->b_scale * (float)db;
      DYD_FP_BARRIER(t);
      DYD_FP_BARRIER(u);
      float v = t + u;
      DYD_FP_BARRIER(v);
      float r = nearbyintf(v / p->y_scale);
      /* Integer-valued bounds: clamping the rounded float is exact. */
      const float lo = (float)((int64_t)p->qmin - p->y_zero_point);
      const float hi = (float)((int64_t)p->qmax - p->y_zero_point);
      out = r < lo ? p->qmin : r > hi ? p->qmax : (int32_t)r + p->y_zero_point;
    }
    store_act(y, i, p->y_signed, out);
  }
}

void dyd_ref_qmul(const dyd_binary_params *p, const void *a, size_t a_inc, const void *b,
                  size_t b_inc, void *y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const int32_t da = load_act(a, i * a_inc, p->a_signed) - p->a_zero_point;
    const int32_t db = load_act(b, i * b_inc, p->b_signed) - p->b_zero_point;
    const int32_t acc = da * db;
    const int32_t out =
        p->kind == DYD_REQUANT_DYADIC
            ? dyd_requantize_dyadic(acc, p->a_mul, p->shift, p->y_zero_point, p->qmin, p->qmax)
            : dyd_requantize_fp32(acc, p->a_scale, p->y_zero_point, p->qmin, p->qmax);
    store_act(y, i, p->y_signed, out);
  }
}

void dyd_ref_lut(const uint8_t table[256], const uint8_t *x, uint8_t *y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = table[x[i]];
}
