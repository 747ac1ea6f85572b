/*
 * GEMM microkernel for baseline AArch64 NEON (no dot product): the structure
 * of the AVX2 kernel. Activations (uint8 domain) and weights are widened to
 * int16 and multiplied into int32 with SMLAL by lane: 8 activations of a row are
 * widened once, then each lane multiplies a row of 8 packed weights (8 columns
 * of one K index). Tile 4 x 8, weights packed [K][8] (KR = 1).
 *
 * Low-bit weights (common.h's plane layout, unit = 8 K indices, 64 bytes): 4-bit,
 * 32 bytes whose low nibbles are K 0-3 and high nibbles K 4-7; 2-bit, 16 bytes
 * whose crumb j is K 2j, 2j + 1. Byte arithmetic shifts sign-extend a field in
 * one or two instructions (SSHR for the top field, SHL + SSHR for the others),
 * giving the same four 16-byte vectors of two K indices each that int8 weights
 * load directly. A tail of fewer than 8 K indices unpacks its (zero-padded) unit
 * to the stack and runs the int8 tail loop over it. Tiles with more than one row
 * block unpack each panel once into the workspace and run the int8 kernel over the
 * copy, as on x86.
 */
#if defined(__aarch64__)

#include "../arm/requant-neon.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define MR 4
#define NR 8
#define KR 1
#define INLINE DYD_NEON_INLINE

typedef struct {
  int64_t neg_shift[NR];
} extra_header;

static void pack_extra(const int32_t *mult, const int32_t *shift, int32_t zero_point,
                       const int64_t *acc_max, void *out) {
  (void)zero_point, (void)acc_max;
  (void)mult;
  dyd_neon_pack_rq(shift, NR, ((extra_header *)out)->neg_shift);
}

#define REP_MR(X) X(0) X(1) X(2) X(3)

/* 8 K indices of weights as four int8 vectors of two K indices x 8 columns. */
INLINE void load_w8k(const int8_t *wk, const int bits, int8x16_t q[4]) {
  if (bits == 4) {
    const int8x16_t v0 = vld1q_s8(wk), v1 = vld1q_s8(wk + 16);
    q[0] = vshrq_n_s8(vshlq_n_s8(v0, 4), 4);
    q[1] = vshrq_n_s8(vshlq_n_s8(v1, 4), 4);
    q[2] = vshrq_n_s8(v0, 4);
    q[3] = vshrq_n_s8(v1, 4);
  } else if (bits == 2) {
    const int8x16_t v = vld1q_s8(wk);
    q[0] = vshrq_n_s8(vshlq_n_s8(v, 6), 6);
    q[1] = vshrq_n_s8(vshlq_n_s8(v, 4), 6);
    q[2] = vshrq_n_s8(vshlq_n_s8(v, 2), 6);
    q[3] = vshrq_n_s8(v, 6);
  } else {
    /* unrolled, so that q[] stays in registers (rolled, GCC -O2 passes it through the
     * stack) */
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) q[j] = vld1q_s8(wk + 16 * j);
  }
}

INLINE void store_row(int32x4_t acc0, int32x4_t acc1, uint8_t *c, size_t nc, const int32_t *mult,
                      const extra_header *e, const dyd_out_params *p, const int fp32) {
  const int32x4_t y0 = dyd_neon_requant4(acc0, mult, e->neg_shift, p, fp32);
  const int32x4_t y1 = dyd_neon_requant4(acc1, mult + 4, e->neg_shift + 4, p, fp32);
  dyd_neon_store_n(c, dyd_neon_narrow8(y0, y1, p), nc);
}

INLINE void gemm_body(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,
                      const void *w, uint8_t *c, size_t c_stride, const dyd_out_params *p,
                      const int fp32, const int bits) {
  const int32_t *bias = w, *mult = bias + NR;
  const extra_header *extra = (const extra_header *)(mult + 2 * NR);
  const int8_t *wk = (const int8_t *)(extra + 1);
#define ROW_PTR(i) const uint8_t *a##i = a + (size_t)((i) < (int)mr ? (i) : (int)mr - 1) * a_stride;
  REP_MR(ROW_PTR)
#undef ROW_PTR
  const int32x4_t b0 = vld1q_s32(bias), b1 = vld1q_s32(bias + 4);
#define ACC_INIT(i) int32x4_t acc##i##0 = b0, acc##i##1 = b1;
  REP_MR(ACC_INIT)
#undef ACC_INIT
  size_t k = 0;
  for (; k + 8 <= kc; k += 8) {
#define LOAD_A(i) const int16x8_t va##i = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(a##i + k)));
    REP_MR(LOAD_A)
#undef LOAD_A
#define MAC(i, l)                                                          \
  acc##i##0 = vmlal_laneq_s16(acc##i##0, vget_low_s16(vw), va##i, l);      \
  acc##i##1 = vmlal_high_laneq_s16(acc##i##1, vw, va##i, l);
    int8x16_t q[4];
    load_w8k(wk, bits, q);
#define LANE(l)                                                                          \
  {                                                                                      \
    const int16x8_t vw = (l) % 2 ? vmovl_high_s8(q[(l) / 2]) : vmovl_s8(vget_low_s8(q[(l) / 2])); \
    MAC(0, l) MAC(1, l) MAC(2, l) MAC(3, l)                                              \
  }
    LANE(0) LANE(1) LANE(2) LANE(3) LANE(4) LANE(5) LANE(6) LANE(7)
#undef LANE
#undef MAC
    wk += 8 * NR * bits / 8;
  }
  int8_t tail[8 * NR];
  if (bits < 8 && k < kc) { /* the last unit as int8 */
    int8x16_t q[4];
    load_w8k(wk, bits, q);
    for (int j = 0; j < 4; j++) vst1q_s8(tail + 16 * j, q[j]);
    wk = tail;
  }
  for (; k < kc; k++, wk += NR) {
    const int16x8_t vw = vmovl_s8(vld1_s8(wk));
#define MAC1(i)                                                            \
  acc##i##0 = vmlal_n_s16(acc##i##0, vget_low_s16(vw), (int16_t)a##i[k]);  \
  acc##i##1 = vmlal_high_n_s16(acc##i##1, vw, (int16_t)a##i[k]);
    REP_MR(MAC1)
#undef MAC1
  }
#define STORE(i) \
  if ((i) < (int)mr) store_row(acc##i##0, acc##i##1, c + (i) * c_stride, nc, mult, extra, p, fp32);
  REP_MR(STORE)
#undef STORE
}

/* A panel's weights as int8 (dyd_gemm_unpack_planes with unit 8 NR). */
INLINE void unpack_lowbit(const uint8_t *in, size_t bytes, int8_t *w8, const int bits) {
  for (size_t i = 0; i < bytes; i += 8 * NR, in += NR * bits, w8 += 8 * NR) {
    int8x16_t q[4];
    load_w8k((const int8_t *)in, bits, q);
    for (int j = 0; j < 4; j++) vst1q_s8(w8 + 16 * j, q[j]);
  }
}

static void unpack_w4(const uint8_t *in, size_t bytes, int8_t *w8) {
  unpack_lowbit(in, bytes, w8, 4);
}

static void unpack_w2(const uint8_t *in, size_t bytes, int8_t *w8) {
  unpack_lowbit(in, bytes, w8, 2);
}

#define DEFINE_GEMM(name, fp32, bits)                                                          \
  static void name(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,        \
                   const void *w, uint8_t *c, size_t c_stride, const dyd_out_params *p) {     \
    gemm_body(mr, nc, kc, a, a_stride, w, c, c_stride, p, fp32, bits);                         \
  }

/* dyd_q{u8,s8}_qc{8,4,2}w_{gemm,igemm}_{dyadic,fp32}_ukernel_4x8c1__neon */
DEFINE_GEMM(gemm_dyadic_4x8c1, 0, 8)
DEFINE_GEMM(gemm_fp32_4x8c1, 1, 8)
DEFINE_GEMM(gemm_qc4w_dyadic_4x8c1, 0, 4)
DEFINE_GEMM(gemm_qc4w_fp32_4x8c1, 1, 4)
DEFINE_GEMM(gemm_qc2w_dyadic_4x8c1, 0, 2)
DEFINE_GEMM(gemm_qc2w_fp32_4x8c1, 1, 2)

const dyd_gemm_bundle dyd_gemm_bundle_neon = {
    .mr = MR, .nr = NR, .kr = KR, .a_signed_domain = 0,
    .ukernel = {gemm_dyadic_4x8c1, gemm_fp32_4x8c1},
    .lowbit_unit = 8 * NR,
    .w4 = {.ukernel = {gemm_qc4w_dyadic_4x8c1, gemm_qc4w_fp32_4x8c1}, .unpack = unpack_w4},
    .w2 = {.ukernel = {gemm_qc2w_dyadic_4x8c1, gemm_qc2w_fp32_4x8c1}, .unpack = unpack_w2},
    .extra_bytes = sizeof(extra_header), .pack_extra = pack_extra, .isa_suffix = "neon"};

#endif
