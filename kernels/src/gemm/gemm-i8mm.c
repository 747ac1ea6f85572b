/*
 * GEMM microkernel for AArch64 with the int8 matrix multiply extension:
 * USMMLA multiplies a 2x8 uint8 block (two rows, 8 K values) by an 8x2 int8
 * block (two columns) into a 2x2 int32 tile, 32 multiply-adds per instruction,
 * unsigned x signed like VPDPBUSD, so activations are in the uint8 domain as
 * on x86. Weights packed [K/8][16][8]: 16 bytes are one column pair's 8 K
 * values, the B operand as is. Tile 4 x 16 = 2 row pairs x 8 column pairs, 16
 * accumulators of [r0c0 r0c1 r1c0 r1c1], unzipped into rows at the end.
 *
 * Low-bit weights (common.h's plane layout, unit = one K step, 128 bytes): 4-bit,
 * 64 bytes whose low nibbles are column pairs 0-3 and high nibbles pairs 4-7;
 * 2-bit, 32 bytes whose crumb j holds pairs 2j, 2j + 1. SSHR (with SHL first for
 * the lower fields) sign-extends them into the int8 B operands of USMMLA: 12-14
 * instructions per 16 USMMLA, so tiles with more than one row block unpack each
 * panel once into the workspace and run the int8 kernel over the copy.
 */
#if defined(__aarch64__)

#include "../arm/requant-neon.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define TARGET __attribute__((target("arch=armv8.2-a+i8mm")))
#define INLINE TARGET __attribute__((always_inline)) static inline

#define MR 4
#define NR 16
#define KR 8

typedef struct {
  int64_t neg_shift[NR];
} extra_header;

static void pack_extra(const int32_t *mult, const int32_t *shift, int32_t zero_point,
                       const int64_t *acc_max, void *out) {
  (void)zero_point, (void)acc_max;
  (void)mult;
  dyd_neon_pack_rq(shift, NR, ((extra_header *)out)->neg_shift);
}

INLINE void store_row(int32x4_t v0, int32x4_t v1, int32x4_t v2, int32x4_t v3, uint8_t *c,
                      size_t nc, const int32_t *mult, const extra_header *e,
                      const dyd_out_params *p, const int fp32) {
  const int32x4_t y0 = dyd_neon_requant4(v0, mult, e->neg_shift, p, fp32);
  const int32x4_t y1 = dyd_neon_requant4(v1, mult + 4, e->neg_shift + 4, p, fp32);
  dyd_neon_store_n(c, dyd_neon_narrow8(y0, y1, p), nc);
  if (nc > 8) {
    const int32x4_t y2 = dyd_neon_requant4(v2, mult + 8, e->neg_shift + 8, p, fp32);
    const int32x4_t y3 = dyd_neon_requant4(v3, mult + 12, e->neg_shift + 12, p, fp32);
    dyd_neon_store_n(c + 8, dyd_neon_narrow8(y2, y3, p), nc - 8);
  }
}

/* 8 bytes of a row, or the n < 8 left before its end (never read past). */
INLINE uint8x8_t load8(const uint8_t *p, size_t n) {
  if (n >= 8) return vld1_u8(p);
  uint8_t tmp[8] = {0};
  memcpy(tmp, p, n);
  return vld1_u8(tmp);
}

/* Row r (0: low halves, 1: high halves) of two column-pair tiles as 4 columns. */
#define ROW_OF(x, y, r) \
  vreinterpretq_s32_s64((r) ? vuzp2q_s64(vreinterpretq_s64_s32(x), vreinterpretq_s64_s32(y)) \
                            : vuzp1q_s64(vreinterpretq_s64_s32(x), vreinterpretq_s64_s32(y)))

#define REP_J(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

/* The eight B operands (column pairs x 8 K) of one K step. The loops are unrolled so
 * that b[] lives in registers: rolled (GCC -O2), it goes through the stack, a store
 * and a reload per operand. */
INLINE void load_w(const int8_t *wk, const int bits, int8x16_t b[8]) {
  if (bits == 4) {
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
      const int8x16_t v = vld1q_s8(wk + 16 * q);
      b[q] = vshrq_n_s8(vshlq_n_s8(v, 4), 4);
      b[4 + q] = vshrq_n_s8(v, 4);
    }
  } else if (bits == 2) {
#pragma GCC unroll 2
    for (int q = 0; q < 2; q++) {
      const int8x16_t v = vld1q_s8(wk + 16 * q);
      b[q] = vshrq_n_s8(vshlq_n_s8(v, 6), 6);
      b[2 + q] = vshrq_n_s8(vshlq_n_s8(v, 4), 6);
      b[4 + q] = vshrq_n_s8(vshlq_n_s8(v, 2), 6);
      b[6 + q] = vshrq_n_s8(v, 6);
    }
  } else {
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) b[j] = vld1q_s8(wk + 16 * j);
  }
}

INLINE void gemm_body(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,
                      const void *w, uint8_t *c, size_t c_stride, const dyd_out_params *p,
                      const int fp32, const int bits) {
  const int32_t *bias = w, *mult = bias + NR;
  const extra_header *extra = (const extra_header *)(mult + 2 * NR);
  const int8_t *wk = (const int8_t *)(extra + 1);
  const uint8_t *a0 = a, *a1 = a + (mr > 1 ? 1 : 0) * a_stride;
  const uint8_t *a2 = a + (mr > 2 ? 2 : mr - 1) * a_stride, *a3 = a + (mr > 3 ? 3 : mr - 1) * a_stride;
  /* both rows of a pair start from the bias of their two columns */
#define ACC_INIT(j)                                                   \
  const int32x2_t bj##j = vld1_s32(bias + 2 * (j));                   \
  int32x4_t acc0##j = vcombine_s32(bj##j, bj##j), acc1##j = acc0##j;
  REP_J(ACC_INIT)
#undef ACC_INIT
#define MMLA(j)                                             \
  {                                                         \
    const int8x16_t vb = b[j];                              \
    acc0##j = vusmmlaq_s32(acc0##j, va01, vb);              \
    acc1##j = vusmmlaq_s32(acc1##j, va23, vb);              \
  }
  size_t k = 0;
  /* whole K steps, then the last partial one (load8's copy) apart, so that the main
   * loop carries no length test per row */
  for (; k + KR <= kc; k += KR, wk += NR * KR * bits / 8) {
    const uint8x16_t va01 = vcombine_u8(vld1_u8(a0 + k), vld1_u8(a1 + k));
    const uint8x16_t va23 = vcombine_u8(vld1_u8(a2 + k), vld1_u8(a3 + k));
    int8x16_t b[8];
    load_w(wk, bits, b);
    REP_J(MMLA)
  }
  if (k < kc) {
    const size_t n = kc - k;
    const uint8x16_t va01 = vcombine_u8(load8(a0 + k, n), load8(a1 + k, n));
    const uint8x16_t va23 = vcombine_u8(load8(a2 + k, n), load8(a3 + k, n));
    int8x16_t b[8];
    load_w(wk, bits, b);
    REP_J(MMLA)
  }
#undef MMLA
#define STORE(pair, r)                                                                        \
  if (2 * (pair) + (r) < (int)mr)                                                             \
    store_row(ROW_OF(acc##pair##0, acc##pair##1, r), ROW_OF(acc##pair##2, acc##pair##3, r),   \
              ROW_OF(acc##pair##4, acc##pair##5, r), ROW_OF(acc##pair##6, acc##pair##7, r),   \
              c + (2 * (pair) + (r)) * c_stride, nc, mult, extra, p, fp32);
  STORE(0, 0) STORE(0, 1) STORE(1, 0) STORE(1, 1)
#undef STORE
}

/* A panel's weights as int8 (dyd_gemm_unpack_planes with unit NR * KR). */
INLINE void unpack_lowbit(const uint8_t *in, size_t bytes, int8_t *w8, const int bits) {
  for (size_t i = 0; i < bytes; i += NR * KR, in += NR * KR * bits / 8, w8 += NR * KR) {
    int8x16_t b[8];
    load_w((const int8_t *)in, bits, b);
    for (int j = 0; j < 8; j++) vst1q_s8(w8 + 16 * j, b[j]);
  }
}

TARGET static void unpack_w4(const uint8_t *in, size_t bytes, int8_t *w8) {
  unpack_lowbit(in, bytes, w8, 4);
}

TARGET static void unpack_w2(const uint8_t *in, size_t bytes, int8_t *w8) {
  unpack_lowbit(in, bytes, w8, 2);
}

#define DEFINE_GEMM(name, fp32, bits)                                                          \
  TARGET static void name(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, \
                          const void *w, uint8_t *c, size_t c_stride,                          \
                          const dyd_out_params *p) {                                           \
    gemm_body(mr, nc, kc, a, a_stride, w, c, c_stride, p, fp32, bits);                         \
  }

/* dyd_q{u8,s8}_qc{8,4,2}w_{gemm,igemm}_{dyadic,fp32}_ukernel_4x16c8__i8mm */
DEFINE_GEMM(gemm_dyadic_4x16c8, 0, 8)
DEFINE_GEMM(gemm_fp32_4x16c8, 1, 8)
DEFINE_GEMM(gemm_qc4w_dyadic_4x16c8, 0, 4)
DEFINE_GEMM(gemm_qc4w_fp32_4x16c8, 1, 4)
DEFINE_GEMM(gemm_qc2w_dyadic_4x16c8, 0, 2)
DEFINE_GEMM(gemm_qc2w_fp32_4x16c8, 1, 2)

const dyd_gemm_bundle dyd_gemm_bundle_i8mm = {
    .mr = MR, .nr = NR, .kr = KR, .a_signed_domain = 0,
    .ukernel = {gemm_dyadic_4x16c8, gemm_fp32_4x16c8},
    .lowbit_unit = NR * KR,
    .w4 = {.ukernel = {gemm_qc4w_dyadic_4x16c8, gemm_qc4w_fp32_4x16c8}, .unpack = unpack_w4},
    .w2 = {.ukernel = {gemm_qc2w_dyadic_4x16c8, gemm_qc2w_fp32_4x16c8}, .unpack = unpack_w2},
    .extra_bytes = sizeof(extra_header), .pack_extra = pack_extra, .isa_suffix = "i8mm"};

#endif
