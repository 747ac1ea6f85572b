/*
 * AArch64 NEON element-wise add/mul, table lookup and pooling reductions (all
 * AArch64 levels). Add and mul work on 8 elements: bytes widened, zero points
 * subtracted in int16; the dyadic add forms both int64 products with
 * SMULL/SMLAL and rounds once with SRSHL (add 2^(s-1), shift, no intermediate
 * overflow), exactly the reference; the lookup uses four 64-byte TBL/TBX tables.
 */
#if defined(__aarch64__)

#include "../arm/requant-neon.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define INLINE DYD_NEON_INLINE

/* 8 elements (or one broadcast element when inc == 0) minus the zero point, as int16. */
INLINE int16x8_t load8(const uint8_t *p, size_t inc, size_t n, int32_t zero, const int is_signed) {
  if (inc == 0) {
    const int32_t v = is_signed ? (int32_t)(int8_t)*p : (int32_t)*p;
    return vdupq_n_s16((int16_t)(v - zero));
  }
  uint8_t tmp[8] = {0};
  const uint8_t *src = p;
  if (n < 8) {
    memcpy(tmp, p, n);
    src = tmp;
  }
  const uint8x8_t x = vld1_u8(src);
  const int16x8_t w = is_signed ? vmovl_s8(vreinterpret_s8_u8(x)) : vreinterpretq_s16_u16(vmovl_u8(x));
  return vsubq_s16(w, vdupq_n_s16((int16_t)zero));
}

static void out_params(const dyd_binary_params *p, dyd_out_params *o) {
  dyd_out_params_init(o, p->kind, p->y_zero_point, p->qmin, p->qmax);
}

/* Rounded (a_mul * da + b_mul * db) >> s of 4 lanes, clamped, plus z. */
INLINE int32x4_t add4(int16x4_t da, int16x4_t db, int32x2_t am, int32x2_t bm, int64x2_t ns,
                      const dyd_out_params *o) {
  const int32x4_t a = vmovl_s16(da), b = vmovl_s16(db);
  int64x2_t lo = vmlal_s32(vmull_s32(vget_low_s32(a), am), vget_low_s32(b), bm);
  int64x2_t hi = vmlal_s32(vmull_s32(vget_high_s32(a), am), vget_high_s32(b), bm);
  lo = vrshlq_s64(lo, ns);
  hi = vrshlq_s64(hi, ns);
  int32x4_t y = vcombine_s32(vqmovn_s64(lo), vqmovn_s64(hi));
  y = vminq_s32(vmaxq_s32(y, vdupq_n_s32(o->lo)), vdupq_n_s32(o->hi));
  return vaddq_s32(y, vdupq_n_s32(o->zero_point));
}

/* ONNX Runtime's QLinearAdd (see the header) on 4 raw inputs: two fused
 * multiply-adds, b first; VCVTNQ rounds to nearest even. */
INLINE int32x4_t add4_fp32(int32x4_t xa, int32x4_t xb, float32x4_t ra, float32x4_t rb,
                           float32x4_t k, const dyd_binary_params *p) {
  float32x4_t c = vfmaq_f32(vfmaq_f32(k, vcvtq_f32_s32(xb), rb), vcvtq_f32_s32(xa), ra);
  c = vminq_f32(vmaxq_f32(c, vdupq_n_f32((float)p->qmin)), vdupq_n_f32((float)p->qmax));
  return vcvtnq_s32_f32(c);
}

INLINE void add_body(const dyd_binary_params *p, const uint8_t *a, size_t a_inc,
                     const uint8_t *b, size_t b_inc, uint8_t *y, size_t n, const int fp32,
                     const int is_signed) {
  dyd_out_params o;
  out_params(p, &o);
  const int32x2_t am = vdup_n_s32(p->a_mul), bm = vdup_n_s32(p->b_mul);
  const int64x2_t ns = vdupq_n_s64(-(int64_t)p->shift);
  float ra = 0, rb = 0, k = 0;
  if (fp32) dyd_ort_add_constants(p, &ra, &rb, &k);
  const float32x4_t vra = vdupq_n_f32(ra), vrb = vdupq_n_f32(rb), vk = vdupq_n_f32(k);
  /* the fp32 add works on the raw inputs */
  const int32_t za = fp32 ? 0 : p->a_zero_point, zb = fp32 ? 0 : p->b_zero_point;
  for (size_t i = 0; i < n; i += 8) {
    const size_t m = DYD_MIN((size_t)8, n - i);
    const int16x8_t da = load8(a + i * a_inc, a_inc, m, za, is_signed);
    const int16x8_t db = load8(b + i * b_inc, b_inc, m, zb, is_signed);
    int32x4_t lo, hi;
    if (fp32) {
      lo = add4_fp32(vmovl_s16(vget_low_s16(da)), vmovl_s16(vget_low_s16(db)), vra, vrb, vk, p);
      hi = add4_fp32(vmovl_s16(vget_high_s16(da)), vmovl_s16(vget_high_s16(db)), vra, vrb, vk, p);
    } else {
      lo = add4(vget_low_s16(da), vget_low_s16(db), am, bm, ns, &o);
      hi = add4(vget_high_s16(da), vget_high_s16(db), am, bm, ns, &o);
    }
    dyd_neon_store_n(y + i, dyd_neon_narrow8(lo, hi, &o), m);
  }
}

INLINE void mul_body(const dyd_binary_params *p, const uint8_t *a, size_t a_inc,
                     const uint8_t *b, size_t b_inc, uint8_t *y, size_t n, const int fp32,
                     const int is_signed) {
  dyd_out_params o;
  out_params(p, &o);
  int32_t mult[4];
  int64_t neg_shift[4];
  for (int i = 0; i < 4; i++) {
    mult[i] = p->a_mul;
    neg_shift[i] = -(int64_t)p->shift;
  }
  if (fp32)
    for (int i = 0; i < 4; i++) memcpy(&mult[i], &p->a_scale, sizeof(float));
  for (size_t i = 0; i < n; i += 8) {
    const size_t m = DYD_MIN((size_t)8, n - i);
    const int16x8_t da = load8(a + i * a_inc, a_inc, m, p->a_zero_point, is_signed);
    const int16x8_t db = load8(b + i * b_inc, b_inc, m, p->b_zero_point, is_signed);
    const int32x4_t lo = vmull_s16(vget_low_s16(da), vget_low_s16(db));
    const int32x4_t hi = vmull_high_s16(da, db);
    dyd_neon_store_n(y + i,
                     dyd_neon_narrow8(dyd_neon_requant4(lo, mult, neg_shift, &o, fp32),
                                      dyd_neon_requant4(hi, mult, neg_shift, &o, fp32), &o),
                     m);
  }
}

#define DEFINE_BINARY(name, body, fp32, is_signed)                                     \
  static void name(const dyd_binary_params *p, const uint8_t *a, size_t a_inc,        \
                   const uint8_t *b, size_t b_inc, uint8_t *y, size_t n) {            \
    body(p, a, a_inc, b, b_inc, y, n, fp32, is_signed);                               \
  }

DEFINE_BINARY(add_dyadic_u8, add_body, 0, 0)
DEFINE_BINARY(add_dyadic_s8, add_body, 0, 1)
DEFINE_BINARY(add_fp32_u8, add_body, 1, 0)
DEFINE_BINARY(add_fp32_s8, add_body, 1, 1)
DEFINE_BINARY(mul_dyadic_u8, mul_body, 0, 0)
DEFINE_BINARY(mul_dyadic_s8, mul_body, 0, 1)
DEFINE_BINARY(mul_fp32_u8, mul_body, 1, 0)
DEFINE_BINARY(mul_fp32_s8, mul_body, 1, 1)

/* ---- table lookup ---- */

static void lut_neon(const uint8_t table[256], const uint8_t *x, uint8_t *y, size_t n) {
  const uint8x16x4_t t0 = vld1q_u8_x4(table), t1 = vld1q_u8_x4(table + 64);
  const uint8x16x4_t t2 = vld1q_u8_x4(table + 128), t3 = vld1q_u8_x4(table + 192);
  const uint8x16_t k64 = vdupq_n_u8(64);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    /* TBL gives 0 and TBX keeps the destination for indices >= 64, so exactly
     * one of the four lookups writes each byte. */
    uint8x16_t v = vld1q_u8(x + i);
    uint8x16_t r = vqtbl4q_u8(t0, v);
    v = vsubq_u8(v, k64);
    r = vqtbx4q_u8(r, t1, v);
    v = vsubq_u8(v, k64);
    r = vqtbx4q_u8(r, t2, v);
    v = vsubq_u8(v, k64);
    r = vqtbx4q_u8(r, t3, v);
    vst1q_u8(y + i, r);
  }
  for (; i < n; i++) y[i] = table[x[i]];
}

/* ---- pooling reductions ---- */

INLINE void max_body(size_t taps, const uint8_t *const *rows, size_t channels, uint8_t *y,
                     const int is_signed) {
  size_t c = 0;
  for (; c + 16 <= channels; c += 16) {
    uint8x16_t m = vld1q_u8(y + c);
    for (size_t t = 0; t < taps; t++) {
      const uint8x16_t x = vld1q_u8(rows[t] + c);
      m = is_signed ? vreinterpretq_u8_s8(vmaxq_s8(vreinterpretq_s8_u8(m), vreinterpretq_s8_u8(x)))
                    : vmaxq_u8(m, x);
    }
    vst1q_u8(y + c, m);
  }
  for (; c < channels; c++)
    for (size_t t = 0; t < taps; t++) {
      if (is_signed ? (int8_t)rows[t][c] > (int8_t)y[c] : rows[t][c] > y[c]) y[c] = rows[t][c];
    }
}

INLINE void sum_body(size_t taps, const uint8_t *const *rows, size_t channels, int32_t *acc,
                     const int is_signed) {
  size_t c = 0;
  for (; c + 8 <= channels; c += 8) {
    int32x4_t lo = vld1q_s32(acc + c), hi = vld1q_s32(acc + c + 4);
    for (size_t t = 0; t < taps; t++) {
      const uint8x8_t x = vld1_u8(rows[t] + c);
      const int16x8_t w = is_signed ? vmovl_s8(vreinterpret_s8_u8(x)) : vreinterpretq_s16_u16(vmovl_u8(x));
      lo = vaddw_s16(lo, vget_low_s16(w));
      hi = vaddw_high_s16(hi, w);
    }
    vst1q_s32(acc + c, lo);
    vst1q_s32(acc + c + 4, hi);
  }
  for (; c < channels; c++)
    for (size_t t = 0; t < taps; t++) acc[c] += is_signed ? (int8_t)rows[t][c] : rows[t][c];
}

static void max_u8(size_t taps, const uint8_t *const *rows, size_t channels, uint8_t *y) {
  max_body(taps, rows, channels, y, 0);
}
static void max_s8(size_t taps, const uint8_t *const *rows, size_t channels, uint8_t *y) {
  max_body(taps, rows, channels, y, 1);
}
static void sum_u8(size_t taps, const uint8_t *const *rows, size_t channels, int32_t *acc) {
  sum_body(taps, rows, channels, acc, 0);
}
static void sum_s8(size_t taps, const uint8_t *const *rows, size_t channels, int32_t *acc) {
  sum_body(taps, rows, channels, acc, 1);
}

const dyd_misc_bundle dyd_misc_bundle_neon = {
    .isa_suffix = "neon",
    .add = {{add_dyadic_u8, add_dyadic_s8}, {add_fp32_u8, add_fp32_s8}},
    .mul = {{mul_dyadic_u8, mul_dyadic_s8}, {mul_fp32_u8, mul_fp32_s8}},
    .lut = lut_neon, .maxpool = {max_u8, max_s8}, .sum = {sum_u8, sum_s8},
    DYD_MISC_NAMES("neon")};

#endif
