/*
 * FP8 kernels for AArch64, the mirror of the x86 ones: K-vectorised GEMM over the
 * same packed blocks, depthwise over channels from a converted window.
 *
 * Decode: TBL looks a nibble up in a 16-byte table, so a column's table is kept as
 * two: the low and the high bytes of its 16 float16 values (every E4M3 value is
 * exact in float16). Two TBL and a ZIP give 16 float16 weights; the baseline kernel
 * widens them to float32 (FCVTL, exact) for FMLA; the FHM kernel (FEAT_FHM) feeds
 * them to FMLAL, which multiplies float16 pairs into float32 accumulators with one
 * rounding, from activations converted to float16. Plain FP16 (FEAT_FP16 without
 * FHM) has no instruction that accumulates float16 products in float32, so it
 * adds nothing over the baseline here. Epilogues are the scalar ones.
 */
#if defined(__aarch64__)

#include "../common.h"

#include <arm_neon.h>

#define MR 4
#define NR 2

void dyd_f8_add_scalar(const dyd_fp8_add_params *p, const uint8_t *a, size_t a_inc,
                       const uint8_t *b, size_t b_inc, uint8_t *y, size_t n);
void dyd_f8_gavg_scalar(const dyd_fp8_avgpool_params *p, const uint8_t *x, uint8_t *y);
void dyd_f8_neon_convert_h(const uint8_t *codes, size_t n, void *dst);
void dyd_f8_neon_dw(size_t pixels, size_t channels, size_t kh, size_t kw, const void *in,
                    size_t in_row, size_t in_col, size_t in_step, const float *w, size_t cb,
                    const float *scale, const float *bias, void *out, size_t out_step,
                    const dyd_f8_out *p);

/* float16 bits of an E4M3 code's exact value */
static inline uint16_t f16_of(uint8_t c) {
  const uint16_t sign = (uint16_t)((c & 0x80u) << 8), mag = c & 0x7Fu;
  if (mag >= 8) return sign | (uint16_t)((mag << 7) + 0x2000); /* rebias 7 -> 15 */
  if (mag == 0) return sign;
  const int e = mag >= 4 ? 2 : mag >= 2 ? 1 : 0; /* m * 2^-9 = 2^(e-9) * (m / 2^e) */
  return sign | (uint16_t)((e + 6) << 10) | (uint16_t)((mag << (10 - e)) & 0x3FF);
}

typedef struct { uint8x16_t lo, hi; } table16;

static inline table16 load_table(const uint8_t *t) {
  uint8_t lo[16], hi[16];
  for (int i = 0; i < 16; i++) {
    const uint16_t h = f16_of(t[i]);
    lo[i] = (uint8_t)h, hi[i] = (uint8_t)(h >> 8);
  }
  table16 r = {vld1q_u8(lo), vld1q_u8(hi)};
  return r;
}

/* 16 nibble codes -> 16 float16 (as bits) in two registers */
static inline void lookup(table16 t, uint8x16_t idx, uint16x8_t *a, uint16x8_t *b) {
  const uint8x16_t l = vqtbl1q_u8(t.lo, idx), h = vqtbl1q_u8(t.hi, idx);
  *a = vreinterpretq_u16_u8(vzip1q_u8(l, h));
  *b = vreinterpretq_u16_u8(vzip2q_u8(l, h));
}

static inline float32x4_t f16lo(uint16x8_t v) { return vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(v))); }
static inline float32x4_t f16hi(uint16x8_t v) { return vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(v))); }

static void convert_f32(const uint8_t *codes, size_t n, void *dst) {
  float *d = dst;
  for (; n >= 8; n -= 8, codes += 8, d += 8) {
    const uint16x8_t w = vmovl_u8(vld1_u8(codes));
    const uint16x8_t h = vorrq_u16(vshlq_n_u16(vandq_u16(w, vdupq_n_u16(0x80)), 8),
                                   vshlq_n_u16(vandq_u16(w, vdupq_n_u16(0x7F)), 7));
    vst1q_f32(d, vmulq_n_f32(f16lo(h), 256.0f)); /* shifted float16 = e4m3 / 256, exact */
    vst1q_f32(d + 4, vmulq_n_f32(f16hi(h), 256.0f));
  }
  for (; n; n--) *d++ = dyd_fp8_e4m3_to_f32(*codes++);
}

void dyd_f8_neon_convert_h(const uint8_t *codes, size_t n, void *dst) {
  uint16_t *d = dst;
  for (; n >= 8; n -= 8, codes += 8, d += 8) {
    const uint16x8_t w = vmovl_u8(vld1_u8(codes));
    vst1q_u16(d, vorrq_u16(vshlq_n_u16(vandq_u16(w, vdupq_n_u16(0x80)), 8),
                           vshlq_n_u16(vandq_u16(w, vdupq_n_u16(0x7F)), 7)));
  }
  for (; n; n--) *d++ = dyd_f8_to_h(*codes++);
}

static void gemm_4x2(size_t mr, size_t nc, size_t kb, const void *a, size_t a_stride,
                     const uint8_t *w, const uint8_t *const *tables, const uint16_t *bt,
                     const float *scale, const float *bias, void *c, size_t c_stride,
                     const dyd_f8_out *p) {
  const float *ar[MR];
  for (size_t i = 0; i < MR; i++) ar[i] = (const float *)((const uint8_t *)a + DYD_MIN(i, mr - 1) * a_stride);
  float32x4_t acc[MR][NR];
  for (size_t i = 0; i < MR; i++) acc[i][0] = acc[i][1] = vdupq_n_f32(0.0f);
  size_t cur = bt ? bt[0] : 0;
  table16 t[NR] = {load_table(tables[0] + 16 * cur), load_table(tables[1] + 16 * cur)};
  for (size_t b = 0; b < kb; b++, w += 32) {
    if (bt && bt[b] != cur) {
      cur = bt[b];
      t[0] = load_table(tables[0] + 16 * cur);
      t[1] = load_table(tables[1] + 16 * cur);
    }
    for (size_t j = 0; j < NR; j++) {
      const uint8x16_t x = vld1q_u8(w + 16 * j);
      uint16x8_t h[4]; /* elements 0-7, 8-15, 16-23, 24-31 */
      lookup(t[j], vandq_u8(x, vdupq_n_u8(0x0F)), &h[0], &h[1]);
      lookup(t[j], vshrq_n_u8(x, 4), &h[2], &h[3]);
      float32x4_t wv[8];
      for (size_t q = 0; q < 4; q++) wv[2 * q] = f16lo(h[q]), wv[2 * q + 1] = f16hi(h[q]);
      for (size_t r = 0; r < MR; r++) {
        const float *ab = ar[r] + b * 32;
        float32x4_t s = acc[r][j];
        for (size_t q = 0; q < 8; q++) s = vfmaq_f32(s, vld1q_f32(ab + 4 * q), wv[q]);
        acc[r][j] = s;
      }
    }
  }
  uint8_t *o = c;
  for (size_t r = 0; r < mr; r++, o += c_stride)
    for (size_t j = 0; j < nc; j++) dyd_f8_store_scalar(vaddvq_f32(acc[r][j]), scale[j], bias[j], p, o, j);
}

void dyd_f8_neon_dw(size_t pixels, size_t channels, size_t kh, size_t kw, const void *in,
                    size_t in_row, size_t in_col, size_t in_step, const float *w, size_t cb,
                    const float *scale, const float *bias, void *out, size_t out_step,
                    const dyd_f8_out *p) {
  for (size_t i = 0; i < pixels; i++) {
    const uint8_t *px = (const uint8_t *)in + i * in_step;
    uint8_t *o = (uint8_t *)out + i * out_step;
    for (size_t c0 = 0; c0 < channels; c0 += 4) {
      float32x4_t acc = vdupq_n_f32(0.0f);
      for (size_t ky = 0; ky < kh; ky++)
        for (size_t kx = 0; kx < kw; kx++) {
          const uint16_t *x = (const uint16_t *)(px + ky * in_row + kx * in_col) + c0;
          acc = vfmaq_f32(acc, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x))),
                          vld1q_f32(w + (ky * kw + kx) * cb + c0));
        }
      float sums[4];
      vst1q_f32(sums, acc);
      for (size_t j = 0; j < 4 && c0 + j < channels; j++)
        dyd_f8_store_scalar(sums[j], scale[c0 + j], bias[c0 + j], p, o, c0 + j);
    }
  }
}

const dyd_f8_bundle dyd_f8_bundle_neon = {
    .isa_suffix = "neon",
    .mr = MR, .nr = NR, .a_bytes = 4, .convert = convert_f32, .gemm = gemm_4x2,
    .dw_cb = 16, .dw_in_bytes = 2, .dw_w_mult = 256.0f, .dw_convert = dyd_f8_neon_convert_h,
    .dw = dyd_f8_neon_dw, .add = dyd_f8_add_scalar, .gavg = dyd_f8_gavg_scalar,
    .add_name = "dyd_qf8_vadd_fp32_ukernel__scalar",
    .gavg_name = "dyd_qf8_gavgpool_fp32_ukernel__scalar"};

/* ---- FEAT_FHM: FMLAL ---- */

#define FHM __attribute__((target("arch=armv8.2-a+fp16fml")))

FHM static void convert_f16(const uint8_t *codes, size_t n, void *dst) {
  uint16_t *d = dst;
  for (; n >= 8; n -= 8, codes += 8, d += 8) {
    const uint16x8_t w = vmovl_u8(vld1_u8(codes));
    const uint16x8_t h = vorrq_u16(vshlq_n_u16(vandq_u16(w, vdupq_n_u16(0x80)), 8),
                                   vshlq_n_u16(vandq_u16(w, vdupq_n_u16(0x7F)), 7));
    /* shifted float16 (e4m3 / 256) times 256: exact in float16 */
    vst1q_u16(d, vreinterpretq_u16_f16(vmulq_f16(vreinterpretq_f16_u16(h), vdupq_n_f16(256.0))));
  }
  for (; n; n--) *d++ = f16_of(*codes++);
}

FHM static void gemm_4x2_fhm(size_t mr, size_t nc, size_t kb, const void *a, size_t a_stride,
                             const uint8_t *w, const uint8_t *const *tables, const uint16_t *bt,
                             const float *scale, const float *bias, void *c, size_t c_stride,
                             const dyd_f8_out *p) {
  const uint16_t *ar[MR];
  for (size_t i = 0; i < MR; i++) ar[i] = (const uint16_t *)((const uint8_t *)a + DYD_MIN(i, mr - 1) * a_stride);
  float32x4_t acc[MR][NR];
  for (size_t i = 0; i < MR; i++) acc[i][0] = acc[i][1] = vdupq_n_f32(0.0f);
  size_t cur = bt ? bt[0] : 0;
  table16 t[NR] = {load_table(tables[0] + 16 * cur), load_table(tables[1] + 16 * cur)};
  for (size_t b = 0; b < kb; b++, w += 32) {
    if (bt && bt[b] != cur) {
      cur = bt[b];
      t[0] = load_table(tables[0] + 16 * cur);
      t[1] = load_table(tables[1] + 16 * cur);
    }
    for (size_t j = 0; j < NR; j++) {
      const uint8x16_t x = vld1q_u8(w + 16 * j);
      uint16x8_t h[4];
      lookup(t[j], vandq_u8(x, vdupq_n_u8(0x0F)), &h[0], &h[1]);
      lookup(t[j], vshrq_n_u8(x, 4), &h[2], &h[3]);
      for (size_t r = 0; r < MR; r++) {
        const uint16_t *ab = ar[r] + b * 32;
        float32x4_t s = acc[r][j];
        for (size_t q = 0; q < 4; q++) {
          const float16x8_t av = vreinterpretq_f16_u16(vld1q_u16(ab + 8 * q)), wv = vreinterpretq_f16_u16(h[q]);
          s = vfmlalq_high_f16(vfmlalq_low_f16(s, av, wv), av, wv);
        }
        acc[r][j] = s;
      }
    }
  }
  uint8_t *o = c;
  for (size_t r = 0; r < mr; r++, o += c_stride)
    for (size_t j = 0; j < nc; j++) dyd_f8_store_scalar(vaddvq_f32(acc[r][j]), scale[j], bias[j], p, o, j);
}

const dyd_f8_bundle dyd_f8_bundle_neonfhm = {
    .isa_suffix = "neonfhm",
    .mr = MR, .nr = NR, .a_bytes = 2, .convert = convert_f16, .gemm = gemm_4x2_fhm,
    .dw_cb = 16, .dw_in_bytes = 2, .dw_w_mult = 256.0f, .dw_convert = dyd_f8_neon_convert_h,
    .dw = dyd_f8_neon_dw, .dw_suffix = "neon", .add = dyd_f8_add_scalar,
    .gavg = dyd_f8_gavg_scalar, .add_name = "dyd_qf8_vadd_fp32_ukernel__scalar",
    .gavg_name = "dyd_qf8_gavgpool_fp32_ukernel__scalar"};

#endif
