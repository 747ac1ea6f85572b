/*
 * The float32 conv operator (NCHW) and its two plain GEMM paths. In NCHW an output
 * plane is a row of Y[oc][pixel] = sum_k W[oc][k] * X[k][pixel], a row-major GEMM
 * whose A is the weights (packed once, MR output channels per panel) and whose B has
 * one row per input channel (and tap). Micro-kernels broadcast A and load B as
 * vectors of NR pixels, so outputs are written as contiguous runs of a plane. Paths:
 *   gemm   1x1, stride 1, no padding: B's rows are the input planes themselves; only
 *          a tile's last, partial strip of pixels is copied (the kernel reads NR).
 *   direct any other conv (f32conv-direct.c): input rows copied once per tile into
 *          padded, stride-deinterleaved planes; the kernel reads each tap at a fixed
 *          offset from the strip.
 *   fc     1x1 over single-pixel planes (a classifier): vectors of NR would hold one
 *          pixel, so roles swap: A rows are up to MR images, B is the transposed
 *          weights (packed once as [strip of NR channels][K][NR]), C rows are the
 *          images' outputs.
 *   dwconv one input channel per output channel (f32conv-dw.c).
 * The fused activation runs in the micro-kernels' epilogue (in the depthwise path,
 * on the finished plane).
 * Loop order in a GEMM tile: strips outer, panels inner, so one B strip (K x NR)
 * stays in L1/L2 while every weight panel passes over it.
 */
#include "f32conv.h"

#include <stdint.h>
#include <stdlib.h>

const dyd_f32_bundle *dyd_f32_bundle_for(dyd_isa isa) {
  const dyd_f32_bundle *b = dyd_registry_select(DYD_FAMILY_F32, isa, NULL, NULL);
  return b != NULL ? b : &dyd_f32_bundle_scalar;
}

void dyd_f32_activation_for_isa(dyd_isa isa, dyd_f32_activation activation, float lo, float hi, float alpha,
                                float beta, float *x, size_t n) {
  const dyd_f32_act act = {activation, lo, hi, alpha, beta};
  dyd_f32_bundle_for(isa)->act(n, x, &act);
}

/* ---- create -------------------------------------------------------------------------- */

static bool check_desc(const dyd_f32conv_desc *d, char *err, size_t err_len) {
  dyd_conv_geometry g = d->geometry;
  g.in_pixel_stride = g.in_c; /* unused in NCHW: validate as dense */
  g.out_pixel_stride = g.out_c;
  if (!dyd_check_conv_geometry(&g, err, err_len)) return false;
  if (d->weights == NULL) {
    dyd_set_error(err, err_len, "no weights");
    return false;
  }
  if ((uint64_t)g.kernel_h * g.kernel_w * (g.in_c / g.groups) > (1u << 24)) {
    dyd_set_error(err, err_len, "reduction length above 2^24");
    return false;
  }
  if (d->activation < DYD_F32_ACT_NONE || d->activation > DYD_F32_ACT_HARDSWISH) {
    dyd_set_error(err, err_len, "unknown activation %d", (int)d->activation);
    return false;
  }
  if ((d->activation == DYD_F32_ACT_CLAMP || d->activation == DYD_F32_ACT_LEAKY_CLAMP) &&
      !(d->activation_min <= d->activation_max)) {
    dyd_set_error(err, err_len, "clamp bounds %g > %g or NaN", (double)d->activation_min,
                  (double)d->activation_max);
    return false;
  }
  return true;
}

bool dyd_f32conv_pack_panels(dyd_f32conv_op *op, const dyd_f32conv_desc *d) {
  const dyd_conv_geometry *g = &op->g;
  const size_t mr = op->b->mr;
  op->panels = DYD_DIV_UP(op->ocpg, mr);
  op->panel_floats = mr + op->k * mr;
  op->packed = aligned_alloc(64, DYD_ROUND_UP(sizeof(float) * g->groups * op->panels * op->panel_floats, 64));
  if (op->packed == NULL) return false;
  for (size_t grp = 0; grp < g->groups; grp++)
    for (size_t p = 0; p < op->panels; p++) {
      float *panel = op->packed + (grp * op->panels + p) * op->panel_floats;
      for (size_t i = 0; i < mr; i++) {
        const size_t oc = p * mr + i;
        const bool real = oc < op->ocpg;
        const size_t goc = grp * op->ocpg + oc;
        panel[i] = real && d->bias ? d->bias[goc] : 0.0f;
        for (size_t k = 0; k < op->k; k++)
          panel[mr + k * mr + i] = real ? d->weights[goc * op->k + k] : 0.0f;
      }
    }
  return true;
}

static bool plan_fc(dyd_f32conv_op *op, const dyd_f32conv_desc *d) {
  const dyd_conv_geometry *g = &op->g;
  const dyd_f32_bundle *b = op->b;
  op->ocpg_pad = DYD_ROUND_UP(op->ocpg, b->nr);
  const size_t strips = op->ocpg_pad / b->nr;
  op->m_blocks = DYD_DIV_UP((size_t)g->batch, b->mr);
  const size_t want = DYD_DIV_UP(8, op->m_blocks * g->groups); /* tiles for threads */
  op->panels_per_tile = DYD_MAX(DYD_DIV_UP(strips, want), 1);  /* strips per tile */
  op->n_blocks = DYD_DIV_UP(strips, op->panels_per_tile);
  op->packed = aligned_alloc(64, DYD_ROUND_UP(sizeof(float) * g->groups * op->k * op->ocpg_pad, 64));
  op->bias = calloc(g->out_c, sizeof(float));
  if (op->packed == NULL || op->bias == NULL) return false;
  /* [group][strip][K][NR]: each strip one sequential stream (the weights of a
   * classifier come from DRAM; a row stride of out_c floats defeats prefetching) */
  for (size_t grp = 0; grp < g->groups; grp++)
    for (size_t j = 0; j < op->ocpg_pad; j++)
      for (size_t k = 0; k < op->k; k++)
        op->packed[((grp * strips + j / b->nr) * op->k + k) * b->nr + j % b->nr] =
            j < op->ocpg ? d->weights[(grp * op->ocpg + j) * op->k + k] : 0.0f;
  if (d->bias) memcpy(op->bias, d->bias, sizeof(float) * g->out_c);
  snprintf(op->name, sizeof op->name, "dyd_f32_gemm_ukernel_%ux%u__%s", b->mr, b->nr, b->isa_suffix);
  return true;
}

static bool plan_gemm(dyd_f32conv_op *op, const dyd_f32conv_desc *d) {
  const dyd_conv_geometry *g = &op->g;
  const dyd_f32_bundle *b = op->b;
  if (!dyd_f32conv_pack_panels(op, d)) return false;
  /* About 128 KiB of B per tile (L2-resident while all panels pass over it), at
   * least one strip, at most 1024 pixels so that planes still split into tiles. */
  size_t nc = 32768 / op->k;
  nc = DYD_MAX(nc / b->nr, 1) * b->nr;
  nc = DYD_MIN(nc, DYD_MAX((size_t)1024 / b->nr, 1) * b->nr);
  nc = DYD_MIN(nc, DYD_ROUND_UP(op->out_plane, b->nr));
  op->nc = nc;
  op->m_blocks = DYD_DIV_UP(op->out_plane, nc);
  /* Few pixel tiles (late layers): split the output channels too, so that threads
   * still get work. */
  op->panels_per_tile = op->panels;
  const size_t pixel_tiles = (size_t)g->batch * g->groups * op->m_blocks;
  if (pixel_tiles < 8 && op->panels > 1) {
    const size_t want = DYD_DIV_UP(8, pixel_tiles);
    op->panels_per_tile = DYD_MAX(DYD_DIV_UP(op->panels, want), 1);
  }
  op->n_blocks = DYD_DIV_UP(op->panels, op->panels_per_tile);
  snprintf(op->name, sizeof op->name, "dyd_f32_gemm_ukernel_%ux%u__%s", b->mr, b->nr, b->isa_suffix);
  return true;
}

dyd_f32conv_op *dyd_f32conv_create_for_isa(const dyd_f32conv_desc *d, dyd_isa isa, char *err,
                                           size_t err_len) {
  if (d == NULL) {
    dyd_set_error(err, err_len, "no descriptor");
    return NULL;
  }
  if (!check_desc(d, err, err_len)) return NULL;
  dyd_f32conv_op *op = calloc(1, sizeof *op);
  if (op == NULL) goto oom;
  const dyd_conv_geometry *g = &d->geometry;
  op->g = *g;
  op->b = dyd_f32_bundle_for(isa);
  op->act = (dyd_f32_act){d->activation, d->activation_min, d->activation_max, d->activation_alpha, d->activation_beta};
  op->icpg = g->in_c / g->groups;
  op->ocpg = g->out_c / g->groups;
  op->taps = (size_t)g->kernel_h * g->kernel_w;
  op->k = op->taps * op->icpg;
  op->in_plane = (size_t)g->in_h * g->in_w;
  op->out_plane = (size_t)g->out_h * g->out_w;

  const bool direct = g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
                      g->pad_top == 0 && g->pad_left == 0 && g->out_h == g->in_h && g->out_w == g->in_w;
  bool ok;
  if (op->icpg == 1 && op->ocpg == 1) op->path = DYD_F32_PATH_DWCONV, ok = dyd_f32conv_plan_dw(op, d);
  else if (direct && op->out_plane == 1) op->path = DYD_F32_PATH_FC, ok = plan_fc(op, d);
  else if (direct) op->path = DYD_F32_PATH_GEMM, ok = plan_gemm(op, d);
  else op->path = DYD_F32_PATH_DIRECT, ok = dyd_f32conv_plan_direct(op, d);
  if (ok) return op;
oom:
  dyd_f32conv_destroy(op);
  dyd_set_error(err, err_len, "out of memory");
  return NULL;
}

dyd_f32conv_op *dyd_f32conv_create(const dyd_f32conv_desc *desc, char *err, size_t err_len) {
  return dyd_f32conv_create_for_isa(desc, dyd_active_isa(), err, err_len);
}

void dyd_f32conv_destroy(dyd_f32conv_op *op) {
  if (op == NULL) return;
  free(op->packed);
  free(op->bias);
  free(op->dw_off);
  free(op->b_off);
  free(op->q_lo);
  free(op->q_hi);
  free(op->phase_used);
  free(op);
}

size_t dyd_f32conv_tile_count(const dyd_f32conv_op *op) {
  if (op->path == DYD_F32_PATH_DWCONV) return (size_t)op->g.batch * op->g.out_c;
  if (op->path == DYD_F32_PATH_FC) return op->m_blocks * op->g.groups * op->n_blocks;
  return (size_t)op->g.batch * op->g.groups * op->m_blocks * op->n_blocks;
}

/* Floats of workspace, before the 64 bytes of alignment slack. */
static size_t workspace_floats(const dyd_f32conv_op *op) {
  switch (op->path) {
    case DYD_F32_PATH_DWCONV: return dyd_f32conv_dw_workspace_floats(op);
    case DYD_F32_PATH_DIRECT: return dyd_f32conv_direct_workspace_floats(op);
    case DYD_F32_PATH_GEMM: return op->k * op->b->nr; /* the last, partial strip */
    default: return op->k * op->b->mr;                 /* fc: the images as an A panel */
  }
}

size_t dyd_f32conv_workspace_size(const dyd_f32conv_op *op) {
  return workspace_floats(op) * sizeof(float) + 64;
}

const char *dyd_f32conv_kernel_name(const dyd_f32conv_op *op) { return op->name; }

/* ---- run ------------------------------------------------------------------------------ */

static void run_gemm_tile(const dyd_f32conv_op *op, const float *in, float *out, size_t tile,
                          float *ws) {
  const dyd_conv_geometry *g = &op->g;
  const dyd_f32_bundle *b = op->b;
  const size_t nb = tile % op->n_blocks;
  tile /= op->n_blocks;
  const size_t mb = tile % op->m_blocks;
  tile /= op->m_blocks;
  const size_t grp = tile % g->groups, n = tile / g->groups;
  const size_t p0 = mb * op->nc, np = DYD_MIN(op->nc, op->out_plane - p0);
  const size_t pan0 = nb * op->panels_per_tile, pan1 = DYD_MIN(op->panels, pan0 + op->panels_per_tile);
  const float *x = in + ((size_t)n * g->in_c + grp * op->icpg) * op->in_plane;
  float *y = out + ((size_t)n * g->out_c + grp * op->ocpg) * op->out_plane;
  const float *panels = op->packed + grp * op->panels * op->panel_floats;
  const size_t nr = b->nr, mr = b->mr, k = op->k;
  for (size_t s = 0; s * nr < np; s++) {
    const size_t pc = DYD_MIN(nr, np - s * nr), px = p0 + s * nr;
    const float *bp;
    size_t bs;
    if (pc == nr) {
      bp = x + px;
      bs = op->in_plane;
    } else { /* the kernel reads NR floats per row: copy the partial strip */
      for (size_t kk = 0; kk < k; kk++) {
        memcpy(ws + kk * nr, x + kk * op->in_plane + px, pc * sizeof(float));
        for (size_t j = pc; j < nr; j++) ws[kk * nr + j] = 0.0f;
      }
      bp = ws;
      bs = nr;
    }
    for (size_t p = pan0; p < pan1; p++) {
      const float *panel = panels + p * op->panel_floats;
      b->gemm(DYD_MIN(mr, op->ocpg - p * mr), pc, k, panel + mr, panel, bp, bs, NULL,
              y + p * mr * op->out_plane + px, op->out_plane, 0, &op->act);
    }
  }
}

static void run_fc_tile(const dyd_f32conv_op *op, const float *in, float *out, size_t tile,
                        float *ws) {
  const dyd_conv_geometry *g = &op->g;
  const dyd_f32_bundle *b = op->b;
  const size_t mr = b->mr, nr = b->nr, k = op->k;
  const size_t nb = tile % op->n_blocks;
  tile /= op->n_blocks;
  const size_t grp = tile % g->groups, n0 = tile / g->groups * mr;
  const size_t rows = DYD_MIN(mr, (size_t)g->batch - n0);
  for (size_t kk = 0; kk < k; kk++)
    for (size_t i = 0; i < mr; i++)
      ws[kk * mr + i] = i < rows ? in[(n0 + i) * g->in_c + grp * op->icpg + kk] : 0.0f;
  const size_t s0 = nb * op->panels_per_tile, s1 = DYD_MIN(op->ocpg_pad / nr, s0 + op->panels_per_tile);
  for (size_t s = s0; s < s1; s++) {
    const size_t j0 = s * nr, nc = DYD_MIN(nr, op->ocpg - j0);
    float *y = out + n0 * g->out_c + grp * op->ocpg + j0;
    for (size_t i = 0; i < rows; i++) /* the bias is per column here: start C from it */
      memcpy(y + i * g->out_c, op->bias + grp * op->ocpg + j0, nc * sizeof(float));
    b->gemm(rows, nc, k, ws, NULL, op->packed + (grp * op->ocpg_pad + j0) * k, nr, NULL, y, g->out_c, 1,
            &op->act);
  }
}

void dyd_f32conv_run(const dyd_f32conv_op *op, const float *input, float *output,
                     size_t tile_start, size_t tile_count, void *workspace) {
  float *ws = (float *)DYD_ROUND_UP((uintptr_t)workspace, 64);
  /* direct path: tiles that differ only in their panels (consecutive, when a layer's
   * output channels are split for threads) share one copy of the input rows */
  size_t planes_of = SIZE_MAX;
  if (op->path == DYD_F32_PATH_DWCONV && tile_count > 0) dyd_f32conv_dw_clear_planes(op, ws);
  for (size_t t = tile_start; t < tile_start + tile_count; t++) {
    switch (op->path) {
      case DYD_F32_PATH_DWCONV: dyd_f32conv_run_dw(op, input, output, t, ws); break;
      case DYD_F32_PATH_DIRECT:
        dyd_f32conv_run_direct(op, input, output, t, ws, t / op->n_blocks == planes_of);
        planes_of = t / op->n_blocks;
        break;
      case DYD_F32_PATH_FC: run_fc_tile(op, input, output, t, ws); break;
      default: run_gemm_tile(op, input, output, t, ws);
    }
  }
}
