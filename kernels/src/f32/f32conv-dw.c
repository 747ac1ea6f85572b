/*
 * The float32 conv's depthwise path (one input channel per output channel). A tile
 * (one channel of one image) copies its plane, zero padded to a row pitch P, into
 * the workspace, rows split by phase of the vertical stride (row j of phase r is
 * padded row j * stride_h + r). Output (oy, ox) is then "virtual" output
 * v = oy * P + ox * stride_w, and every tap is one fixed offset from v: the whole
 * plane is one long row for a vectorised kernel (no edge cases, no per-row calls;
 * small planes such as 7x7 keep their vectors full). Virtual outputs past a row's
 * end (and, at stride_w > 1, between used columns) are computed and dropped when the
 * plane is compacted into the output: a depthwise layer does so few FLOPs per byte
 * that copies, not FMAs, are what it costs. The activation runs on the compacted
 * plane, which is still in L1.
 *
 * Wide planes (DW_ROWS_MIN_WIDTH outputs a row and more; at 28 it measured slower)
 * go row by row instead: a plane of 56x56 or 112x112 floats and its padded copy no
 * longer fit L1, and the passes above (copy, kernel, compaction, activation) each
 * streamed it through L2 (measured on a 112x112 3x3: 404 us, 274 row by row). There,
 * each input row is copied once, zero padded, into a ring of (kh - 1) * dh + sh rows,
 * the kernel reads its taps from the ring and writes the output row in place (at
 * stride_w > 1 it writes the stride-1 row into a line buffer, compacted at once), and
 * the row gets its activation while in L1. The kernel sees the same taps in the same
 * order either way, so both give the same bits.
 */
#include "f32conv.h"

#include <stdlib.h>

/* Output rows at least this wide take the row-by-row path. */
#define DW_ROWS_MIN_WIDTH 48

/* Row path at stride_w > 1: one column phase of a padded input row (column q + j sw
 * at index j) holds every tap's inputs for the outputs ox = j - (kx dw) / sw, so the
 * kernel computes only the outputs kept; plus the kernel's overread. */
static size_t dw_phase_floats(const dyd_conv_geometry *g) {
  return g->out_w + (g->kernel_w - 1) * (size_t)g->dilation_w / g->stride_w + DYD_F32_DW_PAD;
}

bool dyd_f32conv_plan_dw(dyd_f32conv_op *op, const dyd_f32conv_desc *d) {
  const dyd_conv_geometry *g = &op->g;
  const size_t sh = g->stride_h, sw = g->stride_w;
  op->pitch = (g->out_w - 1) * sw + (g->kernel_w - 1) * (size_t)g->dilation_w + 1;
  op->plane_rows = g->out_h + (g->kernel_h - 1) * (size_t)g->dilation_h / sh;
  op->plane_floats = op->plane_rows * op->pitch + DYD_F32_DW_PAD; /* the kernel's overread */
  op->virt = (g->out_h - 1) * op->pitch + (g->out_w - 1) * sw + 1;
  op->packed = malloc(sizeof(float) * g->out_c * op->taps);
  op->bias = calloc(g->out_c, sizeof(float));
  op->dw_off = malloc(sizeof(size_t) * op->taps);
  if (!op->packed || !op->bias || !op->dw_off) return false;
  for (size_t ky = 0; ky < g->kernel_h; ky++)
    for (size_t kx = 0; kx < g->kernel_w; kx++) {
      const size_t row = ky * g->dilation_h; /* padded row read by output row 0 */
      op->dw_off[ky * g->kernel_w + kx] =
          row % sh * op->plane_floats + row / sh * op->pitch + kx * g->dilation_w;
    }
  op->dw_rows = g->out_w >= DW_ROWS_MIN_WIDTH;
  op->dw_width = (g->out_w - 1) * sw + (g->kernel_w - 1) * (size_t)g->dilation_w + 1 + DYD_F32_DW_PAD;
  op->dw_ring = (g->kernel_h - 1) * (size_t)g->dilation_h + sh;
  if (sw > 1) /* a ring row as sw column phases, each dw_phase floats */
    op->dw_width = DYD_MAX(op->dw_width, sw * dw_phase_floats(g));
  memcpy(op->packed, d->weights, sizeof(float) * g->out_c * op->taps);
  if (d->bias) memcpy(op->bias, d->bias, sizeof(float) * g->out_c);
  const char *tile = op->taps == 9 && g->kernel_h == 3   ? "3x3"
                     : op->taps == 25 && g->kernel_h == 5 ? "5x5"
                                                          : "up";
  snprintf(op->name, sizeof op->name, "dyd_f32_dwconv_ukernel_%s__%s", tile, op->b->isa_suffix);
  return true;
}

/* tap pointers, phase planes, virtual outputs */
size_t dyd_f32conv_dw_workspace_floats(const dyd_f32conv_op *op) {
  if (op->dw_rows) /* tap pointers, ring tags, ring, zero row, line */
    return DYD_DIV_UP(op->taps * sizeof(float *) + op->dw_ring * sizeof(int64_t), sizeof(float)) +
           (op->dw_ring + 2) * op->dw_width;
  return DYD_DIV_UP(op->taps * sizeof(float *), sizeof(float)) + op->g.stride_h * op->plane_floats +
         op->virt;
}

/* Virtual outputs per kernel call: the taps' windows stay in L1. */
#define DW_CHUNK 2048

/* The row-by-row path for wide planes (see the top of the file). */
static void run_dw_rows(const dyd_f32conv_op *op, const float *x, float *y, size_t c, float *ws) {
  const dyd_conv_geometry *g = &op->g;
  const size_t W = op->dw_width, R = op->dw_ring, kw = g->kernel_w, ow = g->out_w, sw = g->stride_w;
  const size_t pl = g->pad_left, in_w = g->in_w;
  const float **rows = (const float **)(void *)ws;
  int64_t *tag = (int64_t *)(void *)(rows + op->taps);
  float *ring = ws + DYD_DIV_UP(op->taps * sizeof(float *) + R * sizeof(int64_t), sizeof(float));
  float *zero = ring + R * W, *line = zero + W;
  for (size_t r = 0; r < R; r++) tag[r] = -1;
  memset(zero, 0, W * sizeof(float));
  const size_t P2 = sw > 1 ? dw_phase_floats(g) : 0;
  if (sw > 1) memset(ring, 0, R * W * sizeof(float)); /* the phases' overread tails */
  /* padded columns [c0, c1) hold input columns 0.. (the rest is never read) */
  const size_t c0 = DYD_MIN(pl, W), c1 = DYD_MIN(W, pl + in_w);
  const float *w = op->packed + c * op->taps;
  for (size_t oy = 0; oy < g->out_h; oy++) {
    for (size_t ky = 0; ky < g->kernel_h; ky++) {
      const int64_t iy = (int64_t)(oy * g->stride_h + ky * g->dilation_h) - g->pad_top;
      const float *base = zero;
      if (iy >= 0 && iy < (int64_t)g->in_h) {
        float *slot = ring + (size_t)iy % R * W;
        if (tag[(size_t)iy % R] != iy) {
          float *padded = sw > 1 ? line : slot; /* at sw > 1, split into phases below */
          for (size_t q = 0; q < c0; q++) padded[q] = 0.0f;
          memcpy(padded + c0, x + (size_t)iy * in_w, (c1 - c0) * sizeof(float));
          for (size_t q = c1; q < W; q++) padded[q] = 0.0f;
          if (sw > 1)
            for (size_t q = 0; q < sw; q++) op->b->gather(P2 - DYD_F32_DW_PAD, line + q, sw, slot + q * P2);
          tag[(size_t)iy % R] = iy;
        }
        base = slot;
      }
      for (size_t kx = 0; kx < kw; kx++) {
        const size_t col = kx * g->dilation_w;
        rows[ky * kw + kx] = sw > 1 ? base + col % sw * P2 + col / sw : base + col;
      }
    }
    float *yr = y + oy * ow;
    op->b->dw(ow, op->taps, rows, w, op->bias[c], yr);
    op->b->act(ow, yr, &op->act);
  }
}

/* Zeroes the phase planes once per run call (the plane path): per tile, zeroing the
 * padding row by row cost more than the arithmetic on 14x14 planes (three library
 * calls per row for a few floats). */
void dyd_f32conv_dw_clear_planes(const dyd_f32conv_op *op, float *ws) {
  if (op->dw_rows) return;
  float *planes = ws + DYD_DIV_UP(op->taps * sizeof(float *), sizeof(float));
  memset(planes, 0, op->g.stride_h * op->plane_floats * sizeof(float));
}

void dyd_f32conv_run_dw(const dyd_f32conv_op *op, const float *in, float *out, size_t tile,
                        float *ws) {
  const dyd_conv_geometry *g = &op->g;
  const size_t c = tile % g->out_c, n = tile / g->out_c;
  const float *x = in + ((size_t)n * g->in_c + c) * op->in_plane;
  float *y = out + ((size_t)n * g->out_c + c) * op->out_plane;
  if (op->dw_rows) {
    run_dw_rows(op, x, y, c, ws);
    return;
  }
  const size_t sh = g->stride_h, sw = g->stride_w, P = op->pitch, pl = g->pad_left;
  const float **rows = (const float **)(void *)ws;
  float *planes = ws + DYD_DIV_UP(op->taps * sizeof(float *), sizeof(float));
  float *virt = planes + sh * op->plane_floats;
  /* padded columns [c0, c1) hold input columns 0.. */
  const size_t c0 = DYD_MIN(pl, P), c1 = DYD_MIN(P, pl + (size_t)g->in_w);
  /* only the input's own rows and columns: the padding is zero since
   * dyd_f32conv_dw_clear_planes, and every tile writes the same places */
  for (size_t r = 0; r < sh; r++) {
    float *plane = planes + r * op->plane_floats;
    for (size_t j = 0; j < op->plane_rows; j++, plane += P) {
      const int64_t iy = (int64_t)(j * sh + r) - g->pad_top;
      if (iy >= 0 && iy < (int64_t)g->in_h)
        memcpy(plane + c0, x + (size_t)iy * g->in_w + (c0 - pl), (c1 - c0) * sizeof(float));
    }
  }
  const float *w = op->packed + c * op->taps;
  for (size_t v0 = 0; v0 < op->virt; v0 += DW_CHUNK) {
    for (size_t t = 0; t < op->taps; t++) rows[t] = planes + op->dw_off[t] + v0;
    op->b->dw(DYD_MIN((size_t)DW_CHUNK, op->virt - v0), op->taps, rows, w, op->bias[c], virt + v0);
  }
  for (size_t oy = 0; oy < g->out_h; oy++) {
    const float *src = virt + oy * P;
    float *dst = y + oy * g->out_w;
    if (sw == 1) memcpy(dst, src, g->out_w * sizeof(float));
    else
      for (size_t ox = 0; ox < g->out_w; ox++) dst[ox] = src[ox * sw];
  }
  op->b->act(op->out_plane, y, &op->act);
}
