/*
 * Entry points of the element-wise kernels (add, mul, table lookup). They have
 * no create step, so the bundle is looked up per call (a table scan over a
 * handful of entries). Mixed signedness between a, b and y is rare and served by
 * the reference loops.
 */
#include "../common.h"

const dyd_misc_bundle *dyd_misc_bundle_for(dyd_isa isa) {
  const dyd_misc_bundle *b = dyd_registry_select(DYD_FAMILY_MISC, isa, NULL, NULL);
  return b != NULL ? b : &dyd_misc_bundle_scalar;
}

static bool uniform_sign(const dyd_binary_params *p) {
  return p->a_signed == p->b_signed && p->b_signed == p->y_signed;
}

/* |a_mul * (a - z_a) + b_mul * (b - z_b)| < 2^41 and |(a - z_a) * (b - z_b)| < 2^17,
 * so a shift above 62 rounds every value to 0: kernels get zero multipliers and
 * shift 1 instead (their 64-bit rounding terms need s <= 62). */
static const dyd_binary_params *normalize(const dyd_binary_params *p, dyd_binary_params *tmp) {
  if (p->kind != DYD_REQUANT_DYADIC || p->shift <= 62) return p;
  *tmp = *p;
  tmp->a_mul = tmp->b_mul = 0;
  tmp->shift = 1;
  return tmp;
}

void dyd_qadd_run_for_isa(dyd_isa isa, const dyd_binary_params *p, const void *a, size_t a_inc,
                          const void *b, size_t b_inc, void *y, size_t n) {
  dyd_binary_params tmp;
  p = normalize(p, &tmp);
  if (!uniform_sign(p) || (p->kind == DYD_REQUANT_FP32 && a_inc == 0 && b_inc != 0)) {
    /* the reference also swaps a broadcast scalar a into b's place, as ONNX Runtime does */
    dyd_ref_qadd(p, a, a_inc, b, b_inc, y, n);
    return;
  }
  const dyd_binary_fn f = dyd_misc_bundle_for(isa)->add[p->kind == DYD_REQUANT_FP32][p->y_signed != 0];
  f(p, a, a_inc, b, b_inc, y, n);
}

void dyd_qmul_run_for_isa(dyd_isa isa, const dyd_binary_params *p, const void *a, size_t a_inc,
                          const void *b, size_t b_inc, void *y, size_t n) {
  dyd_binary_params tmp;
  p = normalize(p, &tmp);
  if (!uniform_sign(p)) {
    dyd_ref_qmul(p, a, a_inc, b, b_inc, y, n);
    return;
  }
  const dyd_binary_fn f = dyd_misc_bundle_for(isa)->mul[p->kind == DYD_REQUANT_FP32][p->y_signed != 0];
  f(p, a, a_inc, b, b_inc, y, n);
}

void dyd_lut_run_for_isa(dyd_isa isa, const uint8_t table[256], const uint8_t *x, uint8_t *y,
                         size_t n) {
  dyd_misc_bundle_for(isa)->lut(table, x, y, n);
}

void dyd_qadd_run(const dyd_binary_params *p, const void *a, size_t a_inc, const void *b,
                  size_t b_inc, void *y, size_t n) {
  dyd_qadd_run_for_isa(dyd_active_isa(), p, a, a_inc, b, b_inc, y, n);
}

void dyd_qmul_run(const dyd_binary_params *p, const void *a, size_t a_inc, const void *b,
                  size_t b_inc, void *y, size_t n) {
  dyd_qmul_run_for_isa(dyd_active_isa(), p, a, a_inc, b, b_inc, y, n);
}

void dyd_lut_run(const uint8_t table[256], const uint8_t *x, uint8_t *y, size_t n) {
  dyd_lut_run_for_isa(dyd_active_isa(), table, x, y, n);
}

const char *dyd_qadd_kernel_name(dyd_requant_kind kind, int is_signed) {
  return dyd_misc_bundle_for(dyd_active_isa())->add_name[kind == DYD_REQUANT_FP32][is_signed != 0];
}

const char *dyd_qmul_kernel_name(dyd_requant_kind kind, int is_signed) {
  return dyd_misc_bundle_for(dyd_active_isa())->mul_name[kind == DYD_REQUANT_FP32][is_signed != 0];
}

const char *dyd_lut_kernel_name(void) { return dyd_misc_bundle_for(dyd_active_isa())->lut_name; }
