/*
 * Row-wise integer kernels of the transformer layers whose shapes change per call:
 * requantization of an int32 array (after a product of two activations) and the integer
 * Softmax of 8-bit rows. Plain C on the scalar requantization every kernel's tail uses
 * (dyd_requantize_dyadic / _fp32), so the bytes are the oracle's by construction.
 */
#include "../common.h"

/* The oracle's formula (dyd_requantize_dyadic) for |acc| < 2^31 in 64-bit arithmetic:
 * |acc * m| < 2^62, so adding half = 2^(shift-1) cannot overflow for shift <= 63; a
 * larger shift rounds every such product to 0 (callers handle it). */
static inline uint8_t requantize_i32(int64_t acc, const dyd_requant_scalar *r, int64_t half) {
  const int64_t v = ((acc * r->multiplier + half) >> r->shift) + r->zero_point;
  return (uint8_t)(v < r->qmin ? r->qmin : (v > r->qmax ? r->qmax : v));
}

void dyd_requantize_array(const int32_t *acc, void *y, size_t n, const dyd_requant_scalar *r, int y_signed) {
  uint8_t *out = y;
  if (r->kind == DYD_REQUANT_DYADIC) {
    if (r->shift >= 64) { /* every int32 product rounds to 0 (see requantize_i32) */
      const int32_t v = r->zero_point < r->qmin ? r->qmin : (r->zero_point > r->qmax ? r->qmax : r->zero_point);
      memset(out, (uint8_t)v, n);
      return;
    }
    const int64_t half = (int64_t)1 << (r->shift - 1);
    for (size_t i = 0; i < n; i++) out[i] = requantize_i32(acc[i], r, half);
  } else {
    for (size_t i = 0; i < n; i++)
      out[i] = (uint8_t)dyd_requantize_fp32_inline(acc[i], r->scale, r->zero_point, r->qmin, r->qmax);
  }
  (void)y_signed; /* an int8 result's bit pattern is its low byte either way */
}

/* p = round(e * 2^bits / sum) by a double reciprocal, corrected to the exact floor (the
 * numerator stays below 2^52, so the estimate is within one). Branch-free, so that the
 * loop over a row's distances vectorises. */
static inline int64_t softmax_probability(int64_t e, int64_t sum, int64_t half, double reciprocal, int probability_bits) {
  const int64_t num = (e << probability_bits) + half;
  int64_t q = (int64_t)((double)num * reciprocal);
  const int64_t product = q * sum;
  q -= product > num;
  q += product <= num && num - product >= sum;
  return q;
}

/* The probability requantized; q <= 2^probability_bits < 2^31. */
static inline uint8_t softmax_output(int64_t e, int64_t sum, int64_t half, double reciprocal, int probability_bits,
                                     const dyd_requant_scalar *r) {
  const int64_t q = softmax_probability(e, sum, half, reciprocal, probability_bits);
  return r->shift < 64 ? requantize_i32(q, r, (int64_t)1 << (r->shift - 1))
                       : (uint8_t)dyd_requantize_dyadic_inline(q, r->multiplier, r->shift, r->zero_point, r->qmin, r->qmax);
}

/* out[d] for d < count: softmax_output for a row's distances, compiled for the baseline
 * and for AVX-512 (DQ: 64-bit multiplies and conversions in vectors); both give the same
 * integers. Requires shift < 64. */
#define DISTANCES_BODY                                                                              \
  const int64_t round = (int64_t)1 << (r->shift - 1);                                               \
  for (int d = 0; d < count; d++)                                                                   \
    out[d] = requantize_i32(softmax_probability(table[d], sum, half, reciprocal, probability_bits), r, round);

#define DISTANCES_ARGS                                                                              \
  const int64_t *table, int count, int64_t sum, int64_t half, double reciprocal, int probability_bits, \
      const dyd_requant_scalar *r, uint8_t *out

static void distances_scalar(DISTANCES_ARGS) { DISTANCES_BODY }

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512dq,avx512vl"))) static void distances_avx512(DISTANCES_ARGS) { DISTANCES_BODY }
#endif

void dyd_softmax_u8_rows(const uint8_t *x, uint8_t *y, size_t outer, size_t n, size_t inner, int x_signed,
                         const int64_t table[256], int probability_bits, const dyd_requant_scalar *r) {
  const uint8_t flip = x_signed ? 0x80 : 0; /* signed codes compare as unsigned with the sign bit flipped */
  uint8_t out[256];
  void (*distances)(DISTANCES_ARGS) = distances_scalar;
#if defined(__x86_64__)
  if (dyd_active_isa() >= DYD_ISA_AVX512VNNI) distances = distances_avx512;
#endif
  for (size_t o = 0; o < outer; o++) {
    for (size_t j = 0; j < inner; j++) {
      const uint8_t *xr = x + o * n * inner + j;
      uint8_t *yr = y + o * n * inner + j;
      int largest = 0, smallest = 255;
      for (size_t i = 0; i < n; i++) {
        const int c = xr[i * inner] ^ flip;
        largest = c > largest ? c : largest;
        smallest = c < smallest ? c : smallest;
      }
      int64_t sum = 0;
      for (size_t i = 0; i < n; i++) sum += table[largest - (xr[i * inner] ^ flip)];
      /* An output depends on its row's sum and its own d = largest - code only: one byte
       * per d the row holds, or per element when the row is shorter than its spread of
       * codes (a softmax over a few bins). */
      const double reciprocal = 1.0 / (double)sum;
      const int64_t half = sum / 2;
      if ((size_t)(largest - smallest) + 1 <= n) {
        if (r->shift < 64)
          distances(table, largest - smallest + 1, sum, half, reciprocal, probability_bits, r, out);
        else
          for (int d = 0; d <= largest - smallest; d++)
            out[d] = softmax_output(table[d], sum, half, reciprocal, probability_bits, r);
        for (size_t i = 0; i < n; i++) yr[i * inner] = out[largest - (xr[i * inner] ^ flip)];
      } else {
        for (size_t i = 0; i < n; i++)
          yr[i * inner] = softmax_output(table[largest - (xr[i * inner] ^ flip)], sum, half, reciprocal, probability_bits, r);
      }
    }
  }
}
