/*
 * qgemm kernel for AArch64 with the dot product extension. SDOT multiplies int8 by
 * int8, so the uint8 activations are fed as a ^ 0x80 = a - 128 (exact as int8) and
 * the accumulators start at (128 - za) colsum instead of -za colsum: sum (a - 128) b
 * + 128 colsum = sum a b. (USDOT would take uint8 directly but needs i8mm; this
 * serves every dot product CPU and costs one EOR per 16 bytes of a row.)
 *
 * Tile 4 x 16: a 16-byte weight vector holds 4 columns x 4 K; 16 bytes of a row
 * supply four K groups, selected by lane (SDOT by element). The row count is a
 * constant per instantiation (1 to 4).
 */
#if defined(__aarch64__)

#include "qgemm-neon.h"

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

#define REP_MR(X) X(0) X(1) X(2) X(3)

/* 1-4 bytes of a row at p, flipped to int8 and repeated in every 32-bit lane (zeros past
 * n flip to -128 but meet zero-padded weights). */
INLINE int8x16_t dup4(const uint8_t *p, size_t n) {
  uint32_t v = 0;
  memcpy(&v, p, n);
  return vreinterpretq_s8_u32(vdupq_n_u32(v ^ 0x80808080u));
}

INLINE void body(const size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, const void *panel,
                 const dyd_qgemm_args *args, void *c, size_t c_stride, const int out) {
  const int32_t *colsum = panel, *zb = colsum + NR;
  const int8_t *wk = (const int8_t *)(zb + NR);
  const int32_t f = 128 - args->a_zero_point;
  const int32x4_t i0 = vmulq_n_s32(vld1q_s32(colsum), f), i1 = vmulq_n_s32(vld1q_s32(colsum + 4), f),
                  i2 = vmulq_n_s32(vld1q_s32(colsum + 8), f), i3 = vmulq_n_s32(vld1q_s32(colsum + 12), f);
  const uint8x16_t flip = vdupq_n_u8(0x80);
#define ROW(i)                                                    \
  const uint8_t *a##i = a + ((i) < mr ? (i) : 0) * a_stride;      \
  int32x4_t acc##i##0 = i0, acc##i##1 = i1, acc##i##2 = i2, acc##i##3 = i3;
  REP_MR(ROW)
#undef ROW
#define DOT4(i, va, l)                                            \
  if ((i) < mr) {                                                 \
    acc##i##0 = vdotq_laneq_s32(acc##i##0, w0, va##i, l);         \
    acc##i##1 = vdotq_laneq_s32(acc##i##1, w1, va##i, l);         \
    acc##i##2 = vdotq_laneq_s32(acc##i##2, w2, va##i, l);         \
    acc##i##3 = vdotq_laneq_s32(acc##i##3, w3, va##i, l);         \
  }
#define LOAD_W                                                                                     \
  const int8x16_t w0 = vld1q_s8(wk), w1 = vld1q_s8(wk + 16), w2 = vld1q_s8(wk + 32), w3 = vld1q_s8(wk + 48); \
  wk += NR * KR;
  size_t k = 0;
  for (; k + 16 <= kc; k += 16) {
#define LOAD_A(i) const int8x16_t va##i = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(a##i + k), flip));
    REP_MR(LOAD_A)
#undef LOAD_A
#define GROUP(l)                                                  \
  {                                                               \
    LOAD_W                                                        \
    DOT4(0, va, l) DOT4(1, va, l) DOT4(2, va, l) DOT4(3, va, l)   \
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
    DOT4(0, va, 0) DOT4(1, va, 0) DOT4(2, va, 0) DOT4(3, va, 0)
  }
#undef LOAD_W
#undef DOT4
#define STORE(i) \
  if ((i) < mr) DYD_QGEMM_NEON_STORE_ROW(acc##i##0, acc##i##1, acc##i##2, acc##i##3, i, args, zb, c, c_stride, nc, out)
  REP_MR(STORE)
#undef STORE
}

#define CASE(r) case r: body(r, nc, kc, a, a_stride, panel, args, c, c_stride, kind); break;
#define DEFINE(name, out)                                                                                 \
  TARGET static void name(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,            \
                          const void *panel, const dyd_qgemm_args *args, void *c, size_t c_stride) {     \
    const int kind = out; /* a constant once inlined */                                        \
    switch (mr) { CASE(1) CASE(2) CASE(3) default: CASE(4) }                                             \
  }

/* dyd_qu8_qc8w_qgemm_fp32_ukernel_4x16c4__neondot */
DEFINE(qgemm_s32_4x16c4, DYD_QGEMM_OUT_S32)
DEFINE(qgemm_f32_4x16c4, DYD_QGEMM_OUT_F32)
DEFINE(qgemm_f32_bias_4x16c4, DYD_QGEMM_OUT_F32_BIAS)

const dyd_qgemm_bundle dyd_qgemm_bundle_neondot = {
    .mr = MR, .nr = NR, .kr = KR,
    .ukernel = {qgemm_s32_4x16c4, qgemm_f32_4x16c4, qgemm_f32_bias_4x16c4},
    .rowsum = dyd_qgemm_rowsum_neon,
    .isa_suffix = "neondot"};

#endif
