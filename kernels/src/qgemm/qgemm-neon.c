/*
 * qgemm kernel for baseline AArch64 NEON (no dot product), and the row sums every
 * AArch64 bundle uses. Activations (uint8) and weights (int8) are widened to int16 and
 * multiplied into int32 with SMLAL by lane: exact, every product fits int16 x int16.
 * Tile 4 x 16, weights packed [K][16] (KR = 1): per K index, one 16-byte load widened
 * to two int16 vectors; 8 activations of a row widened once serve 8 K indices.
 */
#if defined(__aarch64__)

#include "qgemm-neon.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define INLINE DYD_QGEMM_NEON_INLINE

#define MR 4
#define NR 16

void dyd_qgemm_rowsum_neon(size_t mr, size_t kc, const uint8_t *a, size_t a_stride, int32_t *sums) {
  for (size_t i = 0; i < mr; i++) {
    const uint8_t *r = a + i * a_stride;
    uint32x4_t s = vdupq_n_u32(0);
    size_t k = 0;
    for (; k + 16 <= kc; k += 16) s = vpadalq_u16(s, vpaddlq_u8(vld1q_u8(r + k)));
    uint32_t t = vaddvq_u32(s);
    for (; k < kc; k++) t += r[k];
    sums[i] = (int32_t)t;
  }
}

#define REP_MR(X) X(0) X(1) X(2) X(3)

INLINE void body(const size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, const void *panel,
                 const dyd_qgemm_args *args, void *c, size_t c_stride, const int out) {
  const int32_t *colsum = panel, *zb = colsum + NR;
  const int8_t *wk = (const int8_t *)(zb + NR);
  const int32_t f = -args->a_zero_point;
  const int32x4_t i0 = vmulq_n_s32(vld1q_s32(colsum), f), i1 = vmulq_n_s32(vld1q_s32(colsum + 4), f),
                  i2 = vmulq_n_s32(vld1q_s32(colsum + 8), f), i3 = vmulq_n_s32(vld1q_s32(colsum + 12), f);
#define ROW(i)                                                    \
  const uint8_t *a##i = a + ((i) < mr ? (i) : 0) * a_stride;      \
  int32x4_t acc##i##0 = i0, acc##i##1 = i1, acc##i##2 = i2, acc##i##3 = i3;
  REP_MR(ROW)
#undef ROW
#define MLA(i, l)                                                                 \
  if ((i) < mr) {                                                                 \
    acc##i##0 = vmlal_laneq_s16(acc##i##0, vget_low_s16(wl), va##i, l);           \
    acc##i##1 = vmlal_high_laneq_s16(acc##i##1, wl, va##i, l);                    \
    acc##i##2 = vmlal_laneq_s16(acc##i##2, vget_low_s16(wh), va##i, l);           \
    acc##i##3 = vmlal_high_laneq_s16(acc##i##3, wh, va##i, l);                    \
  }
#define LOAD_W                                                                    \
  const int8x16_t wv = vld1q_s8(wk);                                              \
  const int16x8_t wl = vmovl_s8(vget_low_s8(wv)), wh = vmovl_high_s8(wv);         \
  wk += NR;
  size_t k = 0;
  for (; k + 8 <= kc; k += 8) {
#define LOAD_A(i) const int16x8_t va##i = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(a##i + k)));
    REP_MR(LOAD_A)
#undef LOAD_A
#define LANE(l)                                  \
  {                                              \
    LOAD_W                                       \
    MLA(0, l) MLA(1, l) MLA(2, l) MLA(3, l)      \
  }
    LANE(0) LANE(1) LANE(2) LANE(3) LANE(4) LANE(5) LANE(6) LANE(7)
#undef LANE
  }
  for (; k < kc; k++) {
    LOAD_W
#define DUP_A(i) const int16x8_t va##i = vdupq_n_s16((int16_t)a##i[k]);
    REP_MR(DUP_A)
#undef DUP_A
    MLA(0, 0) MLA(1, 0) MLA(2, 0) MLA(3, 0)
  }
#undef LOAD_W
#undef MLA
#define STORE(i) \
  if ((i) < mr) DYD_QGEMM_NEON_STORE_ROW(acc##i##0, acc##i##1, acc##i##2, acc##i##3, i, args, zb, c, c_stride, nc, out)
  REP_MR(STORE)
#undef STORE
}

#define CASE(r) case r: body(r, nc, kc, a, a_stride, panel, args, c, c_stride, kind); break;
#define DEFINE(name, out)                                                                                 \
  static void name(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,                   \
                   const void *panel, const dyd_qgemm_args *args, void *c, size_t c_stride) {            \
    const int kind = out; /* a constant once inlined */                                        \
    switch (mr) { CASE(1) CASE(2) CASE(3) default: CASE(4) }                                             \
  }

/* dyd_qu8_qc8w_qgemm_fp32_ukernel_4x16c1__neon */
DEFINE(qgemm_s32_4x16c1, DYD_QGEMM_OUT_S32)
DEFINE(qgemm_f32_4x16c1, DYD_QGEMM_OUT_F32)
DEFINE(qgemm_f32_bias_4x16c1, DYD_QGEMM_OUT_F32_BIAS)

const dyd_qgemm_bundle dyd_qgemm_bundle_neon = {
    .mr = MR, .nr = NR, .kr = 1,
    .ukernel = {qgemm_s32_4x16c1, qgemm_f32_4x16c1, qgemm_f32_bias_4x16c1},
    .rowsum = dyd_qgemm_rowsum_neon,
    .isa_suffix = "neon"};

#endif
