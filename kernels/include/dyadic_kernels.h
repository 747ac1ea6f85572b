/*
 * DyadicKernels — the one public header of Dyadic's C kernels.
 *
 * Why this boundary: the Swift engine knows shapes, quantization parameters and
 * threads; the C side knows ISAs, tile sizes and packed weight layouts. So the
 * engine hands each layer's description to a `*_create` function once, at load:
 * it picks the best kernel bundle for this CPU (kernel + packer + tile sizes),
 * packs the weights and folds every zero-point correction into the packed bias.
 * At run time the engine only calls `*_run` on ranges of independent work items
 * ("tiles"), from as many threads as it likes, each with its own workspace.
 * Nothing in `*_run` allocates.
 *
 * Layout: activations are NHWC, contiguous inside a pixel; a pixel stride (in
 * elements) allows writing into a slice of a wider tensor (concat in place).
 *
 * Numerics (see DESIGN.md): a quantized value q means scale * (q - zero_point).
 *   - DYD_REQUANT_DYADIC: y = clamp(((acc * m + 2^(s-1)) >> s) + z, lo, hi),
 *     acc * m in int64, arithmetic shift, 0 <= m < 2^31, 1 <= s <= 62.
 *     (m = 0 encodes a zero scale: y = clamp(z).) Shifts up to 127 are accepted
 *     and follow the same formula (for int32 accumulators any s >= 63 gives z).
 *   - DYD_REQUANT_FP32 (the `onnxruntime` profile): y = clamp(rne(float(acc) * scale) + z),
 *     one float32 multiply, round half to even, never a fused multiply-add.
 */
#ifndef DYADIC_KERNELS_H
#define DYADIC_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- CPU features and dispatch ------------------------------------------------ */

typedef enum {
  DYD_ISA_SCALAR = 0,
  DYD_ISA_AVX2 = 1,
  DYD_ISA_AVX512VNNI = 2,
  DYD_ISA_NEON = 3,
  DYD_ISA_NEONDOT = 4,
  DYD_ISA_I8MM = 5,
} dyd_isa;

/* The ISA level this process uses: detected once, capped by the environment
 * variable DYADIC_ISA (scalar, avx2, avx512vnni, neon, neondot, i8mm). A level
 * above the detected one is capped to it; an unknown name, or one of the other
 * architecture, is ignored. Within the AVX2 level, GEMMs use AVX-VNNI when the CPU
 * reports it (DYADIC_ASSUME_AVXVNNI=1 asserts it where a hypervisor hides the bit). */
dyd_isa dyd_active_isa(void);
/* The best level the CPU supports, ignoring DYADIC_ISA. */
dyd_isa dyd_detected_isa(void);
const char *dyd_isa_name(dyd_isa isa);

/* ---- Requantization ---------------------------------------------------------------- */

typedef enum { DYD_REQUANT_DYADIC = 0, DYD_REQUANT_FP32 = 1 } dyd_requant_kind;

/* Per-channel requantization. Arrays have `channels` entries when per_channel
 * is non-zero, one entry otherwise. `*_create` functions copy them. */
typedef struct {
  dyd_requant_kind kind;
  int per_channel;
  const int32_t *multiplier; /* dyadic */
  const int32_t *shift;      /* dyadic */
  const float *scale;        /* fp32 */
  int32_t zero_point;        /* output zero point */
  int32_t qmin, qmax;        /* clamp bounds in the output's integer domain (fused ReLU/Clip) */
} dyd_requant;

/* Scalar requantization of one accumulator (the oracle every kernel matches). */
int32_t dyd_requantize_dyadic(int64_t acc, int32_t multiplier, int32_t shift,
                              int32_t zero_point, int32_t qmin, int32_t qmax);
int32_t dyd_requantize_fp32(int32_t acc, float scale, int32_t zero_point,
                            int32_t qmin, int32_t qmax);

/* ---- Convolution family: GEMM (1x1, fully connected), general conv, depthwise --- */

typedef struct {
  uint32_t batch, in_h, in_w, in_c;     /* input NHWC */
  uint32_t out_h, out_w, out_c;         /* output NHWC */
  uint32_t kernel_h, kernel_w;
  uint32_t stride_h, stride_w;
  uint32_t dilation_h, dilation_w;
  uint32_t pad_top, pad_left;           /* bottom/right follow from the output size */
  uint32_t groups;
  uint32_t in_pixel_stride;             /* elements between input pixels (>= in_c) */
  uint32_t out_pixel_stride;            /* elements between output pixels (>= out_c) */
} dyd_conv_geometry;

typedef struct {
  dyd_conv_geometry geometry;
  int input_signed;                /* 0: uint8 activations, 1: int8 */
  int output_signed;
  int32_t input_zero_point;        /* padding reads this value (a real 0) */
  const int8_t *weights;           /* [out_c][kernel_h][kernel_w][in_c / groups], symmetric */
  const int32_t *bias;             /* [out_c] int32 at scale s_x*s_w[c], or NULL */
  dyd_requant requant;             /* channels = out_c */
  /* 0 or 8: int8 weights. 2 to 7: every weight is in [-2^(b-1), 2^(b-1) - 1]
   * (`weights` still holds one int8 per weight; create rejects a weight outside).
   * Kernels store 4-bit weights two per byte (qc4w) and 2-bit weights four per byte
   * (qc2w): the GEMM, im2col and depthwise kernels of every ISA (depthwise falls back
   * to int8 for windows too large for its unpack buffer); other widths pack int8
   * panels (qc8w). The arithmetic, and so every output, is the same either way.
   * Other values are rejected. Last field, so that zero-initialised descriptors
   * mean int8. */
  uint32_t weight_bits;
} dyd_conv_desc;

/* Swift imports a C struct with one memberwise initializer over every field, so
 * adding weight_bits would break callers written before it; this restores the
 * earlier initializer (weight_bits = 0, int8) next to the new one. */
#if defined(__has_attribute)
#if __has_attribute(swift_name)
__attribute__((swift_name("dyd_conv_desc.init(geometry:input_signed:output_signed:"
                          "input_zero_point:weights:bias:requant:)")))
static inline dyd_conv_desc dyd_conv_desc_make_int8(dyd_conv_geometry geometry, int input_signed,
                                                    int output_signed, int32_t input_zero_point,
                                                    const int8_t *weights, const int32_t *bias,
                                                    dyd_requant requant) {
  dyd_conv_desc d = {geometry, input_signed, output_signed, input_zero_point, weights, bias,
                     requant, 0};
  return d;
}
#endif
#endif

typedef struct dyd_conv_op dyd_conv_op;

/* NULL on failure, with a one-line reason in err. */
dyd_conv_op *dyd_conv_create(const dyd_conv_desc *desc, char *err, size_t err_len);
void dyd_conv_destroy(dyd_conv_op *op);
/* Independent work items of one run; any partition of [0, tile_count) may run concurrently. */
size_t dyd_conv_tile_count(const dyd_conv_op *op);
/* Bytes of scratch each concurrent caller of dyd_conv_run needs (may be 0). */
size_t dyd_conv_workspace_size(const dyd_conv_op *op);
/* Kernel name per DESIGN.md's grammar, e.g. dyd_qu8_qc8w_gemm_dyadic_ukernel_4x16c4__avx512vnni. */
const char *dyd_conv_kernel_name(const dyd_conv_op *op);
/* Bytes held by the packed weights and bias. */
size_t dyd_conv_packed_size(const dyd_conv_op *op);
/* Bytes of packed weights actually stored (without bias, requantization constants
 * and alignment padding): what the layer's weights cost in memory, e.g. a half and
 * a quarter of the int8 figure for 4- and 2-bit weights on a GEMM kernel. Includes
 * the zero padding of K and of the last panel of output channels. */
size_t dyd_conv_packed_weight_bytes(const dyd_conv_op *op);
void dyd_conv_run(const dyd_conv_op *op, const void *input, void *output,
                  size_t tile_start, size_t tile_count, void *workspace);

/* ---- Integer matrix product with a float output (dynamic quantization) ------------ */

/* acc[m][n] = sum_k (a[m][k] - a_zero_point) * (b[k][n] - b_zero_point[n]), exact in int32.
 * dyd_qgemm_run_f32: y[m][n] = (float)acc[m][n] * scale[n], then + bias[n] when bias is
 * non-NULL: one float32 multiply and one float32 add, each rounded (never an FMA), which is
 * ONNX Runtime's MatMulInteger -> Cast -> Mul -> Add bit for bit.
 * dyd_qgemm_run_s32: y[m][n] = acc[m][n].
 * Same op pattern as dyd_conv: `_create` picks a kernel bundle for this CPU and packs b
 * once (with its column sums); `_run` computes any range of independent tiles, from any
 * thread, each caller with its own workspace; nothing in `_run` allocates.
 * a: uint8 [m][k] with row stride lda; y: [m][n] with row stride ldy (both in elements);
 * a_zero_point in [0, 255]; scale and bias: n floats. Kernel names follow DESIGN.md, e.g.
 * dyd_qu8_qc8w_qgemm_fp32_ukernel_8x32c4__avx512vnni. */
typedef struct {
  size_t k, n;
  const int8_t *b;              /* [k][n] row-major, as ONNX MatMul's B */
  const int32_t *b_zero_point;  /* [n], each in [-128, 127], or NULL for all 0 */
} dyd_qgemm_desc;
typedef struct dyd_qgemm_op dyd_qgemm_op;
/* NULL on failure, with a one-line reason in err: k or n 0, k above 2^31 / (255 * 256)
 * (= 32896, so that every sum fits int32), b NULL, a zero point out of range. */
dyd_qgemm_op *dyd_qgemm_create(const dyd_qgemm_desc *desc, char *err, size_t err_len); /* copies and packs b */
/* The same on `isa`'s bundle (capped to what the CPU runs, like dyd_conv_create_for_isa). */
dyd_qgemm_op *dyd_qgemm_create_for_isa(const dyd_qgemm_desc *desc, dyd_isa isa, char *err, size_t err_len);
void dyd_qgemm_destroy(dyd_qgemm_op *op);
/* For a B known only at run time (attention's K^T and V): an op built and packed inside
 * the caller's memory of dyd_qgemm_inplace_size(k, n) bytes (any alignment), without
 * allocating; NULL for an invalid descriptor or too little memory. It lives as long as
 * the memory and is not destroyed. Uses the active ISA's bundle. */
size_t dyd_qgemm_inplace_size(size_t k, size_t n);
dyd_qgemm_op *dyd_qgemm_init_in(const dyd_qgemm_desc *desc, void *memory, size_t bytes);
const char *dyd_qgemm_kernel_name(const dyd_qgemm_op *op);
/* Bytes held by the packed b, its column sums and zero points. */
size_t dyd_qgemm_packed_size(const dyd_qgemm_op *op);
/* Independent work items for m rows; any partition of [0, count) may run concurrently. */
size_t dyd_qgemm_tile_count(const dyd_qgemm_op *op, size_t m);
/* Scratch bytes each concurrent caller needs for m rows (may be 0; any alignment). */
size_t dyd_qgemm_workspace_size(const dyd_qgemm_op *op, size_t m);
void dyd_qgemm_run_f32(const dyd_qgemm_op *op, size_t m, const uint8_t *a, size_t lda,
                       int32_t a_zero_point, const float *scale, const float *bias,
                       float *y, size_t ldy, size_t tile_start, size_t tile_count, void *workspace);
void dyd_qgemm_run_s32(const dyd_qgemm_op *op, size_t m, const uint8_t *a, size_t lda,
                       int32_t a_zero_point, int32_t *y, size_t ldy,
                       size_t tile_start, size_t tile_count, void *workspace);

/* ConvInteger on uint8 codes with the same float output stage, for dynamic
 * quantization: y[n][c][p] = clamp((float)acc * scale[c] (+ bias[c]), lo, hi) (a fused
 * Relu/Clip; -inf, inf for none; NaN stays NaN), where acc is the exact
 * sum of (x - x_zero_point)(w - w_zero_point[c]) over the window (padding is
 * x_zero_point, a real 0), plus acc_bias[c] (wrapping int32; NULL for none: older
 * quantizers add the bias before the Cast). x: NHWC when dyd_qconv_reads_nhwc (the GEMM path), else
 * NCHW (depthwise); y: NCHW float; the geometry's pixel strides are ignored. Weights
 * OIHW [out_c][in_c / groups][kh][kw]. Kernel name: the qgemm's, or the depthwise
 * loop's. Tiles may run concurrently, each caller with its own workspace. */
typedef struct {
  dyd_conv_geometry geometry;
  const int8_t *weights;
  const int32_t *weight_zero_point; /* [out_c], each in [-128, 127], or NULL for all 0 */
} dyd_qconv_desc;
typedef struct dyd_qconv_op dyd_qconv_op;
dyd_qconv_op *dyd_qconv_create(const dyd_qconv_desc *desc, char *err, size_t err_len);
dyd_qconv_op *dyd_qconv_create_for_isa(const dyd_qconv_desc *desc, dyd_isa isa, char *err, size_t err_len);
void dyd_qconv_destroy(dyd_qconv_op *op);
const char *dyd_qconv_kernel_name(const dyd_qconv_op *op);
int dyd_qconv_reads_nhwc(const dyd_qconv_op *op);
size_t dyd_qconv_tile_count(const dyd_qconv_op *op);
size_t dyd_qconv_workspace_size(const dyd_qconv_op *op);
void dyd_qconv_run_f32(const dyd_qconv_op *op, const uint8_t *x, uint8_t x_zero_point, const int32_t *acc_bias,
                       const float *scale, const float *bias, float lo, float hi, float *y, size_t tile_start,
                       size_t tile_count, void *workspace);

/* ---- Layout --------------------------------------------------------------------- */

/* For each of `planes` planes of rows x cols elements of element_size bytes,
 * y[c][r] = x[r][c] (NCHW -> NHWC is rows = C, cols = H*W). x and y must not overlap. */
void dyd_transpose_planes(const void *x, void *y, size_t planes, size_t rows, size_t cols, size_t element_size);
/* Concatenation of 8-bit tensors: `outer` runs of `chunk` bytes of x to y + o * y_stride,
 * mapped through table when it is non-NULL (an input requantized to the output's scale). */
void dyd_concat_x8(const uint8_t *x, size_t chunk, size_t outer, uint8_t *y, size_t y_stride,
                   const uint8_t table[256]);

/* Resize (linear or cubic) of 8-bit codes over the spatial axes of [outer][h][w][inner]:
 * y = clamp((sum_kh wh sum_kw ww x + 2^(shift-1)) >> shift) with the sums in wrapping
 * int32 (arithmetic shift; none when shift is 0), clamped to the type's range. Taps per
 * axis in CSR form: output index j sums taps start[j] .. start[j+1]-1 of index/weight.
 * An axis that is not resized takes one tap of weight 1 per index. */
typedef struct {
  const uint32_t *start;  /* [out + 1] */
  const uint32_t *index;  /* input positions */
  const int32_t *weight;
} dyd_resize_taps;
size_t dyd_resize_x8_2d_workspace_size(size_t in_w, size_t out_w, size_t inner);
void dyd_resize_x8_2d(const uint8_t *x, uint8_t *y, int is_signed, size_t outer, size_t in_h, size_t in_w,
                      size_t inner, size_t out_h, size_t out_w, const dyd_resize_taps *h, const dyd_resize_taps *w,
                      uint32_t shift, void *workspace);
const char *dyd_resize_x8_2d_kernel_name(void);

/* The same resize of float32 with float weights: each axis' taps added in order into a
 * zeroed sum (h first, then w), no fused multiply-adds, so the result is the
 * axis-by-axis definition's bit for bit. */
typedef struct {
  const uint32_t *start;  /* [out + 1] */
  const uint32_t *index;  /* input positions */
  const float *weight;
} dyd_resize_taps_f32;
size_t dyd_resize_f32_2d_workspace_size(size_t in_w, size_t inner);
void dyd_resize_f32_2d(const float *x, float *y, size_t outer, size_t in_h, size_t in_w, size_t inner, size_t out_h,
                       size_t out_w, const dyd_resize_taps_f32 *h, const dyd_resize_taps_f32 *w, void *workspace);
const char *dyd_resize_f32_2d_kernel_name(void);

/* Float32 max pooling of `planes` NCHW planes (2-D windows; taps in the padding are
 * skipped). The workspace holds one plane's column maxima and a padded row. */
typedef struct {
  uint32_t in_h, in_w, out_h, out_w;
  uint32_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
  uint32_t pad_top, pad_left;
} dyd_f32_maxpool_desc;
size_t dyd_f32_maxpool_2d_workspace_size(const dyd_f32_maxpool_desc *d);
void dyd_f32_maxpool_2d(const dyd_f32_maxpool_desc *d, const float *x, float *y, size_t planes, void *workspace);
const char *dyd_f32_maxpool_2d_kernel_name(void);

/* ---- Element-wise add and mul ------------------------------------------------------ */

/* add, dyadic: y = clamp(z_y + ((a_mul*(a - z_a) + b_mul*(b - z_b) + 2^(shift-1)) >> shift))
 *      fp32:   ONNX Runtime's x86 QLinearAdd (MLAS AVX2 kernel), each step one float32
 *              rounding: r_a = a_scale/y_scale, r_b = b_scale/y_scale,
 *              k = z_y - fma(r_a, z_a, r_b*z_b), y = clamp(rne(fma(a, r_a, fma(b, r_b, k))))
 *              on the raw inputs a, b; a broadcast scalar a is swapped into b's place.
 * mul, dyadic: y = requantize_dyadic((a - z_a)*(b - z_b), a_mul, shift, z_y, ...)
 *      fp32:   y = requantize_fp32((a - z_a)*(b - z_b), a_scale, z_y, ...)          */
typedef struct {
  dyd_requant_kind kind;
  int a_signed, b_signed, y_signed;
  int32_t a_zero_point, b_zero_point, y_zero_point;
  int32_t qmin, qmax;
  int32_t a_mul, b_mul, shift;   /* dyadic */
  float a_scale, b_scale;        /* fp32 */
  float y_scale;                 /* fp32 add only */
} dyd_binary_params;

/* n outputs; a_inc / b_inc are 1 (a vector) or 0 (a broadcast scalar). */
void dyd_qadd_run(const dyd_binary_params *p, const void *a, size_t a_inc,
                  const void *b, size_t b_inc, void *y, size_t n);
void dyd_qmul_run(const dyd_binary_params *p, const void *a, size_t a_inc,
                  const void *b, size_t b_inc, void *y, size_t n);
const char *dyd_qadd_kernel_name(dyd_requant_kind kind, int is_signed);
const char *dyd_qmul_kernel_name(dyd_requant_kind kind, int is_signed);

/* ---- Pooling -------------------------------------------------------------------------- */

/* Average pooling over a window, NHWC. For each output pixel and channel:
 *   acc = sum over valid taps (x - z_x) + (count_include_pad ? padded_taps * 0 : 0)
 *   y = requantize(acc, rq[count]) where `count` is the divisor of that position:
 *   the full window size when count_include_pad, else the number of valid taps.
 * The engine passes one requantization per possible divisor 1..kernel_h*kernel_w,
 * indexed by divisor - 1 (per_channel must be 0 in each).
 * Global average pooling is the case kernel = input size, no padding. */
typedef struct {
  dyd_conv_geometry geometry;      /* groups, dilation ignored; out_c == in_c */
  int input_signed, output_signed;
  int32_t input_zero_point;
  int count_include_pad;
  const dyd_requant *requant_by_count; /* kernel_h*kernel_w entries */
} dyd_avgpool_desc;

typedef struct dyd_avgpool_op dyd_avgpool_op;
dyd_avgpool_op *dyd_avgpool_create(const dyd_avgpool_desc *desc, char *err, size_t err_len);
void dyd_avgpool_destroy(dyd_avgpool_op *op);
size_t dyd_avgpool_tile_count(const dyd_avgpool_op *op);
const char *dyd_avgpool_kernel_name(const dyd_avgpool_op *op);
void dyd_avgpool_run(const dyd_avgpool_op *op, const void *input, void *output,
                     size_t tile_start, size_t tile_count);

/* Max pooling, NHWC, same element type in and out; padded taps are ignored. */
typedef struct {
  dyd_conv_geometry geometry;      /* groups ignored; out_c == in_c */
  int is_signed;
} dyd_maxpool_desc;

typedef struct dyd_maxpool_op dyd_maxpool_op;
dyd_maxpool_op *dyd_maxpool_create(const dyd_maxpool_desc *desc, char *err, size_t err_len);
void dyd_maxpool_destroy(dyd_maxpool_op *op);
size_t dyd_maxpool_tile_count(const dyd_maxpool_op *op);
const char *dyd_maxpool_kernel_name(const dyd_maxpool_op *op);
void dyd_maxpool_run(const dyd_maxpool_op *op, const void *input, void *output,
                     size_t tile_start, size_t tile_count);

/* ---- Thread pool ------------------------------------------------------------------- */

/* A fixed set of worker threads that split one layer's work with the caller. */
typedef struct dyd_pool dyd_pool;
/* `threads` counts the caller: threads - 1 workers are started (none for 1). */
dyd_pool *dyd_pool_create(size_t threads);
void dyd_pool_destroy(dyd_pool *pool);
size_t dyd_pool_threads(const dyd_pool *pool);
/* Runs work(context, i) for every i in [0, iterations) on the caller and the
 * workers, each i exactly once, and returns when all are done. Allocates nothing.
 * Calls on one pool must not overlap. */
void dyd_pool_run(dyd_pool *pool, size_t iterations, void *context, void (*work)(void *context, size_t i));

/* ---- Boundary conversion -------------------------------------------------------------- */

/* QuantizeLinear per tensor, as ONNX Runtime computes it:
 * y = saturate(round_half_even(x / scale) + zero_point), NaN -> the type's minimum. */
void dyd_quantize_f32(const float *x, void *y, size_t n, float scale, int32_t zero_point,
                      int is_signed);
/* Minimum and maximum of n > 0 floats (DynamicQuantizeLinear's range): 1, or 0 with
 * lo and hi unset when n is 0 or a value is NaN or infinite. */
int dyd_f32_range(const float *x, size_t n, float *lo, float *hi);
/* The same from one image's CHW float planes to HWC bytes, for pixels
 * [first_pixel, first_pixel + pixels) of the plane (x and y point at the image). */
void dyd_quantize_f32_to_nhwc(const float *x, void *y, size_t channels, size_t plane,
                              size_t first_pixel, size_t pixels, float scale, int32_t zero_point,
                              int is_signed);
/* ---- Float32 transcendental functions ------------------------------------------------ */

typedef enum { DYD_F32_EXP = 0, DYD_F32_SIGMOID = 1, DYD_F32_TANH = 2, DYD_F32_ERF = 3, DYD_F32_HARDSWISH = 4 } dyd_f32_function;
/* y[i] = f(x[i]) for n elements (y may be x): exp to 2^-23 relative, erf to 1.5e-7
 * absolute (1e-6 relative below 0.5), sigmoid and tanh through exp; see f32-math.c. */
void dyd_f32_map(dyd_f32_function f, const float *x, float *y, size_t n);
const char *dyd_f32_map_kernel_name(void);

/* ---- Row-wise integer kernels (transformer layers) ------------------------------------- */

/* One requantization for a whole tensor: dyadic (multiplier, shift) or fp32 (scale). */
typedef struct {
  dyd_requant_kind kind;
  int32_t multiplier, shift; /* dyadic */
  float scale;               /* fp32 */
  int32_t zero_point, qmin, qmax;
} dyd_requant_scalar;

/* y[i] = the 8-bit requantization of acc[i] (dyd_requantize_dyadic / _fp32 per element;
 * int8 results are stored as their bit pattern). */
void dyd_requantize_array(const int32_t *acc, void *y, size_t n, const dyd_requant_scalar *r, int y_signed);

/* Integer Softmax over rows of n 8-bit codes laid out outer x n x inner (row (o, j) holds
 * elements o*n*inner + i*inner + j): with d = max - code, e = table[d] (exp(-s_x d) in
 * fixed point), p = floor((e * 2^probability_bits + floor(S/2)) / S) for S the row's sum of
 * e, and y = the dyadic requantization of p (r->kind must be DYD_REQUANT_DYADIC). Needs
 * e * 2^probability_bits + S < 2^52. */
void dyd_softmax_u8_rows(const uint8_t *x, uint8_t *y, size_t outer, size_t n, size_t inner, int x_signed,
                         const int64_t table[256], int probability_bits, const dyd_requant_scalar *r);

/* ---- FP8 E4M3FN ---------------------------------------------------------------------- */

/* S.EEEE.MMM, bias 7, max 448, no infinities, NaN = S.1111.111 (0x7F, 0xFF).
 * Semantics are ONNX's (onnx.reference Cast / QuantizeLinear / DequantizeLinear). */

/* Exact; the NaN codes give a quiet NaN with the code's sign. */
float dyd_fp8_e4m3_to_f32(uint8_t code);
/* Round to nearest, ties to even; -0.0 -> 0x80; NaN -> NaN with the input's sign.
 * |x| <= 464 rounds to at most 448. Beyond that, and for +-inf: +-448 (0x7E, 0xFE)
 * when `saturate` is non-zero, NaN (0x7F, 0xFF) otherwise. */
uint8_t dyd_fp8_e4m3_from_f32(float x, int saturate);
/* QuantizeLinear to FP8 per tensor (zero point 0): y[i] = from_f32(x[i] / scale),
 * a float32 division. */
void dyd_fp8_e4m3_from_f32_array(const float *x, uint8_t *y, size_t n, float scale,
                                 int saturate);
/* DequantizeLinear from FP8 per tensor: y[i] = to_f32(x[i]) * scale, in float32. */
void dyd_fp8_e4m3_to_f32_array(const uint8_t *x, float *y, size_t n, float scale);
/* The same QuantizeLinear as dyd_fp8_e4m3_from_f32_array, vectorised where the ISA
 * allows, for a graph's input: flat, or from one image's CHW float planes to HWC codes
 * for pixels [first_pixel, first_pixel + pixels) (x and y point at the image). */
void dyd_fp8_quantize_f32(const float *x, uint8_t *y, size_t n, float scale, int saturate);
void dyd_fp8_quantize_f32_to_nhwc(const float *x, uint8_t *y, size_t channels, size_t plane,
                                  size_t first_pixel, size_t pixels, float scale, int saturate);

/* ---- FP8 compute (W4A8, DPQ) ------------------------------------------------------------ */

/*
 * Convolution with 4-bit weight codes mapped to FP8 E4M3 through 16-entry tables,
 * FP8 E4M3 activations and FP32 accumulation. Same op pattern as dyd_conv.
 *
 * Per output (pixel, oc), with e() = dyd_fp8_e4m3_to_f32:
 *   acc = sum over taps and input channels of e(x) * e(table[q + 8])   float32, any order
 *         (padding taps are x = code 0x00 = 0.0)
 *   v   = fmaf(acc, s[oc], bias[oc])    s[oc] = input_scale * channel_scale[oc] (one float32
 *                                        multiply at create); bias 0 when NULL
 *   v   = min(max(v, out_min), out_max)
 *   out = output_fp8 ? dyd_fp8_e4m3_from_f32(v / output_scale, 1) (a float32 division) : v
 * Products of two E4M3 values are exact in float32, so kernels differ only in the
 * order of the additions. Tolerance (what the tests check against dyd_ref_fp8conv,
 * whose double accumulator is exact): with S = sum |e(x) * e(w)| and V the exact v
 * after the clamp, a float32 output is within
 *   tol = |s[oc]| * S * (K + 1) * 2^-24 + |V| * 2^-24          (K = taps * in_c / groups)
 * of V (K * 2^-24 * S bounds the float32 sum in any order, the rest the rounding of
 * s[oc] and of the fmaf); an FP8 output is the code of V / output_scale, or a code
 * adjacent to it when V / output_scale is within tol / |output_scale| + 2^-24 |V /
 * output_scale| of the rounding boundary between the two.
 * NaN codes in the input give unspecified outputs; tables must not contain NaN.
 */
typedef struct {
  dyd_conv_geometry geometry;   /* NHWC; any kernel/stride/dilation/padding/groups;
                                   depthwise = groups == in_c == out_c */
  float input_scale;            /* x = input_scale * e4m3(code); padding is code 0x00 (= 0.0) */
  const int8_t *weights;        /* [out_c][kernel_h][kernel_w][in_c / groups], every value in
                                   [-8, 7] (create rejects others) */
  uint32_t group_size;          /* 0: one table per output channel; else groups of this many
                                   consecutive input channels (of the group's in_c / groups) at
                                   each (kh, kw): table index [oc][kh][kw][ic / group_size]
                                   (the last group may be partial) */
  const uint8_t *tables;        /* per table 16 E4M3 codes, entry q + 8 is the FP8 value of
                                   weight code q */
  const float *channel_scale;   /* [out_c]: w = channel_scale[oc] * e4m3(table[q + 8]) */
  const float *bias;            /* [out_c] real-valued, or NULL */
  float out_min, out_max;       /* clamp in the real domain (fused ReLU/ReLU6/Clip);
                                   -INFINITY / INFINITY for none */
  int output_fp8;               /* 1: E4M3 codes = from_f32(v / output_scale, saturate = 1);
                                   0: float32 v */
  float output_scale;           /* with output_fp8: finite, and 1 / output_scale finite too
                                   (|scale| >= 2^-128; create rejects others) */
} dyd_fp8conv_desc;

typedef struct dyd_fp8conv_op dyd_fp8conv_op;

/* NULL on failure, with a one-line reason in err. The op copies what it needs. */
dyd_fp8conv_op *dyd_fp8conv_create(const dyd_fp8conv_desc *desc, char *err, size_t err_len);
void dyd_fp8conv_destroy(dyd_fp8conv_op *op);
/* Independent work items of one run; any partition of [0, tile_count) may run concurrently. */
size_t dyd_fp8conv_tile_count(const dyd_fp8conv_op *op);
/* Bytes of scratch each concurrent caller of dyd_fp8conv_run needs. */
size_t dyd_fp8conv_workspace_size(const dyd_fp8conv_op *op);
/* e.g. dyd_qf8_qb4w_gemm_fp32_ukernel_8x4c32__avx512bf16 */
const char *dyd_fp8conv_kernel_name(const dyd_fp8conv_op *op);
/* Bytes actually stored for the weights (two 4-bit codes per byte, K padded to the
 * kernel's block) and the E4M3 tables (16 bytes each). */
size_t dyd_fp8conv_packed_weight_bytes(const dyd_fp8conv_op *op);
/* input: E4M3 codes, NHWC with in_pixel_stride; output: E4M3 codes or float32,
 * out_pixel_stride elements between pixels. */
void dyd_fp8conv_run(const dyd_fp8conv_op *op, const uint8_t *input, void *output,
                     size_t tile_start, size_t tile_count, void *workspace);

/* Element-wise add of FP8 tensors, n outputs; a_inc / b_inc are 1 (a vector) or 0 (a
 * broadcast scalar). Exactly, in float32 (no fused multiply-add):
 *   v = e(a) * a_scale + e(b) * b_scale;  v = min(max(v, out_min), out_max);
 *   y = dyd_fp8_e4m3_from_f32(v / y_scale, 1)
 * where max and min return the bound on a tie, so -0 clamped at +0 is +0 (code 0x00). */
typedef struct {
  float a_scale, b_scale, y_scale;
  float out_min, out_max;
} dyd_fp8_add_params;
void dyd_fp8_add_run(const dyd_fp8_add_params *p, const uint8_t *a, size_t a_inc,
                     const uint8_t *b, size_t b_inc, uint8_t *y, size_t n);

/* Global average pooling of FP8 NHWC, y[n][c] (dense): exactly, in float32,
 *   sum = e(x[pixel 0]) + e(x[pixel 1]) + ... (in pixel order);
 *   y = dyd_fp8_e4m3_from_f32((sum / pixels) * input_scale / output_scale, 1)       */
typedef struct {
  uint32_t batch, pixels, channels, in_pixel_stride;
  float input_scale, output_scale;
} dyd_fp8_avgpool_params;
void dyd_fp8_global_avgpool_run(const dyd_fp8_avgpool_params *p, const uint8_t *x, uint8_t *y);
const char *dyd_fp8_add_kernel_name(void);
const char *dyd_fp8_global_avgpool_kernel_name(void);

/* ---- Table lookup for 8-bit non-linearities ----------------------------------------- */

/* y[i] = table[x[i]] with x read as an unsigned byte (the engine builds the
 * table in that index order for int8 inputs). */
void dyd_lut_run(const uint8_t table[256], const uint8_t *x, uint8_t *y, size_t n);
/* y = tables[c * 256 + x] for channel c = (i / inner) % channels of element i, over
 * outer blocks of channels * inner elements (y may be x). */
void dyd_channel_lut(const uint8_t *tables, const uint8_t *x, uint8_t *y, size_t outer, size_t channels, size_t inner);
const char *dyd_lut_kernel_name(void);


/* ---- Float32 convolution ------------------------------------------------------------ */

/* Conv for float models and the float parts of partly quantized ones (and the
 * quantizer's calibration passes). NCHW in and out, dense, as the engine's float
 * path stores tensors; ONNX Conv semantics (padding contributes nothing). Same op
 * pattern as dyd_conv: `_create` picks a bundle for this CPU and packs the weights
 * once; `_run` computes any range of independent tiles, from any thread, each
 * caller with its own workspace; nothing in `_run` allocates.
 *
 * Numerics: outputs differ from the naive sum only by float rounding (sums are
 * reordered and use fused multiply-adds). For every output y, with K = kernel_h *
 * kernel_w * in_c / groups and y_ref the float64 oracle dyd_ref_f32conv:
 *     |y - y_ref| <= B = 2 * (K + 1) * 2^-24 * (sum |x * w| + |bias|)
 * (the standard bound for K + 1 float terms added in any order, c = 2). Inputs
 * are assumed finite; NaN and infinity propagate as IEEE arithmetic makes them.
 *
 * Fused activation, applied to each output after the bias (the oracle applies it
 * in double to its double sum):
 *   DYD_F32_ACT_NONE (0)  y                                     the default
 *   DYD_F32_ACT_CLAMP     min(max(y, activation_min), activation_max)
 *                         (Relu: 0, INFINITY; Relu6: 0, 6; Clip: its bounds;
 *                         activation_min <= activation_max, both not NaN)
 *   DYD_F32_ACT_SILU      y * sigmoid(y) = y / (1 + exp(-y))    (YOLOv8's activation)
 *   DYD_F32_ACT_LEAKY_CLAMP  clamp(y >= 0 ? y : y * alpha, activation_min, activation_max)
 *                         (LeakyRelu, then Max/Min by constants; 0 <= alpha <= 1)
 *   DYD_F32_ACT_HARDSWISH y * max(0, min(1, alpha * y + beta)), the multiply and the add
 *                         each rounded (HardSigmoid(y) times y, as exporters write
 *                         HardSwish; alpha 1/6 and beta 1/2 for HardSwish itself)
 * Clamping is exact and 1-Lipschitz, so the bound stays B; so is the leaky slope. SiLU's slope is at most
 * 1.0999, and every ISA computes it with the same vectorised exp (Cody-Waite
 * reduction, degree-7 polynomial, exact scaling by 2^n including subnormal results)
 * to within 4 ulp of SiLU of its float input (the tests sweep every 61st float in
 * [-120, 120]: worst 0.70 ulp on scalar, AVX2 and AVX-512; NEON passes the same
 * 4-ulp check under QEMU), so
 *     |y - y_ref| <= 1.1 * B + 2^-21 * (|y_ref| + 1.1 * B) + 2^-147.
 * Infinite inputs to SiLU are not handled (silu(-inf) gives -inf, not -0). */
typedef enum {
  DYD_F32_ACT_NONE = 0,
  DYD_F32_ACT_CLAMP = 1,
  DYD_F32_ACT_SILU = 2,
  DYD_F32_ACT_LEAKY_CLAMP = 3,
  DYD_F32_ACT_HARDSWISH = 4,
} dyd_f32_activation;

typedef struct {
  dyd_conv_geometry geometry;  /* as for dyd_conv; the pixel strides are unused (NCHW, dense) */
  const float *weights;        /* OIHW as ONNX stores it: [out_c][in_c / groups][kernel_h][kernel_w] */
  const float *bias;           /* [out_c], or NULL */
  /* Last, so that zero-initialised descriptors mean no activation. */
  dyd_f32_activation activation;
  float activation_min, activation_max; /* DYD_F32_ACT_CLAMP and _LEAKY_CLAMP */
  float activation_alpha, activation_beta; /* _LEAKY_CLAMP (alpha) and _HARDSWISH */
} dyd_f32conv_desc;

/* Swift imports a C struct with one memberwise initializer over every field; this
 * keeps the one callers used before the activation fields (no activation). */
#if defined(__has_attribute)
#if __has_attribute(swift_name)
__attribute__((swift_name("dyd_f32conv_desc.init(geometry:weights:bias:)")))
static inline dyd_f32conv_desc dyd_f32conv_desc_make(dyd_conv_geometry geometry, const float *weights,
                                                     const float *bias) {
  dyd_f32conv_desc d = {geometry, weights, bias, DYD_F32_ACT_NONE, 0.0f, 0.0f, 0.0f, 0.0f};
  return d;
}
#endif
#endif

typedef struct dyd_f32conv_op dyd_f32conv_op;

/* NULL on failure, with a one-line reason in err. */
dyd_f32conv_op *dyd_f32conv_create(const dyd_f32conv_desc *desc, char *err, size_t err_len);
dyd_f32conv_op *dyd_f32conv_create_for_isa(const dyd_f32conv_desc *desc, dyd_isa isa, char *err,
                                           size_t err_len);
void dyd_f32conv_destroy(dyd_f32conv_op *op);
/* Independent work items of one run; any partition of [0, tile_count) may run concurrently. */
size_t dyd_f32conv_tile_count(const dyd_f32conv_op *op);
/* Bytes of scratch each concurrent caller of dyd_f32conv_run needs (any alignment). */
size_t dyd_f32conv_workspace_size(const dyd_f32conv_op *op);
/* e.g. dyd_f32_igemm_ukernel_8x32__avx512f, dyd_f32_dwconv_ukernel_3x3__avx2. */
const char *dyd_f32conv_kernel_name(const dyd_f32conv_op *op);
/* input [batch][in_c][in_h][in_w], output [batch][out_c][out_h][out_w]. */
void dyd_f32conv_run(const dyd_f32conv_op *op, const float *input, float *output,
                     size_t tile_start, size_t tile_count, void *workspace);

/* C = A * B (trans_b = 0: B is k x n, row stride ldb) or A * B^T (trans_b != 0: B is
 * n x k), A m x k (row stride lda), C m x n (row stride ldc); all row-major, for
 * MatMul and Gemm. One thread; packs through fixed-size stack buffers (64 KiB),
 * never allocates. Same numerics as the conv with K = k and no bias. */
void dyd_f32_gemm(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                  size_t ldb, int trans_b, float *c, size_t ldc);
void dyd_f32_gemm_for_isa(dyd_isa isa, size_t m, size_t n, size_t k, const float *a, size_t lda,
                          const float *b, size_t ldb, int trans_b, float *c, size_t ldc);
/* The micro-kernel dyd_f32_gemm uses on `isa` (capped like the others). */
const char *dyd_f32_gemm_kernel_name(dyd_isa isa);

/* Packed-B GEMM: MatMul / Gemm / linear layers whose B is a constant (transformer
 * projections: m = batch x sequence rows, k and n in the hundreds or thousands).
 *     y[i][j] = act(sum_p a[i][p] * b[p][j] + bias[j])   for i < m, j < n
 * `_create` copies B into the micro-kernel's strip layout once (the bias rides along
 * as one more row of B); `_run` computes any range of independent tiles, from any
 * thread, each caller with its own workspace, and allocates nothing. m is a run-time
 * argument: tile count and workspace size depend on it. A tile is a block of rows
 * times a block of columns. Rows of A and Y have strides lda >= k and ldy >= n
 * (elements); only columns j < n of Y are written.
 *
 * Numerics as dyd_f32conv with K = k (sums reordered, fused multiply-adds):
 *     |y - y_ref| <= B = 2 * (k + 1) * 2^-24 * (sum_p |a[i][p] * b[p][j]| + |bias[j]|)
 * before the activation, which is applied as dyd_f32conv_desc describes (clamping
 * keeps B, SiLU gives the SiLU bound above). */
typedef struct {
  size_t k, n;
  const float *b;      /* [k][n] row-major (ONNX MatMul's B); create copies/packs it */
  const float *bias;   /* [n] or NULL */
  /* Last, so that zero-initialised descriptors mean no activation. */
  dyd_f32_activation activation;      /* as dyd_f32conv_desc; NONE when zero-initialised */
  float activation_min, activation_max; /* as dyd_f32conv_desc */
  float activation_alpha, activation_beta;
} dyd_f32gemm_desc;

typedef struct dyd_f32gemm_op dyd_f32gemm_op;

/* NULL on failure (k or n zero, no b, a bad activation, k above 2^24), with a
 * one-line reason in err. */
dyd_f32gemm_op *dyd_f32gemm_create(const dyd_f32gemm_desc *desc, char *err, size_t err_len);
dyd_f32gemm_op *dyd_f32gemm_create_for_isa(const dyd_f32gemm_desc *desc, dyd_isa isa, char *err,
                                           size_t err_len);
void dyd_f32gemm_destroy(dyd_f32gemm_op *op);
/* e.g. dyd_f32_gemm_ukernel_8x32__avx512f. */
const char *dyd_f32gemm_kernel_name(const dyd_f32gemm_op *op);
/* Independent work items of a run over m rows (0 for m = 0); any partition of
 * [0, tile_count) may run concurrently. Consecutive tiles share their rows' packed
 * copy of A, so a caller should take contiguous ranges. */
size_t dyd_f32gemm_tile_count(const dyd_f32gemm_op *op, size_t m);
/* Bytes of scratch each concurrent caller of dyd_f32gemm_run needs for m rows (any
 * alignment). */
size_t dyd_f32gemm_workspace_size(const dyd_f32gemm_op *op, size_t m);
/* a [m][lda], y [m][ldy]; tiles [tile_start, tile_start + tile_count) of
 * dyd_f32gemm_tile_count(op, m). */
void dyd_f32gemm_run(const dyd_f32gemm_op *op, size_t m, const float *a, size_t lda, float *y,
                     size_t ldy, size_t tile_start, size_t tile_count, void *workspace);

/* The oracle: the definition as nested loops, accumulated in double from the bias,
 * the activation applied in double, rounded to float once. */
void dyd_ref_f32conv(const dyd_f32conv_desc *desc, const float *input, float *output);

#ifdef __cplusplus
}
#endif
#endif
