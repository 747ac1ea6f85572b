/*
 * Portable element-wise, lookup and pooling-reduction kernels: the scalar
 * bundle. Add and mul are the reference loops themselves.
 */
#include "../common.h"

static void add_scalar(const dyd_binary_params *p, const uint8_t *a, size_t a_inc,
                       const uint8_t *b, size_t b_inc, uint8_t *y, size_t n) {
  dyd_ref_qadd(p, a, a_inc, b, b_inc, y, n);
}

static void mul_scalar(const dyd_binary_params *p, const uint8_t *a, size_t a_inc,
                       const uint8_t *b, size_t b_inc, uint8_t *y, size_t n) {
  dyd_ref_qmul(p, a, a_inc, b, b_inc, y, n);
}

static void lut_scalar(const uint8_t table[256], const uint8_t *x, uint8_t *y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = table[x[i]];
}

static void max_u8(size_t taps, const uint8_t *const *rows, size_t channels, uint8_t *y) {
  for (size_t t = 0; t < taps; t++)
    for (size_t c = 0; c < channels; c++)
      if (rows[t][c] > y[c]) y[c] = rows[t][c];
}

static void max_s8(size_t taps, const uint8_t *const *rows, size_t channels, uint8_t *y) {
  for (size_t t = 0; t < taps; t++)
    for (size_t c = 0; c < channels; c++)
      if ((int8_t)rows[t][c] > (int8_t)y[c]) y[c] = rows[t][c];
}

static void sum_u8(size_t taps, const uint8_t *const *rows, size_t channels, int32_t *acc) {
  for (size_t t = 0; t < taps; t++)
    for (size_t c = 0; c < channels; c++) acc[c] += rows[t][c];
}

static void sum_s8(size_t taps, const uint8_t *const *rows, size_t channels, int32_t *acc) {
  for (size_t t = 0; t < taps; t++)
    for (size_t c = 0; c < channels; c++) acc[c] += (int8_t)rows[t][c];
}

const dyd_misc_bundle dyd_misc_bundle_scalar = {
    .isa_suffix = "scalar",
    .add = {{add_scalar, add_scalar}, {add_scalar, add_scalar}},
    .mul = {{mul_scalar, mul_scalar}, {mul_scalar, mul_scalar}},
    .lut = lut_scalar, .maxpool = {max_u8, max_s8}, .sum = {sum_u8, sum_s8},
    DYD_MISC_NAMES("scalar")};
