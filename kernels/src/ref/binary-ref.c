/*
 * Reference element-wise add and mul, and the 8-bit table lookup. The dyadic
 * add rescales both inputs to a common shift and rounds once; everything in
 * int64 (a multiplier below 2^31 times a difference below 2^9 cannot overflow).
 * The fp32 add is ONNX Runtime's x86 QLinearAdd to the bit (see the header).
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

void dyd_ort_add_constants(const dyd_binary_params *p, float *ra, float *rb, float *k) {
  *ra = p->a_scale / p->y_scale;
  *rb = p->b_scale / p->y_scale;
  float bz = *rb * (float)p->b_zero_point; /* rounded on its own, not fused */
  DYD_FP_BARRIER(bz);
  *k = (float)p->y_zero_point - fmaf(*ra, (float)p->a_zero_point, bz);
}

void dyd_ref_qadd(const dyd_binary_params *p, const void *a, size_t a_inc, const void *b,
                  size_t b_inc, void *y, size_t n) {
  if (p->kind != DYD_REQUANT_DYADIC && a_inc == 0 && b_inc != 0) {
    /* ONNX Runtime puts a broadcast scalar second */
    dyd_binary_params q = *p;
    q.a_signed = p->b_signed, q.b_signed = p->a_signed;
    q.a_zero_point = p->b_zero_point, q.b_zero_point = p->a_zero_point;
    q.a_scale = p->b_scale, q.b_scale = p->a_scale;
    dyd_ref_qadd(&q, b, b_inc, a, a_inc, y, n);
    return;
  }
  float ra = 0, rb = 0, k = 0;
  if (p->kind != DYD_REQUANT_DYADIC) dyd_ort_add_constants(p, &ra, &rb, &k);
  for (size_t i = 0; i < n; i++) {
    const int32_t xa = load_act(a, i * a_inc, p->a_signed), xb = load_act(b, i * b_inc, p->b_signed);
    int32_t out;
    if (p->kind == DYD_REQUANT_DYADIC) {
      const int32_t da = xa - p->a_zero_point, db = xb - p->b_zero_point;
      /* 128 bits: any shift in [1, 127] is exact */
      __int128 acc = (__int128)p->a_mul * da + (__int128)p->b_mul * db;
      acc = (acc + ((__int128)1 << (p->shift - 1))) >> p->shift;
      out = clamp_i64((int64_t)(acc + p->y_zero_point), p->qmin, p->qmax);
    } else {
      const float c = fmaf((float)xa, ra, fmaf((float)xb, rb, k));
      const float r = nearbyintf(c);
      /* Integer-valued bounds: clamping the rounded float is exact. */
      out = r < (float)p->qmin ? p->qmin : r > (float)p->qmax ? p->qmax : (int32_t)r;
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
