/*
 * Internal declarations shared by the kernel sources: the bundle structs that
 * the dispatch lists are made of, the packed-weight layouts, and small inline utilities.
 * Not part of the public API.
 */
#ifndef DYD_COMMON_H
#define DYD_COMMON_H

#include "dyadic_kernels.h"
#include "dyadic_kernels_testing.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <math.h>
#include <string.h>

/* The dyadic requantization oracle's formula (dyd_requantize_dyadic), inline for the
 * scalar loops that requantize arrays: acc * multiplier exactly, one rounding with ties
 * toward +infinity, the zero point, the clamp. */
static inline int32_t dyd_requantize_dyadic_inline(int64_t acc, int32_t multiplier, int32_t shift, int32_t zero_point,
                                                   int32_t qmin, int32_t qmax) {
  const __int128 product = (__int128)acc * multiplier;
  const __int128 y = ((product + ((__int128)1 << (shift - 1))) >> shift) + zero_point;
  return y < qmin ? qmin : (y > qmax ? qmax : (int32_t)y);
}

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

/* The fp32 requantization oracle's formula (dyd_requantize_fp32), inline likewise: one
 * float32 multiply (never fused), round half to even, clamp in float (the bounds are
 * integers, so clamping the rounded value is exact), the zero point. */
static inline int32_t dyd_requantize_fp32_inline(int32_t acc, float scale, int32_t zero_point, int32_t qmin,
                                                 int32_t qmax) {
  float product = (float)acc * scale;
  DYD_FP_BARRIER(product);
  const float rounded = nearbyintf(product);
  const float lo = (float)((int64_t)qmin - zero_point), hi = (float)((int64_t)qmax - zero_point);
  if (rounded < lo) return qmin;
  if (rounded > hi) return qmax;
  return (int32_t)rounded + zero_point;
}


/* The fp32 (ONNX Runtime) add's constants r_a, r_b and k, computed once per call
 * the same way for every ISA; see dyd_binary_params. */
void dyd_ort_add_constants(const dyd_binary_params *p, float *ra, float *rb, float *k);

/* Level of an ISA on its own architecture (scalar = 0), or -1 if foreign. */
int dyd_isa_level(dyd_isa isa);

/* The kernel registry (registry.c) selects every family's bundle; see
 * dyadic_kernels_testing.h for its rows. Returns the first row of `family`, best
 * first, that the CPU runs within `isa`'s features and that `fits` accepts (NULL
 * accepts every row), or a test's forced row when that one qualifies; NULL if none. */
const void *dyd_registry_select(dyd_family family, dyd_isa isa,
                                bool (*fits)(const void *bundle, const void *context),
                                const void *context);
/* Row `row`'s bundle, counted as chosen (for explicit walks over the rows). */
const void *dyd_registry_take(dyd_family family, size_t row);

/* Shared by conv and pooling validation. */
bool dyd_check_geometry(const dyd_conv_geometry *g, bool need_out_c_eq_in_c, char *err,
                        size_t err_len);
/* dyd_check_geometry plus what every convolution family needs: non-zero dilations and
 * groups that divide both channel counts. */
bool dyd_check_conv_geometry(const dyd_conv_geometry *g, char *err, size_t err_len);

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

/* A K step of 4 activation bytes as one int32, for the kernels that broadcast it to
 * every lane of a dot product; the 1-3 bytes left before a row's end are zero extended
 * (nothing is read past them). */
__attribute__((always_inline)) static inline int32_t dyd_load4(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

__attribute__((always_inline)) static inline int32_t dyd_load_tail4(const uint8_t *p, size_t n) {
  int32_t v = 0;
  for (size_t i = 0; i < n; i++) v |= (int32_t)p[i] << (8 * i);
  return v;
}

/* c[m][n] = out(sum_k a[m][k] * w[k][n] + bias[n]) for m < mr, n < nc <= NR.
 * `a` rows are `a_stride` bytes apart, already in the kernel's domain; kc bytes
 * per row are read, never more (the last row may end a buffer). Rows of `c` are
 * `c_stride` bytes apart. */
typedef void (*dyd_gemm_ukernel_fn)(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                    size_t a_stride, const void *w, uint8_t *c,
                                    size_t c_stride, const dyd_out_params *p);

/*
 * Low-bit weights (conv weight_bits 2 and 4; 3 and 5-7 use int8 panels). A panel's
 * weight area holds the int8 layout above, padded with zeros to a whole number of
 * `lowbit_unit` bytes (the int8 bytes one K step, or one unpack step, of the kernel
 * covers), in fields of `bits` bits, 8 / bits per byte: a unit of U int8 bytes
 * becomes P = U * bits / 8 packed bytes, and field j of packed byte i (bits
 * [j * bits, (j + 1) * bits)) is the two's complement of int8 byte j * P + i. So
 * each field of a vector load is a contiguous slice of the int8 layout, which a
 * kernel recovers with a shift and a mask (or a sign-extending shift) in registers.
 * One layout for every ISA; only the unit differs.
 */
void dyd_gemm_pack_planes(const int8_t *w8, size_t bytes, size_t unit, unsigned bits,
                          uint8_t *out);
/* The inverse: `bytes` int8 bytes (a multiple of unit) from their packed form. */
void dyd_gemm_unpack_planes(const uint8_t *in, size_t bytes, size_t unit, unsigned bits,
                            int8_t *w8);
/* An ISA's vector form of dyd_gemm_unpack_planes for its own unit. */
typedef void (*dyd_gemm_unpack_fn)(const uint8_t *in, size_t bytes, int8_t *w8);
/* The same with every weight times 2^k (the caller makes sure they stay int8). */
typedef void (*dyd_gemm_unpack_scaled_fn)(const uint8_t *in, size_t bytes, int8_t *w8, unsigned k);

/* Kernels over the packed form of one width (ukernel[0] == NULL: none, the op then
 * packs int8 panels). With `unpack`, a tile that runs several row blocks over a
 * panel unpacks it once into the caller's workspace and runs the int8 kernels over
 * that copy: the unpack is paid once per panel instead of once per row block. */
typedef struct {
  dyd_gemm_ukernel_fn ukernel[2];      /* [requant kind] */
  dyd_gemm_ukernel_fn ukernel_1row[2]; /* optional */
  dyd_gemm_unpack_fn unpack;           /* optional */
  dyd_gemm_unpack_scaled_fn unpack_scaled; /* optional (bundles with copy_min_shift) */
} dyd_gemm_lowbit;

/* Fills a panel's extra header from its mult/shift columns (dyadic only). acc_max[j]:
 * a bound on |accumulator| of column j (bias and products, int32 before requantization)
 * that holds for every input, proven by the packer from the column's weights, bias and
 * the input zero point; kernels may rely on it (x86: the pre-shifted fast stage). */
typedef void (*dyd_gemm_pack_extra_fn)(const int32_t *mult, const int32_t *shift,
                                       int32_t zero_point, const int64_t *acc_max, void *extra);

typedef struct {
  uint32_t mr, nr, kr;
  int a_signed_domain;        /* the kernel multiplies int8 (1) or uint8 (0) activations */
  dyd_gemm_ukernel_fn ukernel[2]; /* [requant kind] */
  dyd_gemm_ukernel_fn ukernel_1row[2]; /* optional, for mr == 1 (fully connected, batch 1) */
  uint32_t extra_bytes;       /* multiple of 64 when nr * 12 is */
  dyd_gemm_pack_extra_fn pack_extra;
  /* 4-bit (qc4w) and 2-bit (qc2w) forms over the plane layout with this unit. */
  uint32_t lowbit_unit;
  dyd_gemm_lowbit w4, w2;
  /* 0, or the least shift the kernels' output stage takes without extra work (x86
   * AVX-512: 33; below it the accumulators are shifted left first). The unpacked
   * copies of low-bit panels then carry weights scaled by 2^k and shifts raised by
   * k to reach it, which gives the same outputs: (2^k acc m + 2^(s+k-1)) >> (s+k)
   * = (acc m + 2^(s-1)) >> s. */
  uint32_t copy_min_shift;
  /* 0, or the most output channels per group the bundle is chosen for (a narrow
   * tile listed before the wide one of its level; int8 panels only). */
  uint32_t max_columns;
  const char *isa_suffix;     /* e.g. "avx512vnni" */
} dyd_gemm_bundle;

/* Which path tiles of low-bit ops take (read when an op is created): 0 packed
 * kernels only, 1 (default) the unpacked copy for tiles with more than one row
 * block where the bundle has an unpack, 2 the copy for every tile. Tests set it to
 * run both paths; nothing else should. */
extern int dyd_gemm_lowbit_unpack_mode;

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

/*
 * Low-bit weights (conv weight_bits 4 or 2, values in [-8, 7] / [-2, 1]): a block's
 * weight area is the bundle's int8 layout (`pack_i8`, area8 = taps_padded * cb bytes)
 * cut into chunks of `chunk` bytes (one SIMD vector), and 8 / bits consecutive chunks
 * share one stored chunk: chunk k lives in bits [(k % per) * bits, + bits) of each
 * byte of stored chunk k / per, two's complement. A shift and a mask per vector
 * recover it, so a kernel unpacks a whole block with a few instructions per vector.
 * Kernels unpack a block once per call (an output row) into a stack buffer in their
 * int8 (or int16) layout and run the int8 loop over it; the packer uses the low-bit
 * form only where that buffer fits DYD_DW_STAGE_BYTES.
 */
#define DYD_DW_STAGE_BYTES 16384
static inline size_t dyd_dw_lowbit_bytes(size_t area8, size_t chunk, unsigned bits) {
  const size_t per = 8 / bits;
  return DYD_ROUND_UP(area8, chunk * per) / per;
}
static inline size_t dyd_dw_lowbit_block_bytes(size_t cb, size_t extra_bytes, size_t taps_padded,
                                               size_t chunk, unsigned bits) {
  return DYD_ROUND_UP(DYD_PANEL_HEADER(cb) + extra_bytes +
                          dyd_dw_lowbit_bytes(taps_padded * cb, chunk, bits), 64);
}
/* Stores area8 int8 weights (each in the `bits`-bit range) as described above. */
void dyd_dw_pack_bits(const int8_t *w8, size_t area8, size_t chunk, unsigned bits, void *out);

/* Packs the weights of one block: w is [channels][taps], channels <= cb. */
typedef void (*dyd_dw_pack_fn)(const int8_t *w, size_t channels, size_t cb, size_t taps,
                               size_t taps_padded, void *out);
/* Shared packers: int8 [taps][cb]; int16 (or int8) tap pairs [taps_padded / 2][cb][2]. */
void dyd_dw_pack_i8(const int8_t *w, size_t channels, size_t cb, size_t taps,
                    size_t taps_padded, void *out);
void dyd_dw_pack_i8_pairs(const int8_t *w, size_t channels, size_t cb, size_t taps,
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
  /* Low-bit weights (see dyd_dw_pack_bits): the int8 layout before bit packing,
   * the chunk size, and kernels for 4-bit ([0]) and 2-bit ([1]) blocks. */
  dyd_dw_pack_fn pack_i8;
  uint32_t chunk;
  dyd_dw_ukernel_fn ukernel_lowbit[2][2][2]; /* [4, 2 bits][requant kind][activations signed] */
} dyd_dw_bundle;


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
  const char *isa_suffix;
  dyd_binary_fn add[2][2];    /* [requant kind][signed] */
  dyd_binary_fn mul[2][2];
  dyd_lut_fn lut;
  dyd_maxpool_fn maxpool[2];  /* [signed] */
  dyd_sum_fn sum[2];          /* [signed] */
  const char *add_name[2][2], *mul_name[2][2], *lut_name;
} dyd_misc_bundle;

/* Kernel names of a misc bundle, per DESIGN.md's grammar (the table lookup may come
 * from another ISA than the rest). */
#define DYD_MISC_NAMES(isa) DYD_MISC_NAMES_LUT(isa, isa)
#define DYD_MISC_NAMES_LUT(isa, lut_isa)                                                      \
  .add_name = {{"dyd_qu8_vadd_dyadic_ukernel__" isa, "dyd_qs8_vadd_dyadic_ukernel__" isa},  \
               {"dyd_qu8_vadd_fp32_ukernel__" isa, "dyd_qs8_vadd_fp32_ukernel__" isa}},      \
  .mul_name = {{"dyd_qu8_vmul_dyadic_ukernel__" isa, "dyd_qs8_vmul_dyadic_ukernel__" isa},  \
               {"dyd_qu8_vmul_fp32_ukernel__" isa, "dyd_qs8_vmul_fp32_ukernel__" isa}},      \
  .lut_name = "dyd_x8_lut_ukernel__" lut_isa

extern const dyd_misc_bundle dyd_misc_bundle_scalar;
const dyd_misc_bundle *dyd_misc_bundle_for(dyd_isa isa);
#if defined(__x86_64__)
void dyd_lut_avx512vbmi(const uint8_t table[256], const uint8_t *x, uint8_t *y, size_t n);
#endif


/* ---- FP8 compute bundles (W4A8) ------------------------------------------------------------ */

/*
 * Packed weights, one format for every bundle (fp8conv-op.c): K is laid out as K'
 * (kernel blocks of 32 elements, each inside one table group, zero padded), and per
 * panel of NR output channels, per block: NR x 16 bytes, byte i of a column holding
 * the codes q + 8 of elements i (low nibble) and i + 16 (high nibble) of the block.
 * Activations are converted into the same K' layout in the workspace, in the
 * bundle's compute format (a_bytes per element), padding 0.
 */
#define DYD_F8_KB 32

typedef struct {
  float out_min, out_max;
  float output_scale;
  int output_fp8;
  float output_recip; /* 1.0f / output_scale (rounded once): vector kernels divide with it */
} dyd_f8_out;

/* n E4M3 codes to the compute format (float32, bfloat16 or float16 bits). */
typedef void (*dyd_f8_convert_fn)(const uint8_t *codes, size_t n, void *dst);

/* c[r][j] = epilogue(sum_k a[r][k] * w[k][j]) for r < mr, j < nc <= NR over kb blocks.
 * tables[j]: the 16-byte E4M3 tables of column j's output channel; block b uses
 * table block_table[b] (block_table NULL: table 0 throughout). scale/bias: nc entries.
 * Rows of c are c_stride bytes apart; output format per p. */
typedef void (*dyd_f8_gemm_fn)(size_t mr, size_t nc, size_t kb, const void *a, size_t a_stride,
                               const uint8_t *w, const uint8_t *const *tables,
                               const uint16_t *block_table, const float *scale, const float *bias,
                               void *c, size_t c_stride, const dyd_f8_out *p);

/* Depthwise: `pixels` outputs along one row; tap (ky, kx) of pixel i at
 * in + i * in_step + ky * in_row + kx * in_col (bytes, in the dw input format);
 * w: [kh * kw][cb] floats; `channels` <= cb. */
typedef void (*dyd_f8_dw_fn)(size_t pixels, size_t channels, size_t kh, size_t kw,
                             const void *in, size_t in_row, size_t in_col, size_t in_step,
                             const float *w, size_t cb, const float *scale, const float *bias,
                             void *out, size_t out_step, const dyd_f8_out *p);

/* The pair layout (bundles with pgemm; ops with at least DYD_F8_PAIR_MIN_M rows): K' is K
 * cut into pairs (each table group padded to an even length), and per panel of
 * DYD_F8_PNR = 32 output channels, per pair: 32 bytes, byte j holding the codes of
 * elements 2p (low nibble) and 2p + 1 (high nibble) of column j. The E4M3 tables are
 * stored per panel: [table index][32 columns][16] (columns past the last: zeros).
 * Per tile, pdecode turns a panel into float32 through the tables (K-major: per K'
 * element 32 floats, columns past nc undefined); pgemm runs rows, converted by
 * pconvert to pa_bytes per element, over that panel. */
#define DYD_F8_PNR 32
#define DYD_F8_PAIR_MIN_M 8
typedef void (*dyd_f8_pdecode_fn)(const uint8_t *w, const uint8_t *tables, const uint16_t *pair_table,
                                  size_t pairs, size_t nc, float *dst);
/* c[r][j] = epilogue(sum_k a[r][k] * w[k][j]) for r < mr, j < nc <= 32 over 2 * pairs
 * elements; a: rows a_stride bytes apart; w: the decoded panel. */
typedef void (*dyd_f8_pgemm_fn)(size_t mr, size_t nc, size_t pairs, const void *a, size_t a_stride,
                                const float *w, const float *scale, const float *bias, void *c,
                                size_t c_stride, const dyd_f8_out *p);

typedef void (*dyd_f8_add_fn)(const dyd_fp8_add_params *p, const uint8_t *a, size_t a_inc,
                              const uint8_t *b, size_t b_inc, uint8_t *y, size_t n);
typedef void (*dyd_f8_gavg_fn)(const dyd_fp8_avgpool_params *p, const uint8_t *x, uint8_t *y);

typedef struct {
  const char *isa_suffix;
  uint32_t mr, nr;
  size_t a_bytes;
  dyd_f8_convert_fn convert;
  dyd_f8_gemm_fn gemm;
  /* depthwise: input converted to dw_in_bytes per element by dw_convert; weights
   * decoded to float and multiplied by dw_w_mult (exact: a power of 2), by
   * dw_wconvert when the bundle has one (NULL: a table lookup per weight) */
  uint32_t dw_cb;
  size_t dw_in_bytes;
  float dw_w_mult;
  dyd_f8_convert_fn dw_convert;
  dyd_f8_convert_fn dw_wconvert;
  dyd_f8_dw_fn dw;
  const char *dw_suffix;       /* when the depthwise kernel is another bundle's, its ISA */
  /* optional pair layout (see above): decode and MR x 32 kernel */
  dyd_f8_pdecode_fn pdecode;
  dyd_f8_pgemm_fn pgemm;
  uint32_t pmr;
  size_t pa_bytes;
  dyd_f8_convert_fn pconvert;
  const char *p_suffix;        /* when the pair kernel is another bundle's, its ISA */
  dyd_f8_add_fn add;
  dyd_f8_gavg_fn gavg;
  const char *add_name, *gavg_name;
} dyd_f8_bundle;

extern const dyd_f8_bundle dyd_f8_bundle_scalar;
const dyd_f8_bundle *dyd_f8_bundle_for(dyd_isa isa);

/* float32 -> E4M3 as dyd_fp8_e4m3_from_f32(x, 1), inline for kernels' tails. */
static inline uint8_t dyd_f8_encode_sat(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  const uint8_t sign = (uint8_t)((u >> 24) & 0x80);
  const uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return sign | 0x7F;
  if (a > 0x43E80000u) return sign | 0x7E;
  if (a >= 0x3C800000u) {
    const uint32_t r = a - (120u << 23);
    return sign | (uint8_t)((r + 0x7FFFFu + ((r >> 20) & 1u)) >> 20);
  }
  if (a <= 0x3A800000u) return sign;
  const uint32_t e = a >> 23, sig = 0x800000u | (a & 0x7FFFFFu), sh = 141u - e;
  return sign | (uint8_t)((sig + (1u << (sh - 1)) - 1u + ((sig >> sh) & 1u)) >> sh);
}

/* The conv epilogue for one output, as the header defines it. */
static inline void dyd_f8_store_scalar(float acc, float scale, float bias, const dyd_f8_out *p,
                                       void *c, size_t j) {
  float v = __builtin_fmaf(acc, scale, bias);
  v = v < p->out_min ? p->out_min : v;
  v = v > p->out_max ? p->out_max : v;
  if (p->output_fp8) {
    ((uint8_t *)c)[j] = dyd_f8_encode_sat(v / p->output_scale);
  } else {
    ((float *)c)[j] = v;
  }
}

/* E4M3 -> the "shifted" float16 bits (sign << 15 | magnitude << 7), whose value is
 * exactly e4m3 / 256 (the exponent bias differs by 8; subnormals line up too). */
static inline uint16_t dyd_f8_to_h(uint8_t c) {
  return (uint16_t)(((c & 0x80u) << 8) | ((c & 0x7Fu) << 7));
}

/* ---- Float32 convolution bundles ---------------------------------------------------- */

/* The fused activation as kernels take it (dyd_f32conv_desc's fields). */
typedef struct {
  dyd_f32_activation kind;
  float lo, hi;       /* DYD_F32_ACT_CLAMP, _LEAKY_CLAMP */
  float alpha, beta;  /* _LEAKY_CLAMP (alpha), _HARDSWISH */
} dyd_f32_act;

/*
 * GEMM micro-kernel, broadcast A / vector B: C[i][j] = act(init[i][j] + sum_k a[k][i] * b_k[j])
 * for i < mr <= MR, j < nc <= NR, where init is bias[i] (0 when bias is NULL) plus
 * C[i][j] when `accumulate`, and act is `act` (NULL: none). `a` is a packed panel
 * [kc][MR] (rows past mr are zero or ignored). B's row k, b_k, is b + b_off[k] when
 * b_off is not NULL (the direct conv's taps), else b + k * b_stride (a packed strip,
 * or rows of the input itself); each has NR readable floats. Only columns j < nc are
 * written (and read).
 */
typedef void (*dyd_f32_gemm_fn)(size_t mr, size_t nc, size_t kc, const float *a,
                                const float *bias, const float *b, size_t b_stride,
                                const size_t *b_off, float *c, size_t c_stride, int accumulate,
                                const dyd_f32_act *act);

/* Depthwise row: out[x] = bias + sum_t w[t] * rows[t][x] for x < n. Every row pointer
 * has DYD_F32_DW_PAD floats readable past n (the op lays its rows out so). */
typedef void (*dyd_f32_dw_fn)(size_t n, size_t taps, const float *const *rows, const float *w,
                              float bias, float *out);
#define DYD_F32_DW_PAD 16

/* x[i] = act(x[i]) for i < n, the same arithmetic as the GEMM epilogue. */
typedef void (*dyd_f32_act_fn)(size_t n, float *x, const dyd_f32_act *act);

/* dst[q] = src[q * stride] for q < n (stride >= 1): the direct conv's deinterleave
 * of input rows by column phase. Reads nothing past src[(n - 1) * stride]. */
typedef void (*dyd_f32_gather_fn)(size_t n, const float *src, size_t stride, float *dst);

/* A panel for the GEMM micro-kernel from rows of a row-major matrix: panel[q][i] =
 * a[i * lda + q] for q < k, i < MR, rows i >= `rows` (rows <= MR) zero. The packed-B
 * GEMM's per-call copy of A (a transpose: vector code per ISA). */
typedef void (*dyd_f32_pack_fn)(size_t rows, size_t k, const float *a, size_t lda, float *panel);

typedef struct {
  uint32_t mr, nr;
  dyd_f32_gemm_fn gemm;
  dyd_f32_dw_fn dw;
  dyd_f32_act_fn act;
  dyd_f32_gather_fn gather;
  dyd_f32_pack_fn pack;
  const char *isa_suffix;     /* e.g. "avx512f" */
  const char *gemm_name;      /* dyd_f32_gemm_ukernel_<MR>x<NR>__<isa> */
} dyd_f32_bundle;

/*
 * SiLU, shared by every ISA (the vector forms in f32-*.c follow this one step by
 * step): silu(y) = y / (1 + t) for y >= 0, y t / (1 + t) otherwise, t = exp(-|y|) in
 * (0, 1], so nothing overflows. exp(x), x = max(-|y|, -110) (below, silu rounds to
 * -0: 110 e^-110 < 2^-150; the numerator uses max(y, -110) alike): n = rint(x log2 e)
 * in [-159, 0], r = x - n ln2 with ln2 split in two
 * (n * LN2_HI is exact: 9 + 8 significant bits), |r| <= 0.35, exp(r) by the degree-7
 * Taylor polynomial (truncation 5e-9 relative, 0.05 ulp), then 2^n. Negative y keep
 * the 2^n out of the quotient, y p / (1 + t) * 2^n, and apply it last, so a subnormal
 * result is rounded once.
 */
#define DYD_SILU_XMIN (-110.0f)
#define DYD_SILU_LOG2E 1.44269504088896341f
#define DYD_SILU_LN2_HI 0.693359375f
#define DYD_SILU_LN2_LO (-2.12194440e-4f)
#define DYD_SILU_C2 (1.0f / 2)
#define DYD_SILU_C3 (1.0f / 6)
#define DYD_SILU_C4 (1.0f / 24)
#define DYD_SILU_C5 (1.0f / 120)
#define DYD_SILU_C6 (1.0f / 720)
#define DYD_SILU_C7 (1.0f / 5040)

static inline float dyd_f32_pow2i(int n) { /* 2^n for n in [-126, 127] */
  union { uint32_t u; float f; } v = {.u = (uint32_t)(n + 127) << 23};
  return v.f;
}

static inline float dyd_f32_silu(float y) {
  const float ay = y < 0 ? -y : y;
  const float x = -ay > DYD_SILU_XMIN ? -ay : DYD_SILU_XMIN;
  const float n = __builtin_rintf(x * DYD_SILU_LOG2E);
  float r = __builtin_fmaf(-n, DYD_SILU_LN2_HI, x);
  r = __builtin_fmaf(-n, DYD_SILU_LN2_LO, r);
  float p = DYD_SILU_C7;
  p = __builtin_fmaf(p, r, DYD_SILU_C6);
  p = __builtin_fmaf(p, r, DYD_SILU_C5);
  p = __builtin_fmaf(p, r, DYD_SILU_C4);
  p = __builtin_fmaf(p, r, DYD_SILU_C3);
  p = __builtin_fmaf(p, r, DYD_SILU_C2);
  p = __builtin_fmaf(p, r, 1.0f);
  p = __builtin_fmaf(p, r, 1.0f);
  const int ni = (int)n, n1 = ni / 2, n2 = ni - n1; /* each in [-80, 0]: 2^n1, 2^n2 normal */
  const float s1 = dyd_f32_pow2i(n1), s2 = dyd_f32_pow2i(n2);
  const float d = 1.0f + p * s1 * s2;
  if (!(y < 0)) return y / d; /* NaN too */
  const float yc = y > DYD_SILU_XMIN ? y : DYD_SILU_XMIN;
  return yc * p / d * s1 * s2;
}

static inline void dyd_f32_gather_scalar(size_t n, const float *src, size_t stride, float *dst) {
  if (stride == 1) memcpy(dst, src, n * sizeof(float));
  else
    for (size_t q = 0; q < n; q++) dst[q] = src[q * stride];
}

/* dyd_f32_pack_fn for columns [q0, k) of a panel of mr rows (the vector packers' tails). */
static inline void dyd_f32_pack_scalar(size_t rows, size_t q0, size_t k, const float *a, size_t lda,
                                       size_t mr, float *panel) {
  for (size_t q = q0; q < k; q++)
    for (size_t i = 0; i < mr; i++) panel[q * mr + i] = i < rows ? a[i * lda + q] : 0.0f;
}

static inline float dyd_f32_act_apply(float v, const dyd_f32_act *act) {
  if (act == NULL || act->kind == DYD_F32_ACT_NONE) return v;
  if (act->kind == DYD_F32_ACT_LEAKY_CLAMP) v = v >= 0 ? v : v * act->alpha;
  if (act->kind == DYD_F32_ACT_CLAMP || act->kind == DYD_F32_ACT_LEAKY_CLAMP) {
    v = v > act->lo ? v : act->lo;
    return v < act->hi ? v : act->hi;
  }
  if (act->kind == DYD_F32_ACT_HARDSWISH) {
    float t = act->alpha * v;
    DYD_FP_BARRIER(t);
    t = t + act->beta;
    t = t < 1 ? t : 1;
    t = t > 0 ? t : 0;
    return v * t;
  }
  return dyd_f32_silu(v);
}

extern const dyd_f32_bundle dyd_f32_bundle_scalar;
const dyd_f32_bundle *dyd_f32_bundle_for(dyd_isa isa);

/* ---- Integer GEMM with a float output (dynamic quantization) ------------------------- */

/*
 * Packed B (qgemm-op.c): per panel of NR columns
 *   int32 colsum[NR]       sum over k of b[k][n] (0 past the last column)
 *   int32 zb[NR]           b_zero_point[n] (0 past the last column, or all 0)
 *   int8  w[Kp/KR][NR][KR] Kp = K rounded up to KR, zero padded
 * each panel padded to 64 bytes.
 */
#define DYD_QGEMM_HEADER(nr) ((size_t)(nr) * 8)

/* Output forms of a kernel: int32, float32 (acc * scale), float32 (acc * scale + bias). */
enum { DYD_QGEMM_OUT_S32 = 0, DYD_QGEMM_OUT_F32 = 1, DYD_QGEMM_OUT_F32_BIAS = 2, DYD_QGEMM_OUT_COUNT = 3 };

/* What one kernel call needs besides the panel. */
typedef struct {
  int32_t a_zero_point;
  /* [mr]: k * a_zero_point - sum of the row's k bytes, or NULL when every zb is 0 */
  const int32_t *row_corr;
  const float *scale, *bias; /* NR floats each (the op pads a partial panel's) */
} dyd_qgemm_args;

/*
 * c[i][j] = out(sum_k a[i][k] b[k][j] - za colsum[j] + zb[j] row_corr[i]) for i < mr <= MR,
 * j < nc <= NR, wrapping int32 arithmetic (the true sum fits, so wrapping is exact).
 * `a` rows are a_stride bytes apart: the raw uint8 rows, kc bytes read per row and never
 * more, or (bundles with prepare_a) that function's output. c rows are c_stride elements
 * (int32 or float) apart; only columns j < nc are written.
 */
typedef void (*dyd_qgemm_ukernel_fn)(size_t mr, size_t nc, size_t kc, const uint8_t *a,
                                     size_t a_stride, const void *panel, const dyd_qgemm_args *args,
                                     void *c, size_t c_stride);
/* sums[i] = sum of the kc bytes of row i, for i < mr. */
typedef void (*dyd_qgemm_rowsum_fn)(size_t mr, size_t kc, const uint8_t *a, size_t a_stride,
                                    int32_t *sums);
/* Rewrites mr rows of kc bytes into the kernel's activation format at dst, rows
 * dst_stride bytes apart (kc rounded up to KR, zero padded). */
typedef void (*dyd_qgemm_prepare_fn)(size_t mr, size_t kc, const uint8_t *a, size_t a_stride,
                                     void *dst, size_t dst_stride);

typedef struct {
  uint32_t mr, nr, kr;
  dyd_qgemm_ukernel_fn ukernel[DYD_QGEMM_OUT_COUNT];
  dyd_qgemm_rowsum_fn rowsum;
  dyd_qgemm_prepare_fn prepare_a;  /* optional */
  uint32_t prepared_bytes;         /* bytes per activation after prepare_a */
  const char *isa_suffix;
} dyd_qgemm_bundle;

extern const dyd_qgemm_bundle dyd_qgemm_bundle_scalar;
void dyd_qgemm_rowsum_scalar(size_t mr, size_t kc, const uint8_t *a, size_t a_stride, int32_t *sums);
#if defined(__x86_64__)
void dyd_qgemm_rowsum_avx2(size_t mr, size_t kc, const uint8_t *a, size_t a_stride, int32_t *sums);
#elif defined(__aarch64__)
void dyd_qgemm_rowsum_neon(size_t mr, size_t kc, const uint8_t *a, size_t a_stride, int32_t *sums);
#endif

#endif
