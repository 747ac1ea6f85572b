/*
 * GEMM microkernel for AArch64 with the dot product extension: SDOT adds four
 * int8 x int8 products into each int32 lane, the analogue of VPDPBUSD, but
 * signed on both sides, so activations are in the int8 domain (uint8 inputs are
 * flipped by xor 0x80 while the op copies them; -128 * sum(w) is in the packed
 * bias). Tile 4 x 16: a 16-byte weight vector holds 4 columns x 4 K values; 16
 * bytes of a row supply four K groups, selected by lane (SDOT by element).
 *
 * Low-bit weights (common.h's plane layout, unit = one K step, 64 bytes): 4-bit,
 * 32 bytes whose low nibbles are the first two weight vectors and high nibbles
 * the last two; 2-bit, 16 bytes whose crumb j is weight vector j. SSHR (with SHL
 * first for the lower fields) sign-extends them into the int8 vectors SDOT takes:
 * 6-7 instructions per 16 SDOT, so, as on x86, tiles with more than one row block
 * unpack each panel once into the workspace and run the int8 kernel over the copy.
 */
#if defined(__aarch64__)

#include "../arm/requant-neon.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* GCC: scheduled as for Cortex-A76. Its generic-tuning scheduler hoists the 16 weight
 * loads of a K block above the SDOTs (spilling accumulators) and runs each
 * accumulator's SDOTs back to back, which stalls in-order cores such as Cortex-A55;
 * the A76 tuning keeps the interleaved order of the source. Clang keeps it anyway. */
#if defined(__clang__)
#define TARGET __attribute__((target("arch=armv8.2-a+dotprod")))
#else
#define TARGET __attribute__((target("arch=armv8.2-a+dotprod,tune=cortex-a76")))
#endif
#define INLINE TARGET __attribute__((always_inline)) static inline

#define MR 4
#define NR 16
#define KR 4

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

/* The four weight vectors (4 columns x 4 K each) of one K step. */
INLINE void load_w(const int8_t *wk, const int bits, int8x16_t *w0, int8x16_t *w1, int8x16_t *w2,
                   int8x16_t *w3) {
  if (bits == 4) {
    const int8x16_t v0 = vld1q_s8(wk), v1 = vld1q_s8(wk + 16);
    *w0 = vshrq_n_s8(vshlq_n_s8(v0, 4), 4);
    *w1 = vshrq_n_s8(vshlq_n_s8(v1, 4), 4);
    *w2 = vshrq_n_s8(v0, 4);
    *w3 = vshrq_n_s8(v1, 4);
  } else if (bits == 2) {
    const int8x16_t v = vld1q_s8(wk);
    *w0 = vshrq_n_s8(vshlq_n_s8(v, 6), 6);
    *w1 = vshrq_n_s8(vshlq_n_s8(v, 4), 6);
    *w2 = vshrq_n_s8(vshlq_n_s8(v, 2), 6);
    *w3 = vshrq_n_s8(v, 6);
  } else {
    *w0 = vld1q_s8(wk), *w1 = vld1q_s8(wk + 16), *w2 = vld1q_s8(wk + 32), *w3 = vld1q_s8(wk + 48);
  }
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

INLINE int8x16_t dup4(const uint8_t *p, size_t n) {
  int32_t v = 0;
  memcpy(&v, p, n);
  return vreinterpretq_s8_s32(vdupq_n_s32(v));
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
  const int32x4_t b0 = vld1q_s32(bias), b1 = vld1q_s32(bias + 4), b2 = vld1q_s32(bias + 8),
                  b3 = vld1q_s32(bias + 12);
#define ACC_INIT(i) int32x4_t acc##i##0 = b0, acc##i##1 = b1, acc##i##2 = b2, acc##i##3 = b3;
  REP_MR(ACC_INIT)
#undef ACC_INIT
#define DOT4(i, va, l)                                            \
  acc##i##0 = vdotq_laneq_s32(acc##i##0, w0, va, l);              \
  acc##i##1 = vdotq_laneq_s32(acc##i##1, w1, va, l);              \
  acc##i##2 = vdotq_laneq_s32(acc##i##2, w2, va, l);              \
  acc##i##3 = vdotq_laneq_s32(acc##i##3, w3, va, l);
#define LOAD_W                                                    \
  int8x16_t w0, w1, w2, w3;                                       \
  load_w(wk, bits, &w0, &w1, &w2, &w3);                           \
  wk += NR * KR * bits / 8;
  size_t k = 0;
  for (; k + 16 <= kc; k += 16) {
#define LOAD_A(i) const int8x16_t va##i = vreinterpretq_s8_u8(vld1q_u8(a##i + k));
    REP_MR(LOAD_A)
#undef LOAD_A
#define GROUP(l)                                                  \
  {                                                               \
    LOAD_W                                                        \
    DOT4(0, va0, l) DOT4(1, va1, l) DOT4(2, va2, l) DOT4(3, va3, l) \
  }
    GROUP(0) GROUP(1) GROUP(2) GROUP(3)
#undef GROUP
  }
  for (; k < kc; k += KR) {
    const size_t n = kc - k < 4 ? kc - k : 4; /* never read past a row */
    LOAD_W
#define DUP_A(i) const int8x16_t va##i = dup4(a##i + k, n);
    REP_MR(DUP_A)
#undef DUP_A
    DOT4(0, va0, 0) DOT4(1, va1, 0) DOT4(2, va2, 0) DOT4(3, va3, 0)
  }
#undef LOAD_W
#undef DOT4
#define STORE(i)                                                                            \
  if ((i) < (int)mr)                                                                        \
    store_row(acc##i##0, acc##i##1, acc##i##2, acc##i##3, c + (i) * c_stride, nc, mult, extra, \
              p, fp32);
  REP_MR(STORE)
#undef STORE
}

/* A panel's weights as int8 (dyd_gemm_unpack_planes with unit NR * KR). */
INLINE void unpack_lowbit(const uint8_t *in, size_t bytes, int8_t *w8, const int bits) {
  for (size_t i = 0; i < bytes; i += NR * KR, in += NR * KR * bits / 8, w8 += NR * KR) {
    int8x16_t w0, w1, w2, w3;
    load_w((const int8_t *)in, bits, &w0, &w1, &w2, &w3);
    vst1q_s8(w8, w0), vst1q_s8(w8 + 16, w1), vst1q_s8(w8 + 32, w2), vst1q_s8(w8 + 48, w3);
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

/* dyd_q{u8,s8}_qc{8,4,2}w_{gemm,igemm}_{dyadic,fp32}_ukernel_4x16c4__neondot */
DEFINE_GEMM(gemm_dyadic_4x16c4, 0, 8)
DEFINE_GEMM(gemm_fp32_4x16c4, 1, 8)
DEFINE_GEMM(gemm_qc4w_dyadic_4x16c4, 0, 4)
DEFINE_GEMM(gemm_qc4w_fp32_4x16c4, 1, 4)
DEFINE_GEMM(gemm_qc2w_dyadic_4x16c4, 0, 2)
DEFINE_GEMM(gemm_qc2w_fp32_4x16c4, 1, 2)

const dyd_gemm_bundle dyd_gemm_bundle_neondot = {
    .mr = MR, .nr = NR, .kr = KR, .a_signed_domain = 1,
    .ukernel = {gemm_dyadic_4x16c4, gemm_fp32_4x16c4},
    .lowbit_unit = NR * KR,
    .w4 = {.ukernel = {gemm_qc4w_dyadic_4x16c4, gemm_qc4w_fp32_4x16c4}, .unpack = unpack_w4},
    .w2 = {.ukernel = {gemm_qc2w_dyadic_4x16c4, gemm_qc2w_fp32_4x16c4}, .unpack = unpack_w2},
    .extra_bytes = sizeof(extra_header), .pack_extra = pack_extra, .isa_suffix = "neondot"};

#endif
