/*
 * AVX2 element-wise add/mul and pooling reductions (also used at the AVX-512
 * level). Add and mul work on 8 elements: bytes widened to int32, zero points
 * subtracted; the dyadic add forms both int64 products with VPMULDQ (even and
 * odd lanes separately) and rounds once, exactly as the reference; the fp32 add
 * is ONNX Runtime's FMA formula; mul reuses the shared output stage. The table lookup stays scalar
 * (a 256-entry byte table has no cheap AVX2 gather).
 */
#if defined(__x86_64__)

#include "../x86/requant-avx2.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define TARGET DYD_AVX2_TARGET
#define INLINE DYD_AVX2_INLINE

/* 8 elements (or one broadcast element when inc == 0) widened to int32. */
INLINE __m256i load8(const uint8_t *p, size_t inc, size_t n, const int is_signed) {
  if (inc == 0) return _mm256_set1_epi32(is_signed ? (int32_t)(int8_t)*p : (int32_t)*p);
  __m128i x;
  if (n >= 8) {
    x = _mm_loadl_epi64((const __m128i *)p);
  } else { /* the tail: a variable-length copy is a library call, keep it off the main loop */
    int64_t v = 0;
    memcpy(&v, p, n);
    x = _mm_cvtsi64_si128(v);
  }
  return is_signed ? _mm256_cvtepi8_epi32(x) : _mm256_cvtepu8_epi32(x);
}

static void out_params(const dyd_binary_params *p, dyd_out_params *o) {
  dyd_out_params_init(o, p->kind, p->y_zero_point, p->qmin, p->qmax);
}

/* (da * a_mul + db * b_mul + 2^(s-1)) >> s for the 4 int32 lanes at even
 * positions of da/db, as int64 lanes, clamped to [lo, hi]. */
INLINE __m256i add_half(__m256i da, __m256i db, __m256i am, __m256i bm, __m256i round,
                        __m256i shift, __m256i post, __m256i lo, __m256i hi) {
  __m256i x = _mm256_add_epi64(_mm256_mul_epi32(da, am), _mm256_mul_epi32(db, bm));
  x = _mm256_sub_epi64(_mm256_srlv_epi64(_mm256_add_epi64(x, round), shift), post);
  return dyd_avx2_clamp64(x, lo, hi);
}

/* The dyadic add in 32-bit lanes. With a_mul = ah*2^16 + al (0 <= al < 2^16),
 * likewise b_mul, and c = 2^(s-1) - a_mul*z_a - b_mul*z_b = ch*2^16 + cl:
 *   a_mul*a + b_mul*b + c = H*2^16 + L,  H = ah*a + bh*b + ch,  L = al*a + bl*b + cl,
 * and floor((H*2^16 + L) / 2^s) = (H + (L >> 16)) >> (s - 16), all exact in int32
 * when 17 <= s and |c| < 2^46 (|H| < 2^31, |L| < 2^26). Most adds qualify; the
 * others take the 64-bit path below. */
typedef struct {
  int32_t al, ah, bl, bh, cl, ch, shift;
} split_add;

static bool split_add_init(const dyd_binary_params *p, split_add *k) {
  if (p->shift < 17 || p->shift > 46) return false;
  const int64_t c = ((int64_t)1 << (p->shift - 1)) - (int64_t)p->a_mul * p->a_zero_point -
                    (int64_t)p->b_mul * p->b_zero_point;
  if (c <= -((int64_t)1 << 46) || c >= ((int64_t)1 << 46)) return false;
  k->al = p->a_mul & 0xFFFF, k->ah = p->a_mul >> 16;
  k->bl = p->b_mul & 0xFFFF, k->bh = p->b_mul >> 16;
  k->cl = (int32_t)(c & 0xFFFF), k->ch = (int32_t)(c >> 16);
  k->shift = p->shift - 16;
  return true;
}

INLINE void add_split_body(const split_add *k, const dyd_out_params *o, const uint8_t *a,
                           size_t a_inc, const uint8_t *b, size_t b_inc, uint8_t *y, size_t n,
                           const int is_signed) {
  const __m256i al = _mm256_set1_epi32(k->al), ah = _mm256_set1_epi32(k->ah);
  const __m256i bl = _mm256_set1_epi32(k->bl), bh = _mm256_set1_epi32(k->bh);
  const __m256i cl = _mm256_set1_epi32(k->cl), ch = _mm256_set1_epi32(k->ch);
  const __m128i shift = _mm_cvtsi32_si128(k->shift);
  const __m256i zero_point = _mm256_set1_epi32(o->zero_point);
  for (size_t i = 0; i < n; i += 8) {
    const size_t m = DYD_MIN((size_t)8, n - i);
    const __m256i va = load8(a + i * a_inc, a_inc, m, is_signed);
    const __m256i vb = load8(b + i * b_inc, b_inc, m, is_signed);
    const __m256i lo = _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(va, al), _mm256_mullo_epi32(vb, bl)), cl);
    const __m256i hi = _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(va, ah), _mm256_mullo_epi32(vb, bh)), ch);
    __m256i r = _mm256_sra_epi32(_mm256_add_epi32(hi, _mm256_srai_epi32(lo, 16)), shift);
    /* |r| < 2^15 here, so the saturating packs of the narrowing clamp exactly */
    r = _mm256_add_epi32(r, zero_point);
    r = _mm256_min_epi32(_mm256_max_epi32(r, _mm256_set1_epi32(o->qmin)), _mm256_set1_epi32(o->qmax));
    dyd_avx2_store_n(y + i, dyd_avx2_narrow8(r, o), m);
  }
}

INLINE void add_body(const dyd_binary_params *p, const uint8_t *a, size_t a_inc,
                     const uint8_t *b, size_t b_inc, uint8_t *y, size_t n, const int is_signed) {
  dyd_out_params o;
  out_params(p, &o);
  split_add k;
  if (split_add_init(p, &k)) {
    add_split_body(&k, &o, a, a_inc, b, b_inc, y, n, is_signed);
    return;
  }
  const __m256i za = _mm256_set1_epi32(p->a_zero_point), zb = _mm256_set1_epi32(p->b_zero_point);
  const __m256i am = _mm256_set1_epi64x(p->a_mul), bm = _mm256_set1_epi64x(p->b_mul);
  /* |a_mul * da + b_mul * db| < 2^41: adding 2^62 makes it non-negative for the logical shift */
  const int s = p->shift;
  const __m256i round = _mm256_set1_epi64x(((int64_t)1 << (s - 1)) + ((int64_t)1 << 62));
  const __m256i shift = _mm256_set1_epi64x(s), post = _mm256_set1_epi64x((int64_t)1 << (62 - s));
  const __m256i lo = _mm256_set1_epi64x(o.lo), hi = _mm256_set1_epi64x(o.hi);
  for (size_t i = 0; i < n; i += 8) {
    const size_t m = DYD_MIN((size_t)8, n - i);
    const __m256i da = _mm256_sub_epi32(load8(a + i * a_inc, a_inc, m, is_signed), za);
    const __m256i db = _mm256_sub_epi32(load8(b + i * b_inc, b_inc, m, is_signed), zb);
    const __m256i even = add_half(da, db, am, bm, round, shift, post, lo, hi);
    const __m256i odd = add_half(_mm256_srli_epi64(da, 32), _mm256_srli_epi64(db, 32), am, bm,
                                 round, shift, post, lo, hi);
    __m256i r = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
    r = _mm256_add_epi32(r, _mm256_set1_epi32(o.zero_point));
    dyd_avx2_store_n(y + i, dyd_avx2_narrow8(r, &o), m);
  }
}

/* ONNX Runtime's QLinearAdd (see the header): two FMAs per element, b first, on the
 * raw inputs; rounding by VCVTPS2DQ (to nearest even) of the value clamped to
 * [qmin, qmax], which already includes the output zero point. */
#define ORT_TARGET __attribute__((target("avx2,fma")))
ORT_TARGET __attribute__((always_inline)) static inline void add_ort_body(
    const dyd_binary_params *p, const uint8_t *a, size_t a_inc, const uint8_t *b, size_t b_inc,
    uint8_t *y, size_t n, const int is_signed) {
  dyd_out_params o;
  out_params(p, &o);
  float ra, rb, k;
  dyd_ort_add_constants(p, &ra, &rb, &k);
  const __m256 vra = _mm256_set1_ps(ra), vrb = _mm256_set1_ps(rb), vk = _mm256_set1_ps(k);
  const __m256 qmin = _mm256_set1_ps((float)p->qmin), qmax = _mm256_set1_ps((float)p->qmax);
  for (size_t i = 0; i < n; i += 8) {
    const size_t m = DYD_MIN((size_t)8, n - i);
    const __m256 xa = _mm256_cvtepi32_ps(load8(a + i * a_inc, a_inc, m, is_signed));
    const __m256 xb = _mm256_cvtepi32_ps(load8(b + i * b_inc, b_inc, m, is_signed));
    __m256 c = _mm256_fmadd_ps(xa, vra, _mm256_fmadd_ps(xb, vrb, vk));
    c = _mm256_min_ps(_mm256_max_ps(c, qmin), qmax);
    dyd_avx2_store_n(y + i, dyd_avx2_narrow8(_mm256_cvtps_epi32(c), &o), m);
  }
}

INLINE void mul_body(const dyd_binary_params *p, const uint8_t *a, size_t a_inc,
                     const uint8_t *b, size_t b_inc, uint8_t *y, size_t n, const int fp32,
                     const int is_signed) {
  dyd_out_params o;
  out_params(p, &o);
  int32_t mult[8], shift[8];
  for (int i = 0; i < 8; i++) {
    mult[i] = p->a_mul;
    shift[i] = p->shift;
  }
  if (fp32) memcpy(&mult[0], &p->a_scale, sizeof(float));
  dyd_avx2_rq8 rq __attribute__((aligned(32)));
  if (!fp32) dyd_avx2_pack_rq(mult, shift, 8, &rq);
  const __m256i vmult = _mm256_set1_epi32(mult[0]);
  const __m256 vscale = _mm256_set1_ps(p->a_scale);
  const __m256i za = _mm256_set1_epi32(p->a_zero_point), zb = _mm256_set1_epi32(p->b_zero_point);
  for (size_t i = 0; i < n; i += 8) {
    const size_t m = DYD_MIN((size_t)8, n - i);
    const __m256i da = _mm256_sub_epi32(load8(a + i * a_inc, a_inc, m, is_signed), za);
    const __m256i db = _mm256_sub_epi32(load8(b + i * b_inc, b_inc, m, is_signed), zb);
    const __m256i acc = _mm256_mullo_epi32(da, db);
    const __m256i r = fp32 ? dyd_avx2_fp32(acc, vscale, &o) : dyd_avx2_dyadic(acc, vmult, &rq, &o);
    dyd_avx2_store_n(y + i, dyd_avx2_narrow8(r, &o), m);
  }
}

#define DEFINE_BINARY(name, body, fp32, is_signed)                                           \
  TARGET static void name(const dyd_binary_params *p, const uint8_t *a, size_t a_inc,       \
                          const uint8_t *b, size_t b_inc, uint8_t *y, size_t n) {           \
    body(p, a, a_inc, b, b_inc, y, n, fp32, is_signed);                                     \
  }

#define DEFINE_ADD(name, body, is_signed, target)                                            \
  target static void name(const dyd_binary_params *p, const uint8_t *a, size_t a_inc,       \
                          const uint8_t *b, size_t b_inc, uint8_t *y, size_t n) {           \
    body(p, a, a_inc, b, b_inc, y, n, is_signed);                                           \
  }

DEFINE_ADD(add_dyadic_u8, add_body, 0, TARGET)
DEFINE_ADD(add_dyadic_s8, add_body, 1, TARGET)
DEFINE_ADD(add_fp32_u8, add_ort_body, 0, ORT_TARGET)
DEFINE_ADD(add_fp32_s8, add_ort_body, 1, ORT_TARGET)
DEFINE_BINARY(mul_dyadic_u8, mul_body, 0, 0)
DEFINE_BINARY(mul_dyadic_s8, mul_body, 0, 1)
DEFINE_BINARY(mul_fp32_u8, mul_body, 1, 0)
DEFINE_BINARY(mul_fp32_s8, mul_body, 1, 1)

/* ---- pooling reductions ---- */

INLINE void max_body(size_t taps, const uint8_t *const *rows, size_t channels, uint8_t *y,
                     const int is_signed) {
  size_t c = 0;
  for (; c + 32 <= channels; c += 32) {
    __m256i m = _mm256_loadu_si256((const __m256i *)(y + c));
    for (size_t t = 0; t < taps; t++) {
      const __m256i x = _mm256_loadu_si256((const __m256i *)(rows[t] + c));
      m = is_signed ? _mm256_max_epi8(m, x) : _mm256_max_epu8(m, x);
    }
    _mm256_storeu_si256((__m256i *)(y + c), m);
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
    __m256i s = _mm256_loadu_si256((const __m256i *)(acc + c));
    for (size_t t = 0; t < taps; t++) {
      const __m128i x = _mm_loadl_epi64((const __m128i *)(rows[t] + c));
      s = _mm256_add_epi32(s, is_signed ? _mm256_cvtepi8_epi32(x) : _mm256_cvtepu8_epi32(x));
    }
    _mm256_storeu_si256((__m256i *)(acc + c), s);
  }
  for (; c < channels; c++)
    for (size_t t = 0; t < taps; t++) acc[c] += is_signed ? (int8_t)rows[t][c] : rows[t][c];
}

TARGET static void max_u8(size_t taps, const uint8_t *const *rows, size_t channels, uint8_t *y) {
  max_body(taps, rows, channels, y, 0);
}
TARGET static void max_s8(size_t taps, const uint8_t *const *rows, size_t channels, uint8_t *y) {
  max_body(taps, rows, channels, y, 1);
}
TARGET static void sum_u8(size_t taps, const uint8_t *const *rows, size_t channels, int32_t *acc) {
  sum_body(taps, rows, channels, acc, 0);
}
TARGET static void sum_s8(size_t taps, const uint8_t *const *rows, size_t channels, int32_t *acc) {
  sum_body(taps, rows, channels, acc, 1);
}

static void lut_scalar(const uint8_t table[256], const uint8_t *x, uint8_t *y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = table[x[i]];
}

/*
 * 256-entry lookup with VPSHUFB, which looks up 16-byte tables and gives 0 where the
 * index byte has its top bit set. For x < 128 and row k = 0..7 of the low half, the
 * index x - 16k keeps x's low nibble while k <= x >> 4 and turns negative (top bit
 * set: 0) after, so the XOR of the lookups in d[k] = row k ^ row k-1 telescopes to
 * row (x >> 4), entry x & 15, i.e. table[x]. The high half does the same on x ^ 0x80
 * and the index's top bit picks the half: 8 lookups per half per 32 bytes, about
 * three times the scalar loop's speed.
 */
TARGET static void lut_avx2(const uint8_t table[256], const uint8_t *x, uint8_t *y, size_t n) {
  if (n < 64) {
    lut_scalar(table, x, y, n);
    return;
  }
  __m256i d[16];
  for (int k = 0; k < 16; k++) {
    __m128i row = _mm_loadu_si128((const __m128i *)(table + 16 * k));
    if (k % 8 != 0) row = _mm_xor_si128(row, _mm_loadu_si128((const __m128i *)(table + 16 * (k - 1))));
    d[k] = _mm256_broadcastsi128_si256(row);
  }
  const __m256i sixteen = _mm256_set1_epi8(16), top = _mm256_set1_epi8((char)0x80);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)(x + i));
    __m256i lo_idx = v, hi_idx = _mm256_xor_si256(v, top);
    __m256i lo = _mm256_shuffle_epi8(d[0], lo_idx), hi = _mm256_shuffle_epi8(d[8], hi_idx);
    for (int k = 1; k < 8; k++) {
      lo_idx = _mm256_sub_epi8(lo_idx, sixteen);
      hi_idx = _mm256_sub_epi8(hi_idx, sixteen);
      lo = _mm256_xor_si256(lo, _mm256_shuffle_epi8(d[k], lo_idx));
      hi = _mm256_xor_si256(hi, _mm256_shuffle_epi8(d[8 + k], hi_idx));
    }
    _mm256_storeu_si256((__m256i *)(y + i), _mm256_blendv_epi8(lo, hi, v));
  }
  lut_scalar(table, x + i, y + i, n - i); /* the tail (y may be x: no overlapping block) */
}

const dyd_misc_bundle dyd_misc_bundle_avx2 = {
    .isa_suffix = "avx2",
    .add = {{add_dyadic_u8, add_dyadic_s8}, {add_fp32_u8, add_fp32_s8}},
    .mul = {{mul_dyadic_u8, mul_dyadic_s8}, {mul_fp32_u8, mul_fp32_s8}},
    .lut = lut_avx2, .maxpool = {max_u8, max_s8}, .sum = {sum_u8, sum_s8},
    DYD_MISC_NAMES("avx2")};

/* The same kernels with the table lookup of lut-avx512vbmi.c. */
const dyd_misc_bundle dyd_misc_bundle_avx512vbmi = {
    .isa_suffix = "avx2",
    .add = {{add_dyadic_u8, add_dyadic_s8}, {add_fp32_u8, add_fp32_s8}},
    .mul = {{mul_dyadic_u8, mul_dyadic_s8}, {mul_fp32_u8, mul_fp32_s8}},
    .lut = dyd_lut_avx512vbmi, .maxpool = {max_u8, max_s8}, .sum = {sum_u8, sum_s8},
    DYD_MISC_NAMES_LUT("avx2", "avx512vbmi")};

#endif
