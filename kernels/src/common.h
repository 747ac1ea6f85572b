/*
 * Internal declarations shared by the kernel sources: the bundle structs that
 * the dispatch lists are made of, the packed-weight layouts, and small inline utilities.
 * Not part of the public API.
 */
#ifndef DYD_COMMON_H
#define DYD_COMMON_H

#include "dyadic_kernels.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define DYD_MIN(a, b) ((a) < (b) ? (a) : (b))
#define DYD_MAX(a, b) ((a) > (b) ? (a) : (b))
#define DYD_ROUND_UP(x, m) (((x) + (m) - 1) / (m) * (m))
#define DYD_DIV_UP(x, m) (((x) + (m) - 1) / (m))

/* Float multiply and add must never fuse (the fp32 profile is defined by two
 * separately rounded operations). Clang honours the STDC pragma; GCC ignores it
 * and may contract even across statements, so values also pass through an empty
 * asm statement, which no compiler can see through. */
#if defined(__x86_64__)
#define DYD_FP_BARRIER(v) __asm__("" : "+x"(v))
#define DYD_FP_BARRIER512(v) __asm__("" : "+v"(v))
#elif defined(__aarch64__)
#define DYD_FP_BARRIER(v) __asm__("" : "+w"(v))
#else
#define DYD_FP_BARRIER(v) do { volatile __typeof__(v) dyd_tmp_ = (v); (v) = dyd_tmp_; } while (0)
#endif

/* The fp32 (ONNX Runtime) add's constants r_a, r_b and k, computed once per call
 * the same way for every ISA; see dyd_binary_params. */
void dyd_ort_add_constants(const dyd_binary_params *p, float *ra, float *rb, float *k);

/* Level of an ISA on its own architecture (scalar = 0), or -1 if foreign. */
int dyd_isa_level(dyd_isa isa);

/* Shared by conv and pooling validation. */
bool dyd_check_geometry(const dyd_conv_geometry *g, bool need_out_c_eq_in_c, char *err,
                        size_t err_len);

void dyd_set_error(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- Requantization parameters as kernels consume them ----------------------------- */

/* Output stage shared by GEMM, depthwise and pooling kernels. The per-channel
 * multiplier/shift (or scale) travel inside the packed weights; these are the
 * per-op constants. */
typedef struct {
  dyd_requant_kind kind;
  int32_t zero_point;
  int32_t qmin, qmax;
  int32_t lo, hi;       /* qmin - zero_point, qmax - zero_point: clamp before adding z */
  float flo, fhi;       /* the same bounds as floats (exact: small integers) */
} dyd_out_params;

void dyd_out_params_init(dyd_out_params *p, dyd_requant_kind kind, int32_t zero_point,
                         int32_t qmin, int32_t qmax);

/*
 * Shifts above 62 are accepted (DESIGN.md lists s >= 63 among the edge cases).
 * For an int32 accumulator and m < 2^31, |acc * m| < 2^62, so for s >= 63
 * (acc * m + 2^(s-1)) >> s is 0: the same as m = 0, s = 1, which is what the
 * kernels are given (their 64-bit rounding terms need s <= 62).
 */
#define DYD_MAX_SHIFT 127
static inline void dyd_normalize_dyadic(int32_t m, int32_t s, int32_t *m_out, int32_t *s_out) {
  *m_out = s > 62 ? 0 : m;
  *s_out = s > 62 ? 1 : s;
}

/* Scalar output stage used by the scalar kernels and the tails of SIMD ones.
 * `mult` holds the int32 multiplier, or the float scale's bits for fp32. */
static inline int32_t dyd_out_scalar(int32_t acc, int32_t mult, int32_t shift,
                                     const dyd_out_params *p) {
  if (p->kind == DYD_REQUANT_DYADIC) {
    return dyd_requantize_dyadic(acc, mult, shift, p->zero_point, p->qmin, p->qmax);
  }
  float scale;
  memcpy(&scale, &mult, sizeof scale);
  return dyd_requantize_fp32(acc, scale, p->zero_point, p->qmin, p->qmax);
}

/* ---- GEMM bundles (1x1 conv, fully connected, and general conv via im2col) ---------- */

/*
 * Packed weights: per group, per panel of NR output channels,
 *   int32 bias[NR]        bias - z_a * sum(w), z_a the input zero point in the kernel's domain
 *   int32 mult[NR]        dyadic multiplier, or fp32 scale bits
 *   int32 shift[NR]
 *   extra_bytes           requantization constants in the kernel's own lane order
 *   int8  w[Kp/KR][NR][KR] Kp = K rounded up to KR, zero padded (columns past N too)
 * each panel padded to 64 bytes.
 */
#define DYD_PANEL_HEADER(nr) ((size_t)(nr) * 12)

/* c[m][n] = out(sum_k a[m][k] * w[k][n] + bias[n]) for m < mr, n < nc <= NR.
 * `a` rows are `a_stride` bytes apart, already in the kernel's domain; kc bytes
 * per row are read, never more (the last row may end a buffer). Rows of `c` are
 * `c_stride` bytes apart. */
typedef void (*dyd_gemm_ukernel_fn)(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                    size_t a_stride, const void *w, uint8_t *c,
                                    size_t c_stride, const dyd_out_params *p);

/* 4-bit weights: converts a panel's weight area from the int8 layout above
 * (w8: [kp/KR][NR][KR], every value in [-8, 7]) to the kernel's nibble layout,
 * kp * NR / 2 bytes at `out`. */
typedef void (*dyd_gemm_pack_w4_fn)(const int8_t *w8, size_t kp, void *out);

/* Fills a panel's extra header from its mult/shift columns (dyadic only). */
typedef void (*dyd_gemm_pack_extra_fn)(const int32_t *mult, const int32_t *shift,
                                       int32_t zero_point, void *extra);

typedef struct {
  dyd_isa isa;
  uint32_t mr, nr, kr;
  int a_signed_domain;        /* the kernel multiplies int8 (1) or uint8 (0) activations */
  dyd_gemm_ukernel_fn ukernel[2]; /* [requant kind] */
  dyd_gemm_ukernel_fn ukernel_1row[2]; /* optional, for mr == 1 (fully connected, batch 1) */
  uint32_t extra_bytes;       /* multiple of 64 when nr * 12 is */
  dyd_gemm_pack_extra_fn pack_extra;
  /* Optional kernels for 4-bit weights (conv weight_bits = 4), over panels whose
   * weight area pack_w4 wrote; NULL where the ISA has none (the op then packs
   * int8 panels and runs `ukernel`). */
  dyd_gemm_ukernel_fn ukernel_w4[2], ukernel_w4_1row[2];
  dyd_gemm_pack_w4_fn pack_w4;
  int requires_avxvnni;       /* usable only when dyd_cpu_has_avxvnni() */
  const char *isa_suffix;     /* e.g. "avx512vnni" */
} dyd_gemm_bundle;

/* AVX-VNNI (VEX VPDPBUSD) is an optional feature within the AVX2 level. */
bool dyd_cpu_has_avxvnni(void);

extern const dyd_gemm_bundle *const dyd_gemm_bundles[];
extern const size_t dyd_gemm_bundle_count;

/* ---- Depthwise bundles ------------------------------------------------------------ */

/*
 * Packed weights: per block of CB channels,
 *   int32 bias[CB], int32 mult[CB], int32 shift[CB]  (bias - z_x * sum(w))
 *   extra_bytes of requantization constants in the kernel's lane order
 *   weights in the bundle's own layout (taps rounded up to `tap_round`),
 * each block padded to 64 bytes.
 */
static inline size_t dyd_dw_block_bytes(size_t cb, size_t extra_bytes, size_t taps_padded,
                                        size_t bytes_per_weight) {
  return DYD_ROUND_UP(DYD_PANEL_HEADER(cb) + extra_bytes + taps_padded * cb * bytes_per_weight, 64);
}

/* Packs the weights of one block: w is [channels][taps], channels <= cb. */
typedef void (*dyd_dw_pack_fn)(const int8_t *w, size_t channels, size_t cb, size_t taps,
                               size_t taps_padded, void *out);
/* Shared packers: int8 [taps][cb]; int16 tap pairs [taps_padded / 2][cb][2]. */
void dyd_dw_pack_i8(const int8_t *w, size_t channels, size_t cb, size_t taps,
                    size_t taps_padded, void *out);
void dyd_dw_pack_i16_pairs(const int8_t *w, size_t channels, size_t cb, size_t taps,
                           size_t taps_padded, void *out);

/* For each of `pixels` output pixels: out[c] = out(bias[c] + sum_t in_t[c] * w[t][c]),
 * tap t of pixel i at indirection[i * ind_stride + t] + i * input_step. With
 * ind_stride = taps and input_step = 0 every pixel has its own pointers; with
 * ind_stride = 0 one set of `taps` pointers walks along an input row (pixels whose
 * window lies inside the input horizontally). Missing taps point to a buffer of
 * the input zero point (long enough for the steps). `channels` need not be a
 * multiple of CB; no byte past `channels` of any pointed-to row is read. */
typedef void (*dyd_dw_ukernel_fn)(size_t pixels, size_t channels, size_t taps,
                                  const uint8_t *const *indirection, size_t ind_stride,
                                  size_t input_step, const void *w, uint8_t *out,
                                  size_t out_stride, const dyd_out_params *p);

typedef struct {
  dyd_isa isa;
  uint32_t kernel_h, kernel_w; /* 0, 0: any window; otherwise only this one (any stride/dilation) */
  uint32_t cb, tap_round;
  const char *tile;           /* e.g. "3x3c32" */
  dyd_dw_pack_fn pack;
  dyd_dw_ukernel_fn ukernel[2][2]; /* [requant kind][activations signed] */
  size_t weight_bytes;        /* bytes per packed weight */
  uint32_t extra_bytes;
  dyd_gemm_pack_extra_fn pack_extra; /* same contract as for GEMM panels, over CB columns */
  /* The kernel flips int8 activations to uint8 (xor 0x80) as it loads them, zero-point
   * rows included, so the packed bias folds z_x + 128 for int8 inputs. */
  int flips_signed_input;
  const char *isa_suffix;
} dyd_dw_bundle;

extern const dyd_dw_bundle *const dyd_dw_bundles[];
extern const size_t dyd_dw_bundle_count;

/* ---- Element-wise and pooling bundles ----------------------------------------------- */

typedef void (*dyd_binary_fn)(const dyd_binary_params *p, const uint8_t *a, size_t a_inc,
                              const uint8_t *b, size_t b_inc, uint8_t *y, size_t n);
typedef void (*dyd_lut_fn)(const uint8_t table[256], const uint8_t *x, uint8_t *y, size_t n);
/* y[c] = max(y[c], every one of the `taps` rows), `channels` bytes each. */
typedef void (*dyd_maxpool_fn)(size_t taps, const uint8_t *const *rows, size_t channels,
                               uint8_t *y);
/* acc[c] += sum over the `taps` rows of x (no zero point: the op corrects). */
typedef void (*dyd_sum_fn)(size_t taps, const uint8_t *const *rows, size_t channels,
                           int32_t *acc);

typedef struct {
  dyd_isa isa;
  const char *isa_suffix;
  dyd_binary_fn add[2][2];    /* [requant kind][signed] */
  dyd_binary_fn mul[2][2];
  dyd_lut_fn lut;
  dyd_maxpool_fn maxpool[2];  /* [signed] */
  dyd_sum_fn sum[2];          /* [signed] */
  const char *add_name[2][2], *mul_name[2][2], *lut_name;
} dyd_misc_bundle;

/* Kernel names of a misc bundle, per DESIGN.md's grammar. */
#define DYD_MISC_NAMES(isa)                                                                   \
  .add_name = {{"dyd_qu8_vadd_dyadic_ukernel__" isa, "dyd_qs8_vadd_dyadic_ukernel__" isa},  \
               {"dyd_qu8_vadd_fp32_ukernel__" isa, "dyd_qs8_vadd_fp32_ukernel__" isa}},      \
  .mul_name = {{"dyd_qu8_vmul_dyadic_ukernel__" isa, "dyd_qs8_vmul_dyadic_ukernel__" isa},  \
               {"dyd_qu8_vmul_fp32_ukernel__" isa, "dyd_qs8_vmul_fp32_ukernel__" isa}},      \
  .lut_name = "dyd_x8_lut_ukernel__" isa

extern const dyd_misc_bundle *const dyd_misc_bundles[];
extern const size_t dyd_misc_bundle_count;
const dyd_misc_bundle *dyd_misc_bundle_for(dyd_isa isa);

/* ---- Float32 convolution bundles ---------------------------------------------------- */

/*
 * GEMM micro-kernel, broadcast A / vector B: C[i][j] = init[i][j] + sum_k a[k][i] * b[k][j]
 * for i < mr <= MR, j < nc <= NR, where init is bias[i] (0 when bias is NULL) plus
 * C[i][j] when `accumulate`. `a` is a packed panel [kc][MR] (rows past mr are zero or
 * ignored); `b` has kc rows of NR readable floats, `b_stride` floats apart (a packed
 * strip, or rows of the input itself); only columns j < nc are written (and read).
 */
typedef void (*dyd_f32_gemm_fn)(size_t mr, size_t nc, size_t kc, const float *a,
                                const float *bias, const float *b, size_t b_stride, float *c,
                                size_t c_stride, int accumulate);

/* Depthwise row: out[x] = bias + sum_t w[t] * rows[t][x] for x < n. Every row pointer
 * has DYD_F32_DW_PAD floats readable past n (the op lays its rows out so). */
typedef void (*dyd_f32_dw_fn)(size_t n, size_t taps, const float *const *rows, const float *w,
                              float bias, float *out);
#define DYD_F32_DW_PAD 16

typedef struct {
  dyd_isa isa;
  uint32_t mr, nr;
  dyd_f32_gemm_fn gemm;
  dyd_f32_dw_fn dw;
  const char *isa_suffix;     /* e.g. "avx512f" */
  const char *gemm_name;      /* dyd_f32_gemm_ukernel_<MR>x<NR>__<isa> */
} dyd_f32_bundle;

extern const dyd_f32_bundle *const dyd_f32_bundles[];
extern const size_t dyd_f32_bundle_count;
const dyd_f32_bundle *dyd_f32_bundle_for(dyd_isa isa);

#endif
