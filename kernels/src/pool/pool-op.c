/*
 * Average and max pooling operators. A tile is one output row. For each output
 * pixel the valid input pixels of its window are gathered as row pointers (in
 * chunks, so that a global pool over a large image needs no large buffer) and
 * handed to the bundle's sum or max kernel; average pooling then removes the
 * zero point and requantizes with the requantization of that pixel's divisor.
 */
#include "../common.h"

#include <stdlib.h>

#define TAP_CHUNK 64
/* max pooling over at most this many channels: max_interior */
#define FEW_CHANNELS 64
#define CHANNEL_CHUNK 512

struct dyd_avgpool_op {
  dyd_conv_geometry g;
  int input_signed, output_signed, count_include_pad;
  int32_t zx;
  dyd_requant_kind kind;
  int32_t *mult, *shift;   /* by divisor - 1; mult holds the scale's bits for fp32 */
  dyd_out_params *out;     /* by divisor - 1 */
  const dyd_misc_bundle *bundle;
  char name[96];
};

struct dyd_maxpool_op {
  dyd_conv_geometry g;
  int is_signed;
  size_t lo, hi; /* interior columns for max_interior; lo == hi: none */
  const dyd_misc_bundle *bundle;
  char name[96];
};

/* Every window along one axis must overlap the input (dilation may skip it). */
static bool windows_overlap(uint32_t in, uint32_t out, uint32_t k, uint32_t s, uint32_t d,
                            uint32_t pad) {
  for (uint32_t o = 0; o < out; o++) {
    bool any = false;
    for (uint32_t t = 0; t < k && !any; t++) {
      const int64_t i = (int64_t)o * s + (int64_t)t * d - pad;
      any = i >= 0 && i < in;
    }
    if (!any) return false;
  }
  return true;
}

static bool check_pool_geometry(const dyd_conv_geometry *g, uint32_t dh, uint32_t dw, char *err,
                                size_t err_len) {
  if (!dyd_check_geometry(g, true, err, err_len)) return false;
  if (!windows_overlap(g->in_h, g->out_h, g->kernel_h, g->stride_h, dh, g->pad_top) ||
      !windows_overlap(g->in_w, g->out_w, g->kernel_w, g->stride_w, dw, g->pad_left)) {
    dyd_set_error(err, err_len, "a pooling window lies entirely in the padding");
    return false;
  }
  return true;
}

/* Number of valid taps of each output position along one axis. */
static void axis_counts(uint32_t in, uint32_t out, uint32_t k, uint32_t s, uint32_t pad,
                        uint32_t *counts) {
  for (uint32_t o = 0; o < out; o++) {
    counts[o] = 0;
    for (uint32_t t = 0; t < k; t++) {
      const int64_t i = (int64_t)o * s + t - pad;
      counts[o] += i >= 0 && i < in;
    }
  }
}

void dyd_avgpool_destroy(dyd_avgpool_op *op) {
  if (op == NULL) return;
  free(op->mult);
  free(op->shift);
  free(op->out);
  free(op);
}

dyd_avgpool_op *dyd_avgpool_create_for_isa(const dyd_avgpool_desc *d, dyd_isa isa, char *err,
                                           size_t err_len) {
  if (d == NULL || d->requant_by_count == NULL) {
    dyd_set_error(err, err_len, "no descriptor or requantization table");
    return NULL;
  }
  const dyd_conv_geometry *g = &d->geometry;
  if (!check_pool_geometry(g, 1, 1, err, err_len)) return NULL;
  const int32_t zx = d->input_zero_point;
  if (d->input_signed ? (zx < -128 || zx > 127) : (zx < 0 || zx > 255)) {
    dyd_set_error(err, err_len, "input zero point %d outside the input type", zx);
    return NULL;
  }
  const size_t window = (size_t)g->kernel_h * g->kernel_w;
  if (window > (size_t)INT32_MAX / 255) {
    dyd_set_error(err, err_len, "pooling window too large");
    return NULL;
  }
  dyd_avgpool_op *op = calloc(1, sizeof *op);
  uint32_t *ch = calloc(g->out_h, sizeof *ch), *cw = calloc(g->out_w, sizeof *cw);
  bool *used = calloc(window + 1, sizeof *used);
  if (op == NULL || ch == NULL || cw == NULL || used == NULL) {
    dyd_set_error(err, err_len, "out of memory");
    goto fail;
  }
  op->g = *g;
  op->input_signed = d->input_signed != 0;
  op->output_signed = d->output_signed != 0;
  op->count_include_pad = d->count_include_pad != 0;
  op->zx = zx;
  op->bundle = dyd_misc_bundle_for(isa);
  op->mult = calloc(window, sizeof *op->mult);
  op->shift = calloc(window, sizeof *op->shift);
  op->out = calloc(window, sizeof *op->out);
  if (op->mult == NULL || op->shift == NULL || op->out == NULL) {
    dyd_set_error(err, err_len, "out of memory");
    goto fail;
  }
  /* Only the divisors that occur are read (and so validated). */
  if (op->count_include_pad) {
    used[window] = true;
  } else {
    axis_counts(g->in_h, g->out_h, g->kernel_h, g->stride_h, g->pad_top, ch);
    axis_counts(g->in_w, g->out_w, g->kernel_w, g->stride_w, g->pad_left, cw);
    for (uint32_t y = 0; y < g->out_h; y++)
      for (uint32_t x = 0; x < g->out_w; x++) used[(size_t)ch[y] * cw[x]] = true;
  }
  op->kind = d->requant_by_count[window - 1].kind;
  for (size_t cnt = 1; cnt <= window; cnt++) {
    if (!used[cnt]) continue;
    const dyd_requant *rq = &d->requant_by_count[cnt - 1];
    const int32_t tmin = op->output_signed ? -128 : 0, tmax = op->output_signed ? 127 : 255;
    if (rq->per_channel || rq->kind != op->kind || rq->qmin > rq->qmax || rq->qmin < tmin ||
        rq->qmax > tmax) {
      dyd_set_error(err, err_len,
                    "divisor %zu: requantization must be per-tensor, of one kind, with bounds "
                    "inside the output type",
                    cnt);
      goto fail;
    }
    if (rq->kind == DYD_REQUANT_DYADIC) {
      if (rq->multiplier == NULL || rq->shift == NULL || rq->multiplier[0] < 0 ||
          rq->shift[0] < 1 || rq->shift[0] > DYD_MAX_SHIFT) {
        dyd_set_error(err, err_len, "divisor %zu: multiplier/shift missing or out of range", cnt);
        goto fail;
      }
      dyd_normalize_dyadic(rq->multiplier[0], rq->shift[0], &op->mult[cnt - 1],
                           &op->shift[cnt - 1]);
    } else {
      if (rq->scale == NULL || !(rq->scale[0] == rq->scale[0]) || rq->scale[0] > 3.0e38f ||
          rq->scale[0] < -3.0e38f) {
        dyd_set_error(err, err_len, "divisor %zu: scale missing or not finite", cnt);
        goto fail;
      }
      memcpy(&op->mult[cnt - 1], &rq->scale[0], sizeof(float));
      op->shift[cnt - 1] = 1;
    }
    dyd_out_params_init(&op->out[cnt - 1], rq->kind, rq->zero_point, rq->qmin, rq->qmax);
  }
  const bool global = g->kernel_h == g->in_h && g->kernel_w == g->in_w && g->out_h == 1 &&
                      g->out_w == 1 && g->pad_top == 0 && g->pad_left == 0;
  snprintf(op->name, sizeof op->name, "dyd_%s_%savgpool_%s_ukernel__%s",
           op->input_signed ? "qs8" : "qu8", global ? "g" : "",
           op->kind == DYD_REQUANT_DYADIC ? "dyadic" : "fp32", op->bundle->isa_suffix);
  free(ch);
  free(cw);
  free(used);
  return op;
fail:
  free(ch);
  free(cw);
  free(used);
  dyd_avgpool_destroy(op);
  return NULL;
}

dyd_avgpool_op *dyd_avgpool_create(const dyd_avgpool_desc *desc, char *err, size_t err_len) {
  return dyd_avgpool_create_for_isa(desc, dyd_active_isa(), err, err_len);
}

size_t dyd_avgpool_tile_count(const dyd_avgpool_op *op) {
  return (size_t)op->g.batch * op->g.out_h;
}

const char *dyd_avgpool_kernel_name(const dyd_avgpool_op *op) { return op->name; }

/* Valid window taps of output pixel (n, oy, ox), as pointers to input pixels,
 * starting at tap index `first`; returns how many were stored (<= TAP_CHUNK) and
 * advances *first past the taps examined. */
static size_t gather(const dyd_conv_geometry *g, const uint8_t *in, size_t n, size_t oy,
                     size_t ox, size_t dh, size_t dw, size_t *first, const uint8_t **rows) {
  const size_t window = (size_t)g->kernel_h * g->kernel_w;
  size_t count = 0, t = *first;
  for (; t < window && count < TAP_CHUNK; t++) {
    const size_t ky = t / g->kernel_w, kx = t % g->kernel_w;
    const int64_t iy = (int64_t)(oy * g->stride_h + ky * dh) - g->pad_top;
    const int64_t ix = (int64_t)(ox * g->stride_w + kx * dw) - g->pad_left;
    if (iy < 0 || iy >= (int64_t)g->in_h || ix < 0 || ix >= (int64_t)g->in_w) continue;
    rows[count++] = in + ((n * g->in_h + (size_t)iy) * g->in_w + (size_t)ix) * g->in_pixel_stride;
  }
  *first = t;
  return count;
}

void dyd_avgpool_run(const dyd_avgpool_op *op, const void *input, void *output,
                     size_t tile_start, size_t tile_count) {
  const dyd_conv_geometry *g = &op->g;
  const size_t window = (size_t)g->kernel_h * g->kernel_w;
  const dyd_sum_fn sum = op->bundle->sum[op->input_signed];
  const uint8_t *rows[TAP_CHUNK];
  int32_t acc[CHANNEL_CHUNK];
  for (size_t tile = tile_start; tile < tile_start + tile_count; tile++) {
    const size_t n = tile / g->out_h, oy = tile % g->out_h;
    for (size_t ox = 0; ox < g->out_w; ox++) {
      uint8_t *y = (uint8_t *)output + (tile * g->out_w + ox) * g->out_pixel_stride;
      for (size_t c0 = 0; c0 < g->in_c; c0 += CHANNEL_CHUNK) {
        const size_t cn = DYD_MIN((size_t)CHANNEL_CHUNK, g->in_c - c0);
        memset(acc, 0, cn * sizeof *acc);
        size_t valid = 0, next = 0;
        while (next < window) {
          const size_t got = gather(g, (const uint8_t *)input + c0, n, oy, ox, 1, 1, &next, rows);
          if (got) sum(got, rows, cn, acc);
          valid += got;
        }
        const size_t count = op->count_include_pad ? window : valid;
        const dyd_out_params *p = &op->out[count - 1];
        const int32_t m = op->mult[count - 1], s = op->shift[count - 1];
        /* valid * z_x < 2^31 (window is bounded at create) */
        const int32_t bias = -(int32_t)valid * op->zx;
        for (size_t c = 0; c < cn; c++) y[c0 + c] = (uint8_t)dyd_out_scalar(acc[c] + bias, m, s, p);
      }
    }
  }
}

/* ---- max pooling ---------------------------------------------------------------------- */

dyd_maxpool_op *dyd_maxpool_create_for_isa(const dyd_maxpool_desc *d, dyd_isa isa, char *err,
                                           size_t err_len) {
  if (d == NULL) {
    dyd_set_error(err, err_len, "no descriptor");
    return NULL;
  }
  const dyd_conv_geometry *g = &d->geometry;
  const uint32_t dh = g->dilation_h ? g->dilation_h : 1, dw = g->dilation_w ? g->dilation_w : 1;
  if (!check_pool_geometry(g, dh, dw, err, err_len)) return NULL;
  dyd_maxpool_op *op = calloc(1, sizeof *op);
  if (op == NULL) {
    dyd_set_error(err, err_len, "out of memory");
    return NULL;
  }
  op->g = *g;
  op->g.dilation_h = dh;
  op->g.dilation_w = dw;
  op->is_signed = d->is_signed != 0;
  /* columns [lo, hi): ox * stride_w - pad_left >= 0 and its last tap < in_w */
  if (g->in_c >= 16 && g->in_c <= FEW_CHANNELS && g->kernel_h <= TAP_CHUNK) {
    const size_t sw = g->stride_w, span = (size_t)(g->kernel_w - 1) * dw;
    op->lo = DYD_MIN(DYD_DIV_UP((size_t)g->pad_left, sw), (size_t)g->out_w);
    const size_t room = (size_t)g->in_w + g->pad_left; /* ox * sw + span < room */
    op->hi = room <= span ? 0 : DYD_MIN((room - span - 1) / sw + 1, (size_t)g->out_w);
    op->hi = DYD_MAX(op->hi, op->lo);
  }
  op->bundle = dyd_misc_bundle_for(isa);
  snprintf(op->name, sizeof op->name, "dyd_%s_maxpool_ukernel__%s", op->is_signed ? "s8" : "u8",
           op->bundle->isa_suffix);
  return op;
}

dyd_maxpool_op *dyd_maxpool_create(const dyd_maxpool_desc *desc, char *err, size_t err_len) {
  return dyd_maxpool_create_for_isa(desc, dyd_active_isa(), err, err_len);
}

void dyd_maxpool_destroy(dyd_maxpool_op *op) { free(op); }

size_t dyd_maxpool_tile_count(const dyd_maxpool_op *op) {
  return (size_t)op->g.batch * op->g.out_h;
}

const char *dyd_maxpool_kernel_name(const dyd_maxpool_op *op) { return op->name; }

/*
 * Few channels (U-Net encoders pool 16-64 channels per pixel): a kernel call and a
 * gather per output pixel cost several times the maxima themselves, so the columns
 * whose window lies inside the row are computed here, 16 channels at a time in
 * generic vectors (SSE2 or NEON) with the taps addressed directly. Signed inputs
 * are compared with their top bit flipped (an order-preserving map to uint8).
 */
typedef uint8_t u8x16 __attribute__((vector_size(16)));

static inline u8x16 load16(const uint8_t *p, u8x16 flip) {
  u8x16 v;
  memcpy(&v, p, 16);
  return v ^ flip;
}

static inline u8x16 max16(u8x16 a, u8x16 b) {
  const u8x16 a_wins = (u8x16)(a > b);
  return (a & a_wins) | (b & ~a_wins);
}

/* Output columns [lo, hi) of row (n, oy), every kx tap inside the row; channels >= 16. */
static void max_interior(const dyd_conv_geometry *g, const uint8_t *in, size_t n, size_t oy,
                         size_t lo, size_t hi, int is_signed, uint8_t *out_row) {
  const size_t c = g->in_c, ps = g->in_pixel_stride, kw = g->kernel_w;
  const size_t tap_step = (size_t)g->dilation_w * ps, ox_step = (size_t)g->stride_w * ps;
  const u8x16 flip = (u8x16){0} + (uint8_t)(is_signed ? 0x80 : 0);
  const uint8_t *rows[TAP_CHUNK];
  size_t valid = 0;
  for (size_t ky = 0; ky < g->kernel_h && valid < TAP_CHUNK; ky++) {
    const int64_t iy = (int64_t)(oy * g->stride_h + ky * g->dilation_h) - g->pad_top;
    if (iy < 0 || iy >= (int64_t)g->in_h) continue;
    rows[valid++] = in + ((n * g->in_h + (size_t)iy) * g->in_w + lo * g->stride_w - g->pad_left) * ps;
  }
  for (size_t ox = lo; ox < hi; ox++) {
    uint8_t *y = out_row + ox * g->out_pixel_stride;
    const size_t off = (ox - lo) * ox_step;
    for (size_t c0 = 0; c0 < c; c0 += 16) {
      const size_t ch = c0 + 16 <= c ? c0 : c - 16; /* the last block overlaps the one before */
      u8x16 m = load16(rows[0] + off + ch, flip);
      for (size_t r = 0; r < valid; r++)
        for (size_t kx = 0; kx < kw; kx++) m = max16(m, load16(rows[r] + off + kx * tap_step + ch, flip));
      m ^= flip;
      memcpy(y + ch, &m, 16);
    }
  }
}

void dyd_maxpool_run(const dyd_maxpool_op *op, const void *input, void *output,
                     size_t tile_start, size_t tile_count) {
  const dyd_conv_geometry *g = &op->g;
  const size_t window = (size_t)g->kernel_h * g->kernel_w;
  const dyd_maxpool_fn max = op->bundle->maxpool[op->is_signed];
  const uint8_t *rows[TAP_CHUNK];
  const size_t lo = op->lo, hi = op->hi;
  for (size_t tile = tile_start; tile < tile_start + tile_count; tile++) {
    const size_t n = tile / g->out_h, oy = tile % g->out_h;
    uint8_t *out_row = (uint8_t *)output + tile * g->out_w * g->out_pixel_stride;
    if (lo < hi) max_interior(g, input, n, oy, lo, hi, op->is_signed, out_row);
    for (size_t ox = 0; ox < g->out_w; ox++) {
      if (ox == lo && lo < hi) ox = hi;
      if (ox >= g->out_w) break;
      uint8_t *y = (uint8_t *)output + (tile * g->out_w + ox) * g->out_pixel_stride;
      size_t next = 0;
      bool first = true;
      while (next < window) {
        size_t got = gather(g, input, n, oy, ox, g->dilation_h, g->dilation_w, &next, rows);
        if (got == 0) continue;
        if (first) { /* start from the first valid tap: padding never wins */
          memcpy(y, rows[0], g->in_c);
          first = false;
        }
        max(got, rows, g->in_c, y);
      }
    }
  }
}
