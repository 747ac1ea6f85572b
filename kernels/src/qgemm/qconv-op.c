/*
 * The qconv op: ONNX ConvInteger on uint8 codes with a float32 output stage, for
 * dynamic quantization (DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul -> Add).
 * The float graph around it is NCHW, so the op writes NCHW itself.
 *
 * A convolution with more than one input or output channel per group reads NHWC codes
 * and runs on the qgemm kernels, one packed B per group: each tile gathers a chunk of
 * output pixels into im2col rows in the workspace (one copy of a group's channels per
 * kernel tap; padding is the activation's zero point, a real 0), multiplies them, and
 * writes the chunk's [pixel][channel] floats to NCHW planes. A 1x1 conv of stride 1
 * without padding or groups multiplies the NHWC codes in place. The im2col column
 * order is (kernel row, kernel column, input channel): B is the weights as OHWI.
 *
 * The accumulators (plus an optional int32 bias, added before the Cast as older
 * quantizers write it) leave the GEMM as int32; the float stage runs where the chunk is
 * written to NCHW planes.
 *
 * Depthwise (one input and one output channel per group) has too few MACs per pixel
 * for a GEMM: it reads NCHW codes and runs as a direct loop per plane, kernel name
 * dyd_qu8_qc8w_dwconv_nchw_fp32__scalar. Both paths sum (x - zx)(w - zw) exactly in
 * int32 and produce (float)acc * scale[c], then + bias[c], each rounded, as the Cast,
 * Mul and Add they replace.
 */
#include "../common.h"

#include <stdlib.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* Output pixels per tile of a GEMM conv: enough rows for full micro-tiles, few enough
 * that the chunk's floats stay in L1 while they are written out per channel plane. */
#define MIN_CHUNK 32
#define MAX_CHUNK 256
#define CHUNK_FLOAT_BYTES 16384

struct dyd_qconv_op {
  dyd_conv_geometry g;
  size_t groups, cpg, mpg, k, in_plane, out_plane, chunk, chunks;
  bool depthwise, pointwise;
  dyd_qgemm_op **gemm;  /* [groups], GEMM path */
  int8_t *dw_weights;   /* [out_c][kernel_h * kernel_w], depthwise path */
  int32_t *dw_zero_point;
  void (*dw_tap)(int32_t *, const uint8_t *, size_t, size_t, size_t, int32_t, int32_t);
  size_t gemm_workspace;
  char name[96];
};

static void dw_tap_scalar(int32_t *acc, const uint8_t *src, size_t lo, size_t hi, size_t sw, int32_t za, int32_t wv);
#if defined(__x86_64__)
__attribute__((target("avx2"))) static void dw_tap_avx2(int32_t *acc, const uint8_t *src, size_t lo, size_t hi,
                                                        size_t sw, int32_t za, int32_t wv);
#endif

static bool check(const dyd_qconv_desc *d, char *err, size_t err_len) {
  const dyd_conv_geometry *g = &d->geometry;
  if (g->batch == 0 || g->in_h == 0 || g->in_w == 0 || g->in_c == 0 || g->out_h == 0 || g->out_w == 0 ||
      g->out_c == 0 || g->kernel_h == 0 || g->kernel_w == 0 || g->stride_h == 0 || g->stride_w == 0 ||
      g->dilation_h == 0 || g->dilation_w == 0 || g->groups == 0) {
    dyd_set_error(err, err_len, "a zero dimension, stride, dilation or group count");
    return false;
  }
  if (g->in_c % g->groups != 0 || g->out_c % g->groups != 0) {
    dyd_set_error(err, err_len, "%u input and %u output channels do not split into %u groups", g->in_c, g->out_c,
                  g->groups);
    return false;
  }
  if (d->weights == NULL) {
    dyd_set_error(err, err_len, "no weights");
    return false;
  }
  if (d->weight_zero_point != NULL)
    for (size_t c = 0; c < g->out_c; c++)
      if (d->weight_zero_point[c] < -128 || d->weight_zero_point[c] > 127) {
        dyd_set_error(err, err_len, "weight zero point %d of channel %zu outside [-128, 127]",
                      (int)d->weight_zero_point[c], c);
        return false;
      }
  return true;
}

void dyd_qconv_destroy(dyd_qconv_op *op) {
  if (op == NULL) return;
  if (op->gemm != NULL)
    for (size_t i = 0; i < op->groups; i++) dyd_qgemm_destroy(op->gemm[i]);
  free(op->gemm);
  free(op->dw_weights);
  free(op->dw_zero_point);
  free(op);
}

static bool create_gemms(dyd_qconv_op *op, const dyd_qconv_desc *d, dyd_isa isa, char *err, size_t err_len) {
  op->gemm = calloc(op->groups, sizeof *op->gemm);
  int8_t *b = malloc(op->k * op->mpg);
  int32_t *zb = malloc(op->mpg * sizeof *zb);
  bool ok = op->gemm != NULL && b != NULL && zb != NULL;
  if (!ok) dyd_set_error(err, err_len, "out of memory");
  for (size_t grp = 0; ok && grp < op->groups; grp++) {
    /* B[(tap, c)][j] = w[grp * mpg + j][c][tap] (OIHW read in OHWI order) */
    const size_t taps = op->k / op->cpg;
    for (size_t j = 0; j < op->mpg; j++) {
      const size_t oc = grp * op->mpg + j;
      for (size_t c = 0; c < op->cpg; c++)
        for (size_t t = 0; t < taps; t++) b[(t * op->cpg + c) * op->mpg + j] = d->weights[(oc * op->cpg + c) * taps + t];
      zb[j] = d->weight_zero_point != NULL ? d->weight_zero_point[oc] : 0;
    }
    dyd_qgemm_desc gd = {.k = op->k, .n = op->mpg, .b = b, .b_zero_point = zb};
    op->gemm[grp] = dyd_qgemm_create_for_isa(&gd, isa, err, err_len);
    ok = op->gemm[grp] != NULL;
    if (ok) op->gemm_workspace = DYD_MAX(op->gemm_workspace, dyd_qgemm_workspace_size(op->gemm[grp], op->chunk));
  }
  free(b);
  free(zb);
  if (ok) snprintf(op->name, sizeof op->name, "%s", dyd_qgemm_kernel_name(op->gemm[0]));
  return ok;
}

dyd_qconv_op *dyd_qconv_create_for_isa(const dyd_qconv_desc *d, dyd_isa isa, char *err, size_t err_len) {
  if (!check(d, err, err_len)) return NULL;
  dyd_qconv_op *op = calloc(1, sizeof *op);
  if (op == NULL) {
    dyd_set_error(err, err_len, "out of memory");
    return NULL;
  }
  const dyd_conv_geometry *g = &d->geometry;
  op->g = *g;
  op->groups = g->groups;
  op->cpg = g->in_c / g->groups, op->mpg = g->out_c / g->groups;
  op->k = op->cpg * g->kernel_h * g->kernel_w;
  op->in_plane = (size_t)g->in_h * g->in_w, op->out_plane = (size_t)g->out_h * g->out_w;
  op->depthwise = op->cpg == 1 && op->mpg == 1;
  op->pointwise = g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_top == 0 &&
                  g->pad_left == 0 && g->groups == 1 && g->out_h == g->in_h && g->out_w == g->in_w;
  op->chunk = DYD_MIN(MAX_CHUNK, DYD_MAX(MIN_CHUNK, CHUNK_FLOAT_BYTES / (op->mpg * sizeof(float)) / 16 * 16));
  op->chunks = DYD_DIV_UP(op->out_plane, op->chunk);
  if (op->depthwise) {
    /* dyd_qu8_qc8w_dwconv_nchw_fp32__scalar, dyd_qu8_qc8w_dwconv_nchw_fp32__avx2 */
    op->dw_tap = dw_tap_scalar;
#if defined(__x86_64__)
    if (dyd_isa_supported(isa) >= DYD_ISA_AVX2) op->dw_tap = dw_tap_avx2;
#endif
    snprintf(op->name, sizeof op->name, "dyd_qu8_qc8w_dwconv_nchw_fp32__%s", op->dw_tap == dw_tap_scalar ? "scalar" : "avx2");
    op->dw_weights = malloc((size_t)g->out_c * op->k);
    op->dw_zero_point = malloc((size_t)g->out_c * sizeof(int32_t));
    if (op->dw_weights == NULL || op->dw_zero_point == NULL) {
      dyd_set_error(err, err_len, "out of memory");
      dyd_qconv_destroy(op);
      return NULL;
    }
    memcpy(op->dw_weights, d->weights, (size_t)g->out_c * op->k);
    for (size_t c = 0; c < g->out_c; c++) op->dw_zero_point[c] = d->weight_zero_point != NULL ? d->weight_zero_point[c] : 0;
    return op;
  }
  if (!create_gemms(op, d, isa, err, err_len)) {
    dyd_qconv_destroy(op);
    return NULL;
  }
  return op;
}

dyd_qconv_op *dyd_qconv_create(const dyd_qconv_desc *d, char *err, size_t err_len) {
  return dyd_qconv_create_for_isa(d, dyd_active_isa(), err, err_len);
}

const char *dyd_qconv_kernel_name(const dyd_qconv_op *op) { return op->name; }

size_t dyd_qconv_tile_count(const dyd_qconv_op *op) {
  return op->depthwise ? (size_t)op->g.batch * op->g.out_c : (size_t)op->g.batch * op->groups * op->chunks;
}

static size_t im2col_bytes(const dyd_qconv_op *op) { return DYD_ROUND_UP(op->chunk * op->k, 64); }
static size_t chunk_bytes(const dyd_qconv_op *op) { return DYD_ROUND_UP(op->chunk * op->mpg * sizeof(int32_t), 64); }

int dyd_qconv_reads_nhwc(const dyd_qconv_op *op) { return !op->depthwise; }

size_t dyd_qconv_workspace_size(const dyd_qconv_op *op) {
  if (op->depthwise) return 64 + (size_t)op->g.out_w * sizeof(int32_t);
  return 64 + im2col_bytes(op) + chunk_bytes(op) + op->gemm_workspace;
}

/* Rows [p0, p0 + rows) of the output plane as im2col rows a[r][(ky, kx, c)] of group
 * `grp`'s channels, from NHWC codes: one copy of cpg bytes per kernel tap. */
static void im2col(const dyd_qconv_op *op, const uint8_t *x, size_t grp, uint8_t zx, size_t p0, size_t rows,
                   uint8_t *a) {
  const dyd_conv_geometry *g = &op->g;
  const size_t kh = g->kernel_h, kw = g->kernel_w, ow = g->out_w, cpg = op->cpg, c = g->in_c;
  size_t oy = p0 / ow, ox = p0 % ow;
  for (size_t r = 0; r < rows; r++) {
    uint8_t *row = a + r * op->k;
    for (size_t ky = 0; ky < kh; ky++) {
      const long iy = (long)(oy * g->stride_h + ky * g->dilation_h) - (long)g->pad_top;
      for (size_t kx = 0; kx < kw; kx++, row += cpg) {
        const long ix = (long)(ox * g->stride_w + kx * g->dilation_w) - (long)g->pad_left;
        if (iy >= 0 && iy < (long)g->in_h && ix >= 0 && ix < (long)g->in_w)
          memcpy(row, x + ((size_t)iy * g->in_w + (size_t)ix) * c + grp * cpg, cpg);
        else
          memset(row, zx, cpg);
      }
    }
    if (++ox == ow) ox = 0, oy++;
  }
}

/* min(max(v, lo), hi) with a NaN kept, as Relu and Clip do */
static inline float clamp(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* dst[r] = clamp((float)(acc[r * stride] + ab) * s (+ *bias), lo, hi): the Cast, Mul, Add
 * and Relu/Clip the layer replaces, each float step rounded (the addition of the int32
 * bias wraps like ONNX Runtime's int32 Add). */
static void output_stage(const int32_t *acc, size_t stride, size_t count, int32_t ab, float s, const float *bias, float lo,
                         float hi, float *dst) {
  if (bias != NULL) {
    const float b = *bias;
    for (size_t r = 0; r < count; r++) {
      float v = (float)(int32_t)((uint32_t)acc[r * stride] + (uint32_t)ab) * s;
      DYD_FP_BARRIER(v);
      dst[r] = clamp(v + b, lo, hi);
    }
  } else {
    for (size_t r = 0; r < count; r++) dst[r] = clamp((float)(int32_t)((uint32_t)acc[r * stride] + (uint32_t)ab) * s, lo, hi);
  }
}

static void run_gemm_tile(const dyd_qconv_op *op, size_t tile, const uint8_t *x, uint8_t zx, const int32_t *acc_bias,
                          const float *scale, const float *bias, float lo, float hi, float *y, void *workspace) {
  const size_t chunk = tile % op->chunks, grp = tile / op->chunks % op->groups, n = tile / op->chunks / op->groups;
  const size_t p0 = chunk * op->chunk, rows = DYD_MIN(op->chunk, op->out_plane - p0);
  uint8_t *a = (uint8_t *)(((uintptr_t)workspace + 63) & ~(uintptr_t)63);
  int32_t *acc = (int32_t *)(void *)(a + im2col_bytes(op));
  void *gemm_workspace = (uint8_t *)acc + chunk_bytes(op);
  const uint8_t *xn = x + (size_t)n * op->g.in_c * op->in_plane;
  const uint8_t *rows_a = xn + p0 * op->k; /* pointwise: the codes are the rows */
  if (!op->pointwise) {
    im2col(op, xn, grp, zx, p0, rows, a);
    rows_a = a;
  }
  const dyd_qgemm_op *gemm = op->gemm[grp];
  const size_t c0 = grp * op->mpg;
  dyd_qgemm_run_s32(gemm, rows, rows_a, op->k, zx, acc, op->mpg, 0, dyd_qgemm_tile_count(gemm, rows), gemm_workspace);
  float *yn = y + (size_t)n * op->g.out_c * op->out_plane + p0;
  for (size_t j = 0; j < op->mpg; j++) {
    const size_t oc = c0 + j;
    output_stage(acc + j, op->mpg, rows, acc_bias != NULL ? acc_bias[oc] : 0, scale[oc], bias != NULL ? &bias[oc] : NULL,
                 lo, hi, yn + oc * op->out_plane);
  }
}

/* acc[ox] += (x[ox * sw] - za) * wv over a run of output columns: the depthwise inner
 * loop, compiled once for the baseline and once for AVX2 (a plain loop the compiler
 * vectorises; the baseline x86-64 has no 32-bit vector multiply). */
#define DW_TAP_BODY                                                                                 \
  if (sw == 1)                                                                                      \
    for (size_t ox = lo; ox < hi; ox++) acc[ox] += ((int32_t)src[ox] - za) * wv;                    \
  else                                                                                              \
    for (size_t ox = lo; ox < hi; ox++) acc[ox] += ((int32_t)src[ox * sw] - za) * wv;

typedef void (*dw_tap_fn)(int32_t *acc, const uint8_t *src, size_t lo, size_t hi, size_t sw, int32_t za, int32_t wv);

static void dw_tap_scalar(int32_t *acc, const uint8_t *src, size_t lo, size_t hi, size_t sw, int32_t za, int32_t wv) {
  DW_TAP_BODY
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void dw_tap_avx2(int32_t *acc, const uint8_t *src, size_t lo, size_t hi,
                                                        size_t sw, int32_t za, int32_t wv) {
  DW_TAP_BODY
}
#endif

/* One output row at a time: per kernel tap, the accumulator row gains the tap's weight
 * times a run of input pixels. The run covers the output columns whose input column is
 * inside the image, so the inner loop has no bounds test; taps outside the image add
 * (zx - zx) * w = 0 and are skipped. */
static void run_depthwise_plane(const dyd_qconv_op *op, size_t tile, const uint8_t *x, uint8_t zx,
                                const int32_t *acc_bias, const float *scale, const float *bias, float lo, float hi,
                                float *y, int32_t *acc) {
  const dyd_conv_geometry *g = &op->g;
  const size_t c = tile % g->out_c, n = tile / g->out_c, kh = g->kernel_h, kw = g->kernel_w;
  const size_t ow = g->out_w, sw = g->stride_w;
  const uint8_t *plane = x + ((size_t)n * g->in_c + c) * op->in_plane;
  const int8_t *w = op->dw_weights + c * op->k;
  const int32_t zw = op->dw_zero_point[c], za = zx, ab = acc_bias != NULL ? acc_bias[c] : 0;
  const float s = scale[c];
  const dw_tap_fn tap = op->dw_tap;
  float *out = y + ((size_t)n * g->out_c + c) * op->out_plane;
  for (size_t oy = 0; oy < g->out_h; oy++) {
    for (size_t ox = 0; ox < ow; ox++) acc[ox] = 0;
    for (size_t ky = 0; ky < kh; ky++) {
      const long iy = (long)(oy * g->stride_h + ky * g->dilation_h) - (long)g->pad_top;
      if (iy < 0 || iy >= (long)g->in_h) continue;
      const uint8_t *row = plane + (size_t)iy * g->in_w;
      for (size_t kx = 0; kx < kw; kx++) {
        /* output columns [lo, hi) read input columns ox * sw + off inside [0, in_w) */
        const long off = (long)(kx * g->dilation_w) - (long)g->pad_left;
        const long lo = off >= 0 ? 0 : (-off + (long)sw - 1) / (long)sw;
        const long hi = DYD_MIN((long)ow, ((long)g->in_w - off + (long)sw - 1) / (long)sw);
        if (hi > lo) tap(acc, row + off, (size_t)lo, (size_t)hi, sw, za, (int32_t)w[ky * kw + kx] - zw);
      }
    }
    output_stage(acc, 1, ow, ab, s, bias != NULL ? &bias[c] : NULL, lo, hi, out + oy * ow);
  }
}

void dyd_qconv_run_f32(const dyd_qconv_op *op, const uint8_t *x, uint8_t x_zero_point, const int32_t *acc_bias,
                       const float *scale, const float *bias, float lo, float hi, float *y, size_t tile_start,
                       size_t tile_count, void *workspace) {
  for (size_t tile = tile_start; tile < tile_start + tile_count; tile++) {
    if (op->depthwise)
      run_depthwise_plane(op, tile, x, x_zero_point, acc_bias, scale, bias, lo, hi, y,
                          (int32_t *)(((uintptr_t)workspace + 63) & ~(uintptr_t)63));
    else
      run_gemm_tile(op, tile, x, x_zero_point, acc_bias, scale, bias, lo, hi, y, workspace);
  }
}
