/*
 * The conv operator: validation, bundle choice, weight packing and the tile
 * loop. Three paths share one packed format per bundle family:
 *   gemm   1x1, stride 1, no padding: the input pixels are the GEMM's A rows as is.
 *   igemm  anything else: each tile first copies its rows of the im2col matrix
 *          into the caller's workspace (padding taps become the zero point), then
 *          runs the same GEMM microkernel over them.
 *   dwconv one input channel per output channel: a dedicated kernel over tap
 *          pointers, so no im2col copy is needed. Output columns whose window lies
 *          inside the input horizontally share one set of tap pointers that the
 *          kernel steps along the row; only the few edge columns get pointers of
 *          their own, one call per edge column for many rows (see dyd_conv_run).
 * A tile is a block of output pixels of one group (and, when there are few
 * pixels, a block of output-channel panels), so tiles never share output bytes.
 */
#include "../common.h"

#include <stdlib.h>

enum { PATH_GEMM, PATH_IGEMM, PATH_DWCONV };

#ifndef DW_SPLIT_STORES_PER_BLOCK
#define DW_SPLIT_STORES_PER_BLOCK 64
#endif
#ifndef DW_CALL_PIXELS
#define DW_CALL_PIXELS 32
#endif

struct dyd_conv_op {
  dyd_conv_geometry g;
  int input_signed, output_signed;
  int path;
  dyd_isa isa;
  dyd_out_params out;
  /* GEMM paths; `flip` (xor 0x80) moves activations into the kernel's domain
   * while rows are copied into the workspace (im2col, or the A block of a
   * direct GEMM whose input signedness differs from the kernel's). */
  const dyd_gemm_bundle *gemm;
  dyd_gemm_ukernel_fn ukernel, ukernel_1row;       /* int8 panels (or unpacked copies) */
  /* low-bit panels (lowbit_bits 4 or 2; 0: int8 panels): kernels over the packed
   * form, and the unpack used by tiles with more than `unpack_min_rows` rows */
  unsigned lowbit_bits;
  dyd_gemm_ukernel_fn lb_ukernel, lb_ukernel_1row;
  dyd_gemm_unpack_fn lb_unpack;
  dyd_gemm_unpack_scaled_fn lb_unpack_scaled;
  size_t lb_bytes8;            /* the int8 bytes of a panel's weights (kp * NR, whole units) */
  size_t unpack_min_rows;      /* SIZE_MAX: never */
  /* per panel (bundles with copy_min_shift): k > 0 when the unpacked copy's weights are
   * scaled by 2^k, with its own header (bias * 2^k, shifts + k) in copy_headers */
  uint8_t *copy_k;
  uint8_t *copy_headers;
  size_t k, kp;                /* reduction length, and rounded up to KR */
  size_t icpg, ocpg;
  size_t panels, panel_bytes;  /* per group */
  size_t header_bytes;
  size_t m, mc, m_blocks;      /* output pixels, pixels per tile, tiles along M */
  size_t panels_per_tile, n_blocks;
  uint8_t pad_byte;            /* zero point in the kernel's domain */
  size_t im_lo, im_hi;         /* im2col: output columns whose window is inside the input row */
  uint8_t flip;
  /* depthwise path */
  const dyd_dw_bundle *dw;
  dyd_dw_ukernel_fn dw_ukernel;
  size_t taps, block_bytes, blocks;
  uint8_t *zero_row;           /* input zero point, long enough for a stepped interior run */
  /* per kernel column kx: output columns [kx_lo, kx_hi) whose tap kx is inside the
   * input row, and that tap's input column offset (ix = ox * stride_w + kx_off) */
  size_t *kx_lo, *kx_hi;
  int64_t *kx_off;
  size_t dw_lo, dw_hi;         /* columns with every tap inside the row */
  bool dw_split;               /* interior columns as one stepped kernel call */
  size_t dw_rows;              /* rows per kernel call when not split (short rows) */
  unsigned dw_bits;            /* 8, or 4 / 2: blocks store low-bit weights (dyd_dw_pack_bits) */
  /* storage */
  void *packed;
  size_t packed_size;
  size_t weight_bytes;         /* of packed_size, the weights themselves */
  char name[128];
};

/* ---- validation ---------------------------------------------------------------------- */

static bool check_requant(const dyd_requant *rq, size_t channels, int output_signed, char *err,
                          size_t err_len) {
  const int32_t tmin = output_signed ? -128 : 0, tmax = output_signed ? 127 : 255;
  if (rq->qmin > rq->qmax || rq->qmin < tmin || rq->qmax > tmax) {
    dyd_set_error(err, err_len, "clamp bounds [%d, %d] outside the output type or empty",
                  rq->qmin, rq->qmax);
    return false;
  }
  if (rq->zero_point < -(1 << 24) || rq->zero_point > (1 << 24)) {
    dyd_set_error(err, err_len, "output zero point %d out of range", rq->zero_point);
    return false;
  }
  const size_t n = rq->per_channel ? channels : 1;
  if (rq->kind == DYD_REQUANT_DYADIC) {
    if (rq->multiplier == NULL || rq->shift == NULL) {
      dyd_set_error(err, err_len, "dyadic requantization without multiplier/shift arrays");
      return false;
    }
    for (size_t i = 0; i < n; i++) {
      if (rq->multiplier[i] < 0 || rq->shift[i] < 1 || rq->shift[i] > DYD_MAX_SHIFT) {
        dyd_set_error(err, err_len,
                      "channel %zu: multiplier %d / shift %d outside [0, 2^31) / [1, 127]", i,
                      rq->multiplier[i], rq->shift[i]);
        return false;
      }
    }
  } else if (rq->kind == DYD_REQUANT_FP32) {
    if (rq->scale == NULL) {
      dyd_set_error(err, err_len, "fp32 requantization without a scale array");
      return false;
    }
    for (size_t i = 0; i < n; i++) {
      const float s = rq->scale[i];
      if (!(s == s) || s > 3.0e38f || s < -3.0e38f) {
        dyd_set_error(err, err_len, "channel %zu: scale is not finite", i);
        return false;
      }
    }
  } else {
    dyd_set_error(err, err_len, "unknown requantization kind %d", (int)rq->kind);
    return false;
  }
  return true;
}

/* Shared by conv and pooling: sizes, strides, and an output size that follows from
 * input, window, stride and top/left padding with a bottom/right padding in
 * [1 - stride, max(pad_before, window - 1)]. */
bool dyd_check_geometry(const dyd_conv_geometry *g, bool need_out_c_eq_in_c, char *err,
                        size_t err_len) {
  if (!g->batch || !g->in_h || !g->in_w || !g->in_c || !g->out_h || !g->out_w || !g->out_c ||
      !g->kernel_h || !g->kernel_w || !g->stride_h || !g->stride_w) {
    dyd_set_error(err, err_len, "zero size, kernel or stride in the geometry");
    return false;
  }
  if (need_out_c_eq_in_c && g->out_c != g->in_c) {
    dyd_set_error(err, err_len, "out_c %u must equal in_c %u", g->out_c, g->in_c);
    return false;
  }
  if (g->in_pixel_stride < g->in_c || g->out_pixel_stride < g->out_c) {
    dyd_set_error(err, err_len, "pixel stride smaller than the channel count");
    return false;
  }
  const uint32_t dh = g->dilation_h ? g->dilation_h : 1, dw = g->dilation_w ? g->dilation_w : 1;
  const struct { uint32_t in, out, k, s, d, pad; const char *axis; } ax[2] = {
      {g->in_h, g->out_h, g->kernel_h, g->stride_h, dh, g->pad_top, "height"},
      {g->in_w, g->out_w, g->kernel_w, g->stride_w, dw, g->pad_left, "width"}};
  for (int i = 0; i < 2; i++) {
    const int64_t span = (int64_t)(ax[i].k - 1) * ax[i].d + 1;
    const int64_t pad_after = (int64_t)(ax[i].out - 1) * ax[i].s + span - ax[i].in - ax[i].pad;
    const int64_t max_after = DYD_MAX((int64_t)ax[i].pad, span - 1);
    if (pad_after < 1 - (int64_t)ax[i].s || pad_after > max_after) {
      dyd_set_error(err, err_len,
                    "%s: output %u inconsistent with input %u, window %lld, stride %u, pad %u",
                    ax[i].axis, ax[i].out, ax[i].in, (long long)span, ax[i].s, ax[i].pad);
      return false;
    }
  }
  if ((uint64_t)g->batch * g->in_h * g->in_w * g->in_pixel_stride > (1ull << 40) ||
      (uint64_t)g->batch * g->out_h * g->out_w * g->out_pixel_stride > (1ull << 40)) {
    dyd_set_error(err, err_len, "tensor too large");
    return false;
  }
  return true;
}

bool dyd_check_conv_geometry(const dyd_conv_geometry *g, char *err, size_t err_len) {
  if (!dyd_check_geometry(g, false, err, err_len)) return false;
  if (!g->dilation_h || !g->dilation_w) {
    dyd_set_error(err, err_len, "zero dilation");
    return false;
  }
  if (!g->groups || g->in_c % g->groups || g->out_c % g->groups) {
    dyd_set_error(err, err_len, "groups %u must divide in_c %u and out_c %u", g->groups, g->in_c,
                  g->out_c);
    return false;
  }
  return true;
}

static bool check_conv(const dyd_conv_desc *d, char *err, size_t err_len) {
  const dyd_conv_geometry *g = &d->geometry;
  if (!dyd_check_conv_geometry(g, err, err_len)) return false;
  if (d->weights == NULL) {
    dyd_set_error(err, err_len, "no weights");
    return false;
  }
  if (d->weight_bits == 1 || d->weight_bits > 8) {
    dyd_set_error(err, err_len, "weight_bits %u not supported (0 or 8: int8, 2 to 7: narrower)",
                  d->weight_bits);
    return false;
  }
  if (d->weight_bits != 0 && d->weight_bits < 8) {
    const int lo = -(1 << (d->weight_bits - 1)), hi = (1 << (d->weight_bits - 1)) - 1;
    const size_t per_oc = (size_t)g->kernel_h * g->kernel_w * (g->in_c / g->groups);
    for (size_t i = 0; i < per_oc * g->out_c; i++)
      if (d->weights[i] < lo || d->weights[i] > hi) {
        dyd_set_error(err, err_len,
                      "weight_bits %u: weight %d of output channel %zu (element %zu) outside "
                      "[%d, %d]",
                      d->weight_bits, d->weights[i], i / per_oc, i % per_oc, lo, hi);
        return false;
      }
  }
  const int32_t zx = d->input_zero_point;
  if (d->input_signed ? (zx < -128 || zx > 127) : (zx < 0 || zx > 255)) {
    dyd_set_error(err, err_len, "input zero point %d outside the input type", zx);
    return false;
  }
  if (!check_requant(&d->requant, g->out_c, d->output_signed, err, err_len)) return false;
  /* |x - z_x| <= 255 and |w| <= 128, so |sum| <= K * 255 * 128 must fit int32. The bias
   * (and the folded zero-point correction) is added modulo 2^32, as ONNX Runtime does:
   * quantizers clip biases of near-zero weight channels to the int32 range, and such a
   * channel's accumulator wraps the same way in every kernel and in the reference.
   * The same bound holds for the x86 low-bit kernels, which accumulate 16 * w (4-bit)
   * or 64 * w (2-bit), the field left in the top bits of a byte: |16 w|, |64 w| <= 128. */
  const uint64_t k = (uint64_t)g->kernel_h * g->kernel_w * (g->in_c / g->groups);
  if (k * 255 * 128 > (uint64_t)INT32_MAX) {
    dyd_set_error(err, err_len, "accumulator may overflow int32: K = %llu (max %d for 8-bit)",
                  (unsigned long long)k, INT32_MAX / (255 * 128));
    return false;
  }
  return true;
}

/* ---- packing --------------------------------------------------------------------------- */

static void requant_entry(const dyd_requant *rq, size_t oc, int32_t *mult, int32_t *shift) {
  const size_t i = rq->per_channel ? oc : 0;
  if (rq->kind == DYD_REQUANT_DYADIC) {
    dyd_normalize_dyadic(rq->multiplier[i], rq->shift[i], mult, shift);
  } else {
    memcpy(mult, &rq->scale[i], sizeof *mult);
    *shift = 1;
  }
}

static int64_t weight_sum(const int8_t *w, size_t k) {
  int64_t s = 0;
  for (size_t i = 0; i < k; i++) s += w[i];
  return s;
}

/* Bias with the zero point folded in, stored modulo 2^32 (kernels add modulo 2^32
 * and the true result fits int32). */
static int32_t folded_bias(const dyd_conv_desc *d, size_t oc, int64_t zero, int64_t sum_w) {
  const int64_t b = (d->bias ? d->bias[oc] : 0) - zero * sum_w;
  return (int32_t)(uint32_t)(uint64_t)b;
}

/* A bound on |accumulator| of output channel oc over every input: |bias| + sum |w| *
 * max |x - z_x|. Kernels add the products of activations in their own domain (int8
 * flipped to uint8 or back) to the bias with -z * sum(w) folded in, modulo 2^32; x - z
 * is the same in every domain, so while this bound is below 2^31 the int32
 * accumulator is exactly bias + sum w (x - z_x) and never wraps. */
static int64_t acc_bound(const dyd_conv_desc *d, int64_t bias, const int8_t *w, size_t k) {
  const int64_t z = d->input_zero_point, lo = d->input_signed ? -128 : 0, hi = lo + 255;
  int64_t sum = 0;
  for (size_t i = 0; i < k; i++) sum += w[i] < 0 ? -(int64_t)w[i] : w[i];
  return (bias < 0 ? -bias : bias) + sum * DYD_MAX(z - lo, hi - z);
}

#define MAX_COLUMNS 64 /* of a GEMM panel (NR) or depthwise block (CB) */

static bool all_zero(const int8_t *w, size_t k) {
  for (size_t i = 0; i < k; i++)
    if (w[i] != 0) return false;
  return true;
}

/* An output channel whose weights are all zero (quantizers leave such channels,
 * often with an odd scale: EfficientNet-Lite0's first depthwise layer has one
 * with multiplier 1.0, shift 30) outputs one constant, its requantized bias.
 * With dyadic requantization its (bias, multiplier, shift) become (8 (y - z),
 * 2^30, 33), which give the same y exactly, so that one such channel does not
 * keep its whole block out of the SIMD kernels' fast output stage (shift >= 33). */
static void constant_channel(const dyd_requant *rq, int32_t *bias, int32_t *mult,
                             int32_t *shift) {
  if (rq->kind != DYD_REQUANT_DYADIC) return;
  const int32_t y = dyd_requantize_dyadic(*bias, *mult, *shift, rq->zero_point, rq->qmin, rq->qmax);
  *bias = 8 * (y - rq->zero_point); /* |y - z| < 2^25 */
  *mult = 1 << 30;
  *shift = 33;
}

/* The header of panel `index`'s unpacked copy when its weights are scaled by 2^k so
 * that every shift reaches the bundle's copy_min_shift (see common.h); nothing (k = 0)
 * when no column needs it or when the scaled weights, shifts or accumulator bounds
 * would leave their ranges. */
static void pack_copy_header(dyd_conv_op *op, const dyd_conv_desc *d, size_t index,
                             const int32_t *bias, const int32_t *mult, const int32_t *shift,
                             const int64_t *acc_max, const int8_t *w8) {
  const dyd_gemm_bundle *b = op->gemm;
  const size_t nr = b->nr;
  int32_t k = 0;
  for (size_t j = 0; j < nr; j++)
    if (mult[j] != 0 && shift[j] < (int32_t)b->copy_min_shift)
      k = DYD_MAX(k, (int32_t)b->copy_min_shift - shift[j]);
  if (k == 0 || k > 6) return;
  int wmin = 0, wmax = 0;
  for (size_t i = 0; i < op->lb_bytes8; i++) wmin = DYD_MIN(wmin, w8[i]), wmax = DYD_MAX(wmax, w8[i]);
  if (wmin * (1 << k) < -128 || wmax * (1 << k) > 127) return;
  uint8_t *h = op->copy_headers + index * op->header_bytes;
  int32_t *cb = (int32_t *)h, *cm = cb + nr, *cs = cm + nr;
  int64_t cacc[MAX_COLUMNS];
  for (size_t j = 0; j < nr; j++) {
    if (shift[j] + k > 62 || acc_max[j] < 0 || (acc_max[j] << k) >= ((int64_t)1 << 31)) return;
    cb[j] = (int32_t)((uint32_t)bias[j] << k); /* modulo 2^32, as the accumulators */
    cm[j] = mult[j];
    cs[j] = shift[j] + k;
    cacc[j] = acc_max[j] << k;
  }
  b->pack_extra(cm, cs, d->requant.zero_point, cacc, cs + nr);
  op->copy_k[index] = (uint8_t)k;
}

/* `w8` (lb_bytes8 bytes) is scratch for the int8 layout of a low-bit panel. */
static void pack_gemm(dyd_conv_op *op, const dyd_conv_desc *d, int64_t zero, int8_t *w8) {
  const dyd_gemm_bundle *b = op->gemm;
  const size_t nr = b->nr, kr = b->kr;
  for (size_t grp = 0; grp < op->g.groups; grp++)
    for (size_t p = 0; p < op->panels; p++) {
      uint8_t *panel = (uint8_t *)op->packed + (grp * op->panels + p) * op->panel_bytes;
      int32_t *bias = (int32_t *)panel, *mult = bias + nr, *shift = mult + nr;
      int64_t acc_max[MAX_COLUMNS] = {0};
      int8_t *w = op->lowbit_bits ? w8 : (int8_t *)(panel + op->header_bytes);
      if (op->lowbit_bits) memset(w8, 0, op->lb_bytes8);
      for (size_t j = 0; j < nr; j++) {
        const size_t n = p * nr + j;
        if (n >= op->ocpg) {
          shift[j] = 1; /* unused columns: zero weights, zero multiplier */
          continue;
        }
        const size_t oc = grp * op->ocpg + n;
        const int8_t *src = d->weights + oc * op->k;
        bias[j] = folded_bias(d, oc, zero, weight_sum(src, op->k));
        acc_max[j] = acc_bound(d, d->bias ? d->bias[oc] : 0, src, op->k);
        requant_entry(&d->requant, oc, &mult[j], &shift[j]);
        if (all_zero(src, op->k)) {
          constant_channel(&d->requant, &bias[j], &mult[j], &shift[j]);
          acc_max[j] = acc_bound(d, bias[j], src, 0);
        }
        for (size_t k = 0; k < op->k; k++) w[(k / kr) * nr * kr + j * kr + k % kr] = src[k];
      }
      if (b->pack_extra != NULL && d->requant.kind == DYD_REQUANT_DYADIC)
        b->pack_extra(mult, shift, d->requant.zero_point, acc_max, shift + nr);
      if (op->lowbit_bits)
        dyd_gemm_pack_planes(w8, op->lb_bytes8, b->lowbit_unit, op->lowbit_bits,
                             panel + op->header_bytes);
      if (op->copy_k != NULL)
        pack_copy_header(op, d, grp * op->panels + p, bias, mult, shift, acc_max, w8);
    }
}

static void pack_dw(dyd_conv_op *op, const dyd_conv_desc *d, int8_t *w8) {
  const dyd_dw_bundle *b = op->dw;
  const size_t cb = b->cb, taps = op->taps;
  const size_t taps_padded = DYD_ROUND_UP(taps, b->tap_round);
  const int64_t zero = d->input_zero_point + (op->input_signed && b->flips_signed_input ? 128 : 0);
  for (size_t blk = 0; blk < op->blocks; blk++) {
    uint8_t *block = (uint8_t *)op->packed + blk * op->block_bytes;
    int32_t *bias = (int32_t *)block, *mult = bias + cb, *shift = mult + cb;
    int64_t acc_max[MAX_COLUMNS] = {0};
    const size_t c0 = blk * cb, cn = DYD_MIN(cb, op->g.out_c - c0);
    for (size_t j = 0; j < cb; j++) {
      if (j >= cn) {
        shift[j] = 1;
        continue;
      }
      const int8_t *src = d->weights + (c0 + j) * taps;
      bias[j] = folded_bias(d, c0 + j, zero, weight_sum(src, taps));
      acc_max[j] = acc_bound(d, d->bias ? d->bias[c0 + j] : 0, src, taps);
      requant_entry(&d->requant, c0 + j, &mult[j], &shift[j]);
      if (all_zero(src, taps)) {
        constant_channel(&d->requant, &bias[j], &mult[j], &shift[j]);
        acc_max[j] = acc_bound(d, bias[j], src, 0);
      }
    }
    if (b->pack_extra != NULL && d->requant.kind == DYD_REQUANT_DYADIC)
      b->pack_extra(mult, shift, d->requant.zero_point, acc_max, shift + cb);
    uint8_t *area = block + DYD_PANEL_HEADER(cb) + b->extra_bytes;
    if (op->dw_bits == 8) {
      b->pack(d->weights + c0 * taps, cn, cb, taps, taps_padded, area);
    } else {
      memset(w8, 0, taps_padded * cb);
      b->pack_i8(d->weights + c0 * taps, cn, cb, taps, taps_padded, w8);
      dyd_dw_pack_bits(w8, taps_padded * cb, b->chunk, op->dw_bits, area);
    }
  }
}

/* ---- bundle choice ----------------------------------------------------------------------- */

/* Narrow bundles take layers with few output channels per group and int8 panels
 * (they have no 2- or 4-bit kernels, and packing those widths as int8 would double
 * the weights). */
static bool gemm_fits(const void *bundle, const void *desc) {
  const dyd_gemm_bundle *b = bundle;
  const dyd_conv_desc *d = desc;
  if (b->max_columns == 0) return true;
  const size_t ocpg = d->geometry.out_c / DYD_MAX(d->geometry.groups, 1);
  return ocpg <= b->max_columns && d->weight_bits != 4 && d->weight_bits != 2;
}

static const dyd_gemm_bundle *pick_gemm(dyd_isa isa, const dyd_conv_desc *d) {
  return dyd_registry_select(DYD_FAMILY_GEMM, isa, gemm_fits, d);
}

/* Fixed-window depthwise rows take only their window (any stride and dilation). */
static bool dw_fits(const void *bundle, const void *geometry) {
  const dyd_dw_bundle *b = bundle;
  const dyd_conv_geometry *g = geometry;
  return b->kernel_h == 0 || (b->kernel_h == g->kernel_h && b->kernel_w == g->kernel_w);
}

static const dyd_dw_bundle *pick_dw(dyd_isa isa, const dyd_conv_geometry *g) {
  return dyd_registry_select(DYD_FAMILY_DWCONV, isa, dw_fits, g);
}

static const char *requant_name(dyd_requant_kind k) {
  return k == DYD_REQUANT_DYADIC ? "dyadic" : "fp32";
}

/* Output columns [lo, hi) whose tap kx lies inside the input row. */
static void valid_columns(const dyd_conv_geometry *g, size_t kx, size_t *lo, size_t *hi) {
  const int64_t off = (int64_t)(kx * g->dilation_w) - g->pad_left; /* ix = ox * sw + off */
  const int64_t sw = g->stride_w;
  int64_t first = off >= 0 ? 0 : (-off + sw - 1) / sw;
  int64_t end = ((int64_t)g->in_w - 1 - off) < 0 ? 0 : ((int64_t)g->in_w - 1 - off) / sw + 1;
  if (end > (int64_t)g->out_w) end = g->out_w;
  if (first > end) first = end;
  *lo = (size_t)first;
  *hi = (size_t)end;
}

/* Column ranges of the depthwise path (geometry only, so once at create time).
 * Interior columns go to the kernel as one run when that saves enough pointer
 * stores (taps per column) to pay for the two extra kernel calls of the edges,
 * whose fixed cost grows with the channel blocks. */
static bool dw_columns(dyd_conv_op *op) {
  const dyd_conv_geometry *g = &op->g;
  op->kx_off = malloc(g->kernel_w * (sizeof(int64_t) + 2 * sizeof(size_t)));
  if (op->kx_off == NULL) return false;
  op->kx_lo = (size_t *)(op->kx_off + g->kernel_w);
  op->kx_hi = op->kx_lo + g->kernel_w;
  op->dw_lo = 0;
  op->dw_hi = g->out_w;
  for (size_t kx = 0; kx < g->kernel_w; kx++) {
    valid_columns(g, kx, &op->kx_lo[kx], &op->kx_hi[kx]);
    op->kx_off[kx] = (int64_t)(kx * g->dilation_w) - g->pad_left;
    op->dw_lo = DYD_MAX(op->dw_lo, op->kx_lo[kx]);
    op->dw_hi = DYD_MIN(op->dw_hi, op->kx_hi[kx]);
  }
  const size_t interior = op->dw_hi > op->dw_lo ? op->dw_hi - op->dw_lo : 0;
  op->dw_split = interior >= 2 && interior * op->taps >= DW_SPLIT_STORES_PER_BLOCK * op->blocks;
  /* Unsplit rows have a pointer set per pixel, so consecutive rows can share one call:
   * a kernel's per-call work per channel block (constants brought into lane order,
   * low-bit weights unpacked) is then spread over at least DW_CALL_PIXELS pixels. */
  op->dw_rows = op->dw_split ? 1 : DYD_MAX(DYD_DIV_UP(DW_CALL_PIXELS, (size_t)g->out_w), 1);
  return true;
}

/* ---- create / run -------------------------------------------------------------------------- */

dyd_conv_op *dyd_conv_create_for_isa(const dyd_conv_desc *d, dyd_isa isa, char *err,
                                     size_t err_len) {
  if (d == NULL) {
    dyd_set_error(err, err_len, "no descriptor");
    return NULL;
  }
  if (!check_conv(d, err, err_len)) return NULL;
  isa = dyd_isa_supported(isa);
  dyd_conv_op *op = calloc(1, sizeof *op);
  if (op == NULL) {
    dyd_set_error(err, err_len, "out of memory");
    return NULL;
  }
  const dyd_conv_geometry *g = &d->geometry;
  op->g = *g;
  op->isa = isa;
  op->input_signed = d->input_signed != 0;
  op->output_signed = d->output_signed != 0;
  op->icpg = g->in_c / g->groups;
  op->ocpg = g->out_c / g->groups;
  op->taps = (size_t)g->kernel_h * g->kernel_w;
  op->k = op->taps * op->icpg;
  op->m = (size_t)g->batch * g->out_h * g->out_w;
  dyd_out_params_init(&op->out, d->requant.kind, d->requant.zero_point, d->requant.qmin,
                      d->requant.qmax);
  const char *act = op->input_signed ? "qs8" : "qu8";
  const int kind = d->requant.kind == DYD_REQUANT_FP32;

  const bool depthwise = op->icpg == 1 && op->ocpg == 1;
  op->dw = depthwise ? pick_dw(isa, g) : NULL;
  if (op->dw != NULL) {
    const dyd_dw_bundle *b = op->dw;
    const size_t taps_padded = DYD_ROUND_UP(op->taps, b->tap_round);
    const int lb = d->weight_bits == 2;
    op->path = PATH_DWCONV;
    /* low-bit blocks where the kernel has them and a block's unpacked weights fit its stack buffer */
    op->dw_bits = (d->weight_bits == 4 || d->weight_bits == 2) &&
                          b->ukernel_lowbit[lb][kind][op->input_signed] != NULL &&
                          taps_padded * b->cb * b->weight_bytes <= DYD_DW_STAGE_BYTES
                      ? d->weight_bits
                      : 8;
    op->dw_ukernel = op->dw_bits == 8 ? b->ukernel[kind][op->input_signed]
                                      : b->ukernel_lowbit[lb][kind][op->input_signed];
    op->blocks = DYD_DIV_UP(g->out_c, b->cb);
    op->block_bytes =
        op->dw_bits == 8
            ? dyd_dw_block_bytes(b->cb, b->extra_bytes, taps_padded, b->weight_bytes)
            : dyd_dw_lowbit_block_bytes(b->cb, b->extra_bytes, taps_padded, b->chunk, op->dw_bits);
    op->packed_size = op->blocks * op->block_bytes;
    op->weight_bytes = op->blocks * (op->dw_bits == 8 ? taps_padded * b->cb * b->weight_bytes
                                                      : dyd_dw_lowbit_bytes(taps_padded * b->cb,
                                                                            b->chunk, op->dw_bits));
    if (!dw_columns(op)) goto oom;
    size_t zero_len = g->in_c;
    if (op->dw_split)
      zero_len += (op->dw_hi - op->dw_lo - 1) * (size_t)g->stride_w * g->in_pixel_stride;
    op->zero_row = malloc(zero_len);
    op->packed = aligned_alloc(64, op->packed_size);
    if (op->zero_row == NULL || op->packed == NULL) goto oom;
    memset(op->zero_row, (uint8_t)d->input_zero_point, zero_len);
    memset(op->packed, 0, op->packed_size);
    int8_t *w8 = op->dw_bits == 8 ? NULL : malloc(taps_padded * b->cb);
    if (op->dw_bits != 8 && w8 == NULL) goto oom;
    pack_dw(op, d, w8);
    free(w8);
    snprintf(op->name, sizeof op->name, "dyd_%s_qc%uw_dwconv_%s_ukernel_%s__%s", act, op->dw_bits,
             requant_name(d->requant.kind), b->tile, b->isa_suffix);
    return op;
  }

  const dyd_gemm_bundle *b = pick_gemm(isa, d);
  op->gemm = b;
  const bool direct = g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 &&
                      g->stride_w == 1 && g->pad_top == 0 && g->pad_left == 0 &&
                      g->out_h == g->in_h && g->out_w == g->in_w;
  op->path = direct ? PATH_GEMM : PATH_IGEMM;
  /* Zero point expressed in the kernel's activation domain (flipping the top bit
   * maps int8 to uint8 by adding 128, and back by subtracting it). */
  const bool flip = op->input_signed != b->a_signed_domain;
  int64_t zero = d->input_zero_point;
  if (flip) zero += op->input_signed ? 128 : -128;
  op->pad_byte = (uint8_t)zero;
  op->flip = flip ? 0x80 : 0;
  op->ukernel = b->ukernel[kind];
  op->ukernel_1row = b->ukernel_1row[kind] ? b->ukernel_1row[kind] : op->ukernel;
  op->kp = DYD_ROUND_UP(op->k, b->kr);
  /* 2- and 4-bit weights where the bundle has kernels for them; other widths are
   * stored as int8 (a 3-bit field would straddle bytes, and 5-7 bits save too
   * little to pay for the unpacking). */
  const dyd_gemm_lowbit *lb = d->weight_bits == 4 ? &b->w4 : d->weight_bits == 2 ? &b->w2 : NULL;
  op->unpack_min_rows = SIZE_MAX;
  if (lb != NULL && lb->ukernel[kind] != NULL) {
    op->lowbit_bits = d->weight_bits;
    op->lb_ukernel = lb->ukernel[kind];
    op->lb_ukernel_1row = lb->ukernel_1row[kind] ? lb->ukernel_1row[kind] : op->lb_ukernel;
    op->lb_unpack = lb->unpack;
    op->lb_unpack_scaled = lb->unpack_scaled;
    op->lb_bytes8 = DYD_ROUND_UP(op->kp * b->nr, b->lowbit_unit);
    const int mode = dyd_gemm_lowbit_unpack_mode;
    if (lb->unpack != NULL && mode == 1) op->unpack_min_rows = b->mr;
    if (lb->unpack != NULL && mode == 2) op->unpack_min_rows = 0;
  }
  { /* ox * stride_w - pad_left >= 0 and ox * stride_w - pad_left + kernel_w <= in_w */
    const size_t sw = g->stride_w, room = (size_t)g->in_w + g->pad_left;
    op->im_lo = DYD_MIN(DYD_DIV_UP((size_t)g->pad_left, sw), (size_t)g->out_w);
    op->im_hi = room < g->kernel_w ? 0 : DYD_MIN((room - g->kernel_w) / sw + 1, (size_t)g->out_w);
    op->im_hi = DYD_MAX(op->im_hi, op->im_lo);
  }
  op->panels = DYD_DIV_UP(op->ocpg, b->nr);
  op->header_bytes = DYD_PANEL_HEADER(b->nr) + b->extra_bytes;
  const size_t panel_weights =
      op->lowbit_bits ? op->lb_bytes8 * op->lowbit_bits / 8 : op->kp * b->nr;
  op->panel_bytes = DYD_ROUND_UP(op->header_bytes + panel_weights, 64);
  op->weight_bytes = g->groups * op->panels * panel_weights;
  /* About 32 KiB of A per tile (it stays in L1/L2 while every panel passes over
   * it), a multiple of MR, at most 64 MR-blocks. */
  size_t mc = 32768 / DYD_MAX(op->kp, 1);
  mc = DYD_MAX(mc / b->mr, 1) * b->mr;
  mc = DYD_MIN(mc, (size_t)b->mr * 64);
  mc = DYD_MIN(mc, DYD_ROUND_UP(op->m, b->mr));
  /* Tiles that unpack low-bit panels: at least 16 row blocks (where there are that
   * many rows) share each unpack; 32 KiB of A would be 3 row blocks in the 7x7
   * layers with K = 1152 (int4/int8 0.80 there, 0.89 with 8 blocks, all 49 rows)
   * and 8 in the 14x14 ones with K = 480-672 (0.95 there, 0.97 with 16). */
  if (op->unpack_min_rows != SIZE_MAX)
    mc = DYD_MAX(mc, DYD_MIN((size_t)b->mr * 16, DYD_ROUND_UP(op->m, b->mr)));
  op->mc = mc;
  op->m_blocks = DYD_DIV_UP(op->m, mc);
  /* Few pixels (fully connected layers): split the output channels instead so
   * that threads still get work. */
  op->panels_per_tile = op->panels;
  if (op->m_blocks * g->groups < 8 && op->panels > 1) {
    const size_t want = DYD_DIV_UP(8, op->m_blocks * g->groups);
    op->panels_per_tile = DYD_MAX(DYD_DIV_UP(op->panels, want), 1);
  }
  op->n_blocks = DYD_DIV_UP(op->panels, op->panels_per_tile);
  op->packed_size = g->groups * op->panels * op->panel_bytes;
  op->packed = aligned_alloc(64, op->packed_size);
  if (op->packed == NULL) goto oom;
  memset(op->packed, 0, op->packed_size);
  int8_t *w8 = NULL;
  if (op->lowbit_bits && (w8 = malloc(op->lb_bytes8)) == NULL) goto oom;
  if (op->unpack_min_rows != SIZE_MAX && b->copy_min_shift && op->lb_unpack_scaled != NULL &&
      b->pack_extra != NULL && d->requant.kind == DYD_REQUANT_DYADIC) {
    op->copy_k = calloc(g->groups * op->panels, 1);
    op->copy_headers = malloc(g->groups * op->panels * op->header_bytes);
    if (op->copy_k == NULL || op->copy_headers == NULL) {
      free(w8);
      goto oom;
    }
  }
  pack_gemm(op, d, zero, w8);
  free(w8);
  const char *weight = op->lowbit_bits == 4 ? "qc4w" : op->lowbit_bits == 2 ? "qc2w" : "qc8w";
  snprintf(op->name, sizeof op->name, "dyd_%s_%s_%s_%s_ukernel_%ux%uc%u__%s", act, weight,
           direct ? "gemm" : "igemm", requant_name(d->requant.kind), b->mr, b->nr, b->kr,
           b->isa_suffix);
  return op;
oom:
  dyd_conv_destroy(op);
  dyd_set_error(err, err_len, "out of memory");
  return NULL;
}

dyd_conv_op *dyd_conv_create(const dyd_conv_desc *desc, char *err, size_t err_len) {
  return dyd_conv_create_for_isa(desc, dyd_active_isa(), err, err_len);
}

void dyd_conv_destroy(dyd_conv_op *op) {
  if (op == NULL) return;
  free(op->packed);
  free(op->copy_k);
  free(op->copy_headers);
  free(op->zero_row);
  free(op->kx_off);
  free(op);
}

size_t dyd_conv_tile_count(const dyd_conv_op *op) {
  if (op->path == PATH_DWCONV) return (size_t)op->g.batch * op->g.out_h;
  return op->g.groups * op->m_blocks * op->n_blocks;
}

size_t dyd_conv_workspace_size(const dyd_conv_op *op) {
  if (op->path == PATH_DWCONV) return op->dw_rows * op->g.out_w * op->taps * sizeof(void *);
  size_t n = op->path == PATH_IGEMM || op->flip ? op->mc * op->kp : 0;
  /* an unpacked panel (header and int8 weights), 64-byte aligned inside */
  if (op->unpack_min_rows != SIZE_MAX)
    n = DYD_ROUND_UP(n, 64) + 63 + op->header_bytes + op->lb_bytes8;
  return n;
}

const char *dyd_conv_kernel_name(const dyd_conv_op *op) { return op->name; }
size_t dyd_conv_packed_size(const dyd_conv_op *op) { return op->packed_size; }
size_t dyd_conv_packed_weight_bytes(const dyd_conv_op *op) { return op->weight_bytes; }
dyd_isa dyd_conv_isa(const dyd_conv_op *op) { return op->isa; }

/*
 * Copies of one tap's channels into an im2col row. They are short (often 3-64
 * bytes) and there are kernel_h * kernel_w of them per row, so a libc call each
 * would cost as much as the GEMM; fixed-size memcpy calls compile to single
 * moves, and overlapping first/last chunks cover any length without a byte loop.
 */
static inline uint64_t load8(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static inline void store8(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* dst = src ^ flip for n bytes, flip 0 or 0x80 in every byte of `flip8`. */
static inline void copy_row(uint8_t *dst, const uint8_t *src, size_t n, uint64_t flip8) {
  if (n >= 16) { /* 16-byte steps: two 8-byte lanes the compiler merges into one vector move */
    size_t i = 0;
    for (; i + 16 < n; i += 16) {
      const uint64_t a = load8(src + i) ^ flip8, b = load8(src + i + 8) ^ flip8;
      store8(dst + i, a);
      store8(dst + i + 8, b);
    }
    const uint64_t a = load8(src + n - 16) ^ flip8, b = load8(src + n - 8) ^ flip8;
    store8(dst + n - 16, a);
    store8(dst + n - 8, b);
  } else if (n >= 8) {
    size_t i = 0;
    for (; i + 8 < n; i += 8) store8(dst + i, load8(src + i) ^ flip8);
    store8(dst + n - 8, load8(src + n - 8) ^ flip8); /* overlapping tail */
  } else if (n >= 4) {
    uint32_t a, b;
    memcpy(&a, src, 4);
    memcpy(&b, src + n - 4, 4);
    a ^= (uint32_t)flip8;
    b ^= (uint32_t)flip8;
    memcpy(dst, &a, 4);
    memcpy(dst + n - 4, &b, 4);
  } else {
    for (size_t i = 0; i < n; i++) dst[i] = src[i] ^ (uint8_t)flip8;
  }
}

static inline void fill_row(uint8_t *dst, size_t n, uint64_t byte8) {
  if (n >= 8) {
    size_t i = 0;
    for (; i + 8 < n; i += 8) store8(dst + i, byte8);
    store8(dst + n - 8, byte8);
  } else {
    memset(dst, (uint8_t)byte8, n);
  }
}

/* One im2col row (output pixel n, oy, ox) of group `grp`: kernel_h * kernel_w taps
 * of icpg bytes, padding taps filled with the zero point. With `runs` (one group,
 * dense pixels, no horizontal dilation) a kernel row whose taps are all inside
 * the input is one copy of kernel_w * icpg bytes. */
static void im2col_pixel(const dyd_conv_op *op, const uint8_t *in, size_t grp, size_t n,
                         size_t oy, size_t ox, bool runs, uint64_t flip8, uint64_t pad8,
                         uint8_t *row) {
  const dyd_conv_geometry *g = &op->g;
  const size_t icpg = op->icpg, run = g->kernel_w * icpg;
  const int64_t ix0 = (int64_t)(ox * g->stride_w) - g->pad_left;
  const bool inside_w = ix0 >= 0 && ix0 + (int64_t)g->kernel_w <= (int64_t)g->in_w;
  for (size_t ky = 0; ky < g->kernel_h; ky++) {
    const int64_t iy = (int64_t)(oy * g->stride_h + ky * g->dilation_h) - g->pad_top;
    if (iy < 0 || iy >= (int64_t)g->in_h) {
      fill_row(row, run, pad8);
      row += run;
      continue;
    }
    if (runs && inside_w) {
      copy_row(row, in + ((n * g->in_h + (size_t)iy) * g->in_w + (size_t)ix0) * icpg, run, flip8);
      row += run;
      continue;
    }
    for (size_t kx = 0; kx < g->kernel_w; kx++, row += icpg) {
      const int64_t ix = (int64_t)(ox * g->stride_w + kx * g->dilation_w) - g->pad_left;
      if (ix < 0 || ix >= (int64_t)g->in_w) {
        fill_row(row, icpg, pad8);
        continue;
      }
      const uint8_t *src =
          in + ((n * g->in_h + (size_t)iy) * g->in_w + (size_t)ix) * g->in_pixel_stride +
          grp * icpg;
      copy_row(row, src, icpg, flip8);
    }
  }
}

/* Rows [m0, m0 + rows) of the im2col matrix of group `grp`, in the kernel's domain.
 * Rows are taken one output row (n, oy) at a time. With `runs`, the columns whose
 * window is inside the input horizontally ([im_lo, im_hi), from create time) are
 * filled kernel row by kernel row: the source row and padding decision once per
 * kernel row, then one copy per pixel with a pointer step (the stem conv of most
 * networks has 3 channels, so the copies are short and per-pixel arithmetic
 * would cost as much as they do). Edge columns go through im2col_pixel. */
static void im2col(const dyd_conv_op *op, const uint8_t *in, size_t grp, size_t m0, size_t rows,
                   uint8_t *dst) {
  const dyd_conv_geometry *g = &op->g;
  const size_t icpg = op->icpg, hw = (size_t)g->out_h * g->out_w, kp = op->kp;
  const uint64_t flip8 = op->flip ? 0x8080808080808080ull : 0;
  const uint64_t pad8 = 0x0101010101010101ull * op->pad_byte;
  const size_t run = g->kernel_w * icpg;
  const bool runs = g->groups == 1 && g->dilation_w == 1 && g->in_pixel_stride == icpg;
  /* output position of row m0, then stepped by output rows (no divisions per row) */
  size_t n = m0 / hw, oy = m0 % hw / g->out_w, ox = m0 % g->out_w;
  for (size_t r = 0; r < rows;) {
    const size_t seg = DYD_MIN(rows - r, g->out_w - ox);
    size_t a = ox + seg, b = ox + seg; /* interior columns [a, b) */
    if (runs) {
      a = DYD_MIN(DYD_MAX(op->im_lo, ox), ox + seg);
      b = DYD_MAX(DYD_MIN(op->im_hi, ox + seg), a);
    }
    if (kp > op->k) { /* < KR zero bytes past K: one store (the taps overwrite its start) */
      for (size_t i = 0; i < seg; i++) {
        uint8_t *row = dst + (r + i) * kp;
        if (kp >= 8) {
          store8(row + kp - 8, 0);
        } else {
          for (size_t k = op->k; k < kp; k++) row[k] = 0;
        }
      }
    }
    for (size_t x = ox; x < a; x++)
      im2col_pixel(op, in, grp, n, oy, x, runs, flip8, pad8, dst + (r + x - ox) * kp);
    for (size_t x = b; x < ox + seg; x++)
      im2col_pixel(op, in, grp, n, oy, x, runs, flip8, pad8, dst + (r + x - ox) * kp);
    if (a < b) {
      const size_t step = g->stride_w * icpg;
      for (size_t ky = 0; ky < g->kernel_h; ky++) {
        const int64_t iy = (int64_t)(oy * g->stride_h + ky * g->dilation_h) - g->pad_top;
        uint8_t *d = dst + (r + a - ox) * kp + ky * run;
        if (iy < 0 || iy >= (int64_t)g->in_h) {
          for (size_t x = a; x < b; x++, d += kp) fill_row(d, run, pad8);
          continue;
        }
        const uint8_t *src =
            in + ((n * g->in_h + (size_t)iy) * g->in_w + a * g->stride_w - g->pad_left) * icpg;
        if (run >= 8 && run <= 16) { /* the 3-channel stem conv: 9 bytes */
          for (size_t x = a; x < b; x++, d += kp, src += step) {
            const uint64_t lo = load8(src) ^ flip8, hi = load8(src + run - 8) ^ flip8;
            store8(d, lo);
            store8(d + run - 8, hi);
          }
        } else {
          for (size_t x = a; x < b; x++, d += kp, src += step) copy_row(d, src, run, flip8);
        }
      }
    }
    r += seg;
    ox += seg;
    if (ox == g->out_w) {
      ox = 0;
      if (++oy == g->out_h) oy = 0, n++;
    }
  }
}

static void run_gemm_tile(const dyd_conv_op *op, const uint8_t *in, uint8_t *out, size_t tile,
                          uint8_t *ws) {
  const dyd_gemm_bundle *b = op->gemm;
  const size_t nb = tile % op->n_blocks, rest = tile / op->n_blocks;
  const size_t mb = rest % op->m_blocks, grp = rest / op->m_blocks;
  const size_t m0 = mb * op->mc, rows = DYD_MIN(op->mc, op->m - m0);
  const size_t p0 = nb * op->panels_per_tile, p1 = DYD_MIN(op->panels, p0 + op->panels_per_tile);
  const uint8_t *a;
  size_t a_stride, kc;
  if (op->path == PATH_GEMM && !op->flip) {
    a = in + m0 * op->g.in_pixel_stride + grp * op->icpg;
    a_stride = op->g.in_pixel_stride;
    kc = op->k;
  } else if (op->path == PATH_GEMM) {
    const uint8_t *src = in + m0 * op->g.in_pixel_stride + grp * op->icpg;
    for (size_t r = 0; r < rows; r++) {
      copy_row(ws + r * op->kp, src + r * op->g.in_pixel_stride, op->k, 0x8080808080808080ull);
      for (size_t i = op->k; i < op->kp; i++) ws[r * op->kp + i] = 0;
    }
    a = ws;
    a_stride = op->kp;
    kc = op->kp;
  } else {
    im2col(op, in, grp, m0, rows, ws);
    a = ws;
    a_stride = op->kp;
    kc = op->kp;
  }
  const size_t c_stride = op->g.out_pixel_stride;
  /* Low-bit panels run either their own kernels, which unpack in registers for
   * every row block, or, for tiles with enough rows, the int8 kernels over a copy
   * unpacked once per panel into the workspace (it stays in L1/L2 while the row
   * blocks pass over it). Both give the same bytes. */
  dyd_gemm_ukernel_fn kernel = op->ukernel, kernel_1row = op->ukernel_1row;
  uint8_t *copy = NULL;
  if (op->lowbit_bits && rows > op->unpack_min_rows) {
    const size_t ws_a = op->path == PATH_IGEMM || op->flip ? op->mc * op->kp : 0;
    copy = (uint8_t *)(((uintptr_t)ws + DYD_ROUND_UP(ws_a, 64) + 63) & ~(uintptr_t)63);
  } else if (op->lowbit_bits) {
    kernel = op->lb_ukernel;
    kernel_1row = op->lb_ukernel_1row;
  }
  /* With the copy, the packed weights of the next panel (this tile's, or the
   * next tile's) are prefetched into L2 a slice per row block: the unpack loop
   * itself has too little work per cache line to hide a miss to DRAM, where the
   * int8 kernels overlap theirs with the products (K = 1152, weights evicted:
   * int4/int8 0.97 -> 1.2). */
  const size_t lb_bytes = op->lb_bytes8 * op->lowbit_bits / 8;
  const size_t row_blocks = DYD_DIV_UP(rows, (size_t)b->mr);
  const size_t pf_step = DYD_DIV_UP(DYD_DIV_UP(lb_bytes, 64), row_blocks) * 64;
  const size_t all_panels = op->g.groups * op->panels;
  for (size_t p = p0; p < p1; p++) {
    const uint8_t *w = (const uint8_t *)op->packed + (grp * op->panels + p) * op->panel_bytes;
    const uint8_t *pf = NULL, *pf_end = NULL;
    if (copy != NULL) {
      if (grp * op->panels + p + 1 < all_panels) {
        pf = w + op->panel_bytes + op->header_bytes;
        pf_end = pf + lb_bytes;
      }
      const size_t gp = grp * op->panels + p;
      const int k = op->copy_k != NULL ? op->copy_k[gp] : 0;
      memcpy(copy, k ? op->copy_headers + gp * op->header_bytes : w, op->header_bytes);
      if (k) {
        op->lb_unpack_scaled(w + op->header_bytes, op->lb_bytes8, (int8_t *)(copy + op->header_bytes),
                             (unsigned)k);
      } else {
        op->lb_unpack(w + op->header_bytes, op->lb_bytes8, (int8_t *)(copy + op->header_bytes));
      }
      w = copy;
    }
    const size_t n0 = p * b->nr, nc = DYD_MIN((size_t)b->nr, op->ocpg - n0);
    uint8_t *c = out + m0 * c_stride + grp * op->ocpg + n0;
    for (size_t r = 0; r < rows; r += b->mr) {
      const size_t mr = DYD_MIN((size_t)b->mr, rows - r);
      (mr == 1 ? kernel_1row : kernel)(mr, nc, kc, a + r * a_stride, a_stride, w,
                                       c + r * c_stride, c_stride, &op->out);
      for (size_t i = 0; i < pf_step && pf < pf_end; i += 64, pf += 64)
        __builtin_prefetch(pf, 0, 2);
    }
  }
}

/* Tap pointers of output columns [ox0, ox1) of one row at ind[(ox - ox0) * taps + t]
 * (taps outside the input point at the zero-point row). Each tap's pointers are
 * written as three runs (left padding, inside, right padding), so the inner loop
 * is a pointer increment. */
static void dw_pointers(const dyd_conv_op *op, const uint8_t *in, size_t n, size_t oy,
                        size_t ox0, size_t ox1, const uint8_t **ind) {
  const dyd_conv_geometry *g = &op->g;
  const size_t taps = op->taps, ps = g->in_pixel_stride, step = g->stride_w * ps;
  for (size_t ky = 0; ky < g->kernel_h; ky++) {
    const int64_t iy = (int64_t)(oy * g->stride_h + ky * g->dilation_h) - g->pad_top;
    const bool row_inside = iy >= 0 && iy < (int64_t)g->in_h;
    const uint8_t *base = row_inside ? in + (n * g->in_h + (size_t)iy) * g->in_w * ps : NULL;
    for (size_t kx = 0; kx < g->kernel_w; kx++) {
      const size_t t = ky * g->kernel_w + kx;
      const size_t lo = row_inside ? DYD_MAX(DYD_MIN(op->kx_lo[kx], ox1), ox0) : ox1;
      const size_t hi = row_inside ? DYD_MAX(DYD_MIN(op->kx_hi[kx], ox1), lo) : ox1;
      const uint8_t **dst = ind + t;
      size_t ox = ox0;
      for (; ox < lo; ox++, dst += taps) *dst = op->zero_row;
      if (ox < hi) {
        const uint8_t *p = base + (size_t)((int64_t)(ox * g->stride_w) + op->kx_off[kx]) * ps;
        for (; ox < hi; ox++, p += step, dst += taps) *dst = p;
      }
      for (; ox < ox1; ox++, dst += taps) *dst = op->zero_row;
    }
  }
}

/* The interior columns of one split row, where every tap is inside the row
 * horizontally: one call over `taps` pointers that the kernel advances by stride_w
 * pixels per column (a tap in a padding row points at the zero-point buffer, which
 * is long enough for the whole run). The edge columns go through run_dw_edge. */
static void run_dw_interior(const dyd_conv_op *op, const uint8_t *in, uint8_t *out, size_t tile,
                            const uint8_t **ind) {
  const dyd_conv_geometry *g = &op->g;
  const size_t n = tile / g->out_h, oy = tile % g->out_h, taps = op->taps;
  const size_t ps = g->in_pixel_stride, ops = g->out_pixel_stride;
  const size_t lo = op->dw_lo, hi = op->dw_hi;
  for (size_t ky = 0; ky < g->kernel_h; ky++) {
    const int64_t iy = (int64_t)(oy * g->stride_h + ky * g->dilation_h) - g->pad_top;
    const bool row_inside = iy >= 0 && iy < (int64_t)g->in_h;
    const uint8_t *base = row_inside ? in + (n * g->in_h + (size_t)iy) * g->in_w * ps : NULL;
    for (size_t kx = 0; kx < g->kernel_w; kx++)
      ind[ky * g->kernel_w + kx] =
          row_inside ? base + (size_t)((int64_t)(lo * g->stride_w) + op->kx_off[kx]) * ps
                     : op->zero_row;
  }
  op->dw_ukernel(hi - lo, g->out_c, taps, ind, 0, g->stride_w * ps, op->packed,
                 out + (tile * g->out_w + lo) * ops, ops, &op->out);
}

/* Edge column ox of rows [tile, tile + rows): one call, pixels a row apart. Per
 * call a kernel has fixed work per channel block (constants into lane order,
 * low-bit weights unpacked), so the edges of many rows share one call rather
 * than costing two calls per row. */
static void run_dw_edge(const dyd_conv_op *op, const uint8_t *in, uint8_t *out, size_t tile,
                        size_t rows, size_t ox, const uint8_t **ind) {
  const dyd_conv_geometry *g = &op->g;
  const size_t taps = op->taps, ops = g->out_pixel_stride;
  for (size_t r = 0; r < rows; r++)
    dw_pointers(op, in, (tile + r) / g->out_h, (tile + r) % g->out_h, ox, ox + 1, ind + r * taps);
  op->dw_ukernel(rows, g->out_c, taps, ind, taps, 0, op->packed, out + (tile * g->out_w + ox) * ops,
                 g->out_w * ops, &op->out);
}

/* Unsplit rows [tile, tile + rows) in one kernel call: output rows follow each other
 * with the same pixel stride, and every pixel has its own tap pointers. */
static void run_dw_rows(const dyd_conv_op *op, const uint8_t *in, uint8_t *out, size_t tile,
                        size_t rows, const uint8_t **ind) {
  const dyd_conv_geometry *g = &op->g;
  const size_t w = g->out_w, taps = op->taps, ops = g->out_pixel_stride;
  for (size_t r = 0; r < rows; r++)
    dw_pointers(op, in, (tile + r) / g->out_h, (tile + r) % g->out_h, 0, w, ind + r * w * taps);
  op->dw_ukernel(rows * w, g->out_c, taps, ind, taps, 0, op->packed, out + tile * w * ops, ops,
                 &op->out);
}

void dyd_conv_run(const dyd_conv_op *op, const void *input, void *output, size_t tile_start,
                  size_t tile_count, void *workspace) {
  if (op->path == PATH_DWCONV && !op->dw_split) {
    for (size_t t = tile_start; t < tile_start + tile_count; t += op->dw_rows)
      run_dw_rows(op, input, output, t, DYD_MIN(op->dw_rows, tile_start + tile_count - t),
                  workspace);
    return;
  }
  if (op->path == PATH_DWCONV) { /* split rows: interiors, then each edge column */
    const size_t end = tile_start + tile_count, w = op->g.out_w;
    for (size_t t = tile_start; t < end; t++) run_dw_interior(op, input, output, t, workspace);
    for (size_t ox = 0; ox < w; ox++) {
      if (ox == op->dw_lo) ox = op->dw_hi; /* skip the interior */
      for (size_t t = tile_start; ox < w && t < end; t += w) /* workspace: out_w pixels' pointers */
        run_dw_edge(op, input, output, t, DYD_MIN(w, end - t), ox, workspace);
    }
    return;
  }
  for (size_t t = tile_start; t < tile_start + tile_count; t++) run_gemm_tile(op, input, output, t, workspace);
}
