/*
 * The float32 conv operator (NCHW) and dyd_f32_gemm. In NCHW an output plane is a
 * row of Y[oc][pixel] = sum_k W[oc][k] * X[k][pixel], a row-major GEMM whose A is the
 * weights (packed once, MR output channels per panel) and whose B has one row per
 * input channel (and tap). Micro-kernels broadcast A and load B as vectors of NR
 * pixels, so outputs are written as contiguous runs of a plane. Three paths:
 *   gemm   1x1, stride 1, no padding: B's rows are the input planes themselves; only
 *          a tile's last, partial strip of pixels is copied (the kernel reads NR).
 *   igemm  anything else: each tile writes its im2col strips ([K][NR] per NR pixels,
 *          padding as 0) into the workspace, then runs the same micro-kernel.
 *   fc     1x1 over single-pixel planes (a classifier): vectors of NR would hold one
 *          pixel, so roles swap: A rows are up to MR images, B is the transposed
 *          weights (packed once as [strip of NR channels][K][NR]), C rows are the
 *          images' outputs.
 *   dwconv one input channel per output channel: a tile (one channel of one image)
 *          copies its plane, zero padded to a row pitch P, into the workspace, rows
 *          split by phase of the vertical stride (row j of phase r is padded row
 *          j * stride_h + r). Output (oy, ox) is then "virtual" output v = oy * P +
 *          ox * stride_w, and every tap is one fixed offset from v: the whole plane
 *          is one long row for a vectorised kernel (no edge cases, no per-row calls;
 *          small planes such as 7x7 keep their vectors full). Virtual outputs past a
 *          row's end (and, at stride_w > 1, between used columns) are computed and
 *          dropped when the plane is compacted into the output: a depthwise layer
 *          does so few FLOPs per byte that copies, not FMAs, are what it costs.
 * Loop order in a GEMM tile: strips outer, panels inner, so one B strip (K x NR)
 * stays in L1/L2 while every weight panel passes over it.
 */
#include "../common.h"

#include <stdint.h>
#include <stdlib.h>

enum { PATH_GEMM, PATH_IGEMM, PATH_DWCONV, PATH_FC };

struct dyd_f32conv_op {
  dyd_conv_geometry g;
  const dyd_f32_bundle *b;
  int path;
  size_t icpg, ocpg, taps, k;
  size_t in_plane, out_plane;  /* in_h * in_w, out_h * out_w */
  /* GEMM paths */
  size_t panels, panel_floats; /* per group; a panel is bias[MR] then [K][MR] */
  size_t nc, m_blocks;         /* pixels per tile (a multiple of NR), tiles per plane */
  size_t panels_per_tile, n_blocks;
  size_t ocpg_pad;             /* fc: output channels per group rounded up to NR */
  size_t kx_lo[64], kx_hi[64]; /* im2col: output columns whose tap kx is inside the row */
  int64_t kx_off[64];          /* and that tap's input column: ox * stride_w + kx_off */
  size_t *kx_lo_big, *kx_hi_big;
  int64_t *kx_off_big;
  /* depthwise path */
  size_t pitch, plane_rows, plane_floats; /* padded row pitch P, rows per phase plane, its floats */
  size_t virt;                 /* virtual outputs: (out_h - 1) * P + (out_w - 1) * stride_w + 1 */
  size_t *dw_off;              /* per tap: offset of virtual output 0's input from the planes */
  float *bias;                 /* [out_c] */
  float *packed;
  char name[96];
};


const dyd_f32_bundle *dyd_f32_bundle_for(dyd_isa isa) {
  const dyd_f32_bundle *b = dyd_registry_select(DYD_FAMILY_F32, isa, NULL, NULL);
  return b != NULL ? b : &dyd_f32_bundle_scalar;
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
  return true;
}

/* Output columns [lo, hi) whose tap kx reads inside the input row. */
static void valid_columns(const dyd_conv_geometry *g, size_t kx, size_t *lo, size_t *hi,
                          int64_t *off) {
  const int64_t o = (int64_t)kx * g->dilation_w - g->pad_left, sw = g->stride_w;
  *off = o;
  const int64_t l = o >= 0 ? 0 : (-o + sw - 1) / sw;              /* ox * sw + o >= 0 */
  const int64_t h = (int64_t)g->in_w - o <= 0 ? 0 : ((int64_t)g->in_w - o - 1) / sw + 1; /* < in_w */
  *lo = (size_t)DYD_MIN(l, (int64_t)g->out_w);
  *hi = (size_t)DYD_MAX(DYD_MIN(h, (int64_t)g->out_w), (int64_t)*lo);
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
  const dyd_f32_bundle *b = dyd_f32_bundle_for(isa);
  op->g = *g;
  op->b = b;
  op->icpg = g->in_c / g->groups;
  op->ocpg = g->out_c / g->groups;
  op->taps = (size_t)g->kernel_h * g->kernel_w;
  op->k = op->taps * op->icpg;
  op->in_plane = (size_t)g->in_h * g->in_w;
  op->out_plane = (size_t)g->out_h * g->out_w;

  if (op->icpg == 1 && op->ocpg == 1) {
    op->path = PATH_DWCONV;
    const size_t sh = g->stride_h, sw = g->stride_w;
    op->pitch = (g->out_w - 1) * sw + (g->kernel_w - 1) * (size_t)g->dilation_w + 1;
    op->plane_rows = g->out_h + (g->kernel_h - 1) * (size_t)g->dilation_h / sh;
    op->plane_floats = op->plane_rows * op->pitch + DYD_F32_DW_PAD; /* the kernel's overread */
    op->virt = (g->out_h - 1) * op->pitch + (g->out_w - 1) * sw + 1;
    op->packed = malloc(sizeof(float) * g->out_c * op->taps);
    op->bias = calloc(g->out_c, sizeof(float));
    op->dw_off = malloc(sizeof(size_t) * op->taps);
    if (!op->packed || !op->bias || !op->dw_off) goto oom;
    for (size_t ky = 0; ky < g->kernel_h; ky++)
      for (size_t kx = 0; kx < g->kernel_w; kx++) {
        const size_t row = ky * g->dilation_h; /* padded row read by output row 0 */
        op->dw_off[ky * g->kernel_w + kx] =
            row % sh * op->plane_floats + row / sh * op->pitch + kx * g->dilation_w;
      }
    memcpy(op->packed, d->weights, sizeof(float) * g->out_c * op->taps);
    if (d->bias) memcpy(op->bias, d->bias, sizeof(float) * g->out_c);
    const char *tile = op->taps == 9 && g->kernel_h == 3 ? "3x3" : op->taps == 25 && g->kernel_h == 5 ? "5x5" : "up";
    snprintf(op->name, sizeof op->name, "dyd_f32_dwconv_ukernel_%s__%s", tile, b->isa_suffix);
    return op;
  }

  const bool direct = g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
                      g->pad_top == 0 && g->pad_left == 0 && g->out_h == g->in_h && g->out_w == g->in_w;
  op->path = direct ? PATH_GEMM : PATH_IGEMM;
  if (g->kernel_w > 64) {
    op->kx_lo_big = malloc(sizeof(size_t) * g->kernel_w);
    op->kx_hi_big = malloc(sizeof(size_t) * g->kernel_w);
    op->kx_off_big = malloc(sizeof(int64_t) * g->kernel_w);
    if (!op->kx_lo_big || !op->kx_hi_big || !op->kx_off_big) goto oom;
  }
  for (size_t kx = 0; kx < g->kernel_w; kx++) {
    size_t lo, hi;
    int64_t off;
    valid_columns(g, kx, &lo, &hi, &off);
    (g->kernel_w > 64 ? op->kx_lo_big : op->kx_lo)[kx] = lo;
    (g->kernel_w > 64 ? op->kx_hi_big : op->kx_hi)[kx] = hi;
    (g->kernel_w > 64 ? op->kx_off_big : op->kx_off)[kx] = off;
  }
  if (direct && op->out_plane == 1) {
    op->path = PATH_FC;
    op->ocpg_pad = DYD_ROUND_UP(op->ocpg, b->nr);
    const size_t strips = op->ocpg_pad / b->nr;
    op->m_blocks = DYD_DIV_UP((size_t)g->batch, b->mr);
    const size_t want = DYD_DIV_UP(8, op->m_blocks * g->groups); /* tiles for threads */
    op->panels_per_tile = DYD_MAX(DYD_DIV_UP(strips, want), 1);  /* strips per tile */
    op->n_blocks = DYD_DIV_UP(strips, op->panels_per_tile);
    op->packed = aligned_alloc(64, DYD_ROUND_UP(sizeof(float) * g->groups * op->k * op->ocpg_pad, 64));
    op->bias = calloc(g->out_c, sizeof(float));
    if (op->packed == NULL || op->bias == NULL) goto oom;
    /* [group][strip][K][NR]: each strip one sequential stream (the weights of a
     * classifier come from DRAM; a row stride of out_c floats defeats prefetching) */
    for (size_t grp = 0; grp < g->groups; grp++)
      for (size_t j = 0; j < op->ocpg_pad; j++)
        for (size_t k = 0; k < op->k; k++)
          op->packed[((grp * strips + j / b->nr) * op->k + k) * b->nr + j % b->nr] =
              j < op->ocpg ? d->weights[(grp * op->ocpg + j) * op->k + k] : 0.0f;
    if (d->bias) memcpy(op->bias, d->bias, sizeof(float) * g->out_c);
    snprintf(op->name, sizeof op->name, "dyd_f32_gemm_ukernel_%ux%u__%s", b->mr, b->nr, b->isa_suffix);
    return op;
  }
  op->panels = DYD_DIV_UP(op->ocpg, b->mr);
  op->panel_floats = b->mr + op->k * b->mr;
  /* About 128 KiB of im2col per tile (L2-resident while all panels pass over it),
   * at least one strip, at most 1024 pixels so that planes still split into tiles. */
  size_t nc = 32768 / op->k;
  nc = DYD_MAX(nc / b->nr, 1) * b->nr;
  nc = DYD_MIN(nc, DYD_MAX((size_t)1024 / b->nr, 1) * b->nr);
  nc = DYD_MIN(nc, DYD_ROUND_UP(op->out_plane, b->nr));
  op->nc = nc;
  op->m_blocks = DYD_DIV_UP(op->out_plane, nc);
  /* Few pixel tiles (late layers, fully connected): split the output channels too,
   * so that threads still get work; each such tile repeats its im2col. */
  op->panels_per_tile = op->panels;
  const size_t pixel_tiles = (size_t)g->batch * g->groups * op->m_blocks;
  if (pixel_tiles < 8 && op->panels > 1) {
    const size_t want = DYD_DIV_UP(8, pixel_tiles);
    op->panels_per_tile = DYD_MAX(DYD_DIV_UP(op->panels, want), 1);
  }
  op->n_blocks = DYD_DIV_UP(op->panels, op->panels_per_tile);
  op->packed = aligned_alloc(64, DYD_ROUND_UP(sizeof(float) * g->groups * op->panels * op->panel_floats, 64));
  if (op->packed == NULL) goto oom;
  for (size_t grp = 0; grp < g->groups; grp++)
    for (size_t p = 0; p < op->panels; p++) {
      float *panel = op->packed + (grp * op->panels + p) * op->panel_floats;
      for (size_t i = 0; i < b->mr; i++) {
        const size_t oc = p * b->mr + i;
        const bool real = oc < op->ocpg;
        const size_t goc = grp * op->ocpg + oc;
        panel[i] = real && d->bias ? d->bias[goc] : 0.0f;
        for (size_t k = 0; k < op->k; k++)
          panel[b->mr + k * b->mr + i] = real ? d->weights[goc * op->k + k] : 0.0f;
      }
    }
  snprintf(op->name, sizeof op->name, "dyd_f32_%s_ukernel_%ux%u__%s", direct ? "gemm" : "igemm", b->mr,
           b->nr, b->isa_suffix);
  return op;
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
  free(op->kx_lo_big);
  free(op->kx_hi_big);
  free(op->kx_off_big);
  free(op);
}

size_t dyd_f32conv_tile_count(const dyd_f32conv_op *op) {
  if (op->path == PATH_DWCONV) return (size_t)op->g.batch * op->g.out_c;
  if (op->path == PATH_FC) return op->m_blocks * op->g.groups * op->n_blocks;
  return (size_t)op->g.batch * op->g.groups * op->m_blocks * op->n_blocks;
}

/* Floats of workspace, before the 64 bytes of alignment slack. */
static size_t workspace_floats(const dyd_f32conv_op *op) {
  if (op->path == PATH_DWCONV) /* tap pointers, phase planes, virtual outputs */
    return DYD_DIV_UP(op->taps * sizeof(float *), sizeof(float)) +
           op->g.stride_h * op->plane_floats + op->virt;
  if (op->path == PATH_GEMM) return op->k * op->b->nr; /* the last, partial strip */
  if (op->path == PATH_FC) return op->k * op->b->mr;    /* the images as an A panel */
  return op->k * op->nc;
}

size_t dyd_f32conv_workspace_size(const dyd_f32conv_op *op) {
  return workspace_floats(op) * sizeof(float) + 64;
}

const char *dyd_f32conv_kernel_name(const dyd_f32conv_op *op) { return op->name; }

/* ---- run ------------------------------------------------------------------------------ */

/* One im2col strip: dst[k][j] for the `pc` output pixels starting at `p` (row-major
 * over the plane), columns pc..NR zero. x is the group's first input plane. */
static void im2col_strip(const dyd_f32conv_op *op, const float *x, size_t p, size_t pc,
                         float *dst) {
  const dyd_conv_geometry *g = &op->g;
  const size_t nr = op->b->nr, ow = g->out_w, sw = g->stride_w;
  const size_t *klo = g->kernel_w > 64 ? op->kx_lo_big : op->kx_lo;
  const size_t *khi = g->kernel_w > 64 ? op->kx_hi_big : op->kx_hi;
  const int64_t *koff = g->kernel_w > 64 ? op->kx_off_big : op->kx_off;
  const size_t oy0 = p / ow, ox0 = p % ow;
  for (size_t ic = 0; ic < op->icpg; ic++) {
    const float *plane = x + ic * op->in_plane;
    for (size_t ky = 0; ky < g->kernel_h; ky++)
      for (size_t kx = 0; kx < g->kernel_w; kx++, dst += nr) {
        const size_t lo = klo[kx], hi = khi[kx];
        size_t j = 0, oy = oy0, ox = ox0;
        while (j < pc) {
          const size_t seg = DYD_MIN(pc - j, ow - ox);
          const int64_t iy = (int64_t)(oy * g->stride_h + ky * g->dilation_h) - g->pad_top;
          float *d = dst + j; /* d[t - ox] is output column t */
          if (iy < 0 || iy >= (int64_t)g->in_h) {
            for (size_t t = 0; t < seg; t++) d[t] = 0.0f;
          } else {
            const float *row = plane + (size_t)iy * g->in_w;
            const size_t a = DYD_MIN(DYD_MAX(lo, ox), ox + seg), e = DYD_MAX(DYD_MIN(hi, ox + seg), a);
            for (size_t t = ox; t < a; t++) d[t - ox] = 0.0f;
            if (e > a) { /* columns a..e read inside the row: ix = t * sw + koff >= 0 */
              const float *src = row + (size_t)((int64_t)(a * sw) + koff[kx]);
              if (sw == 1) memcpy(d + (a - ox), src, (e - a) * sizeof(float));
              else
                for (size_t t = a; t < e; t++) d[t - ox] = src[(t - a) * sw];
            }
            for (size_t t = e; t < ox + seg; t++) d[t - ox] = 0.0f;
          }
          j += seg;
          ox = 0;
          oy++;
        }
        for (; j < nr; j++) dst[j] = 0.0f;
      }
  }
}

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
  if (op->path == PATH_IGEMM)
    for (size_t s = 0; s * nr < np; s++) im2col_strip(op, x, p0 + s * nr, DYD_MIN(nr, np - s * nr), ws + s * k * nr);
  for (size_t s = 0; s * nr < np; s++) {
    const size_t pc = DYD_MIN(nr, np - s * nr), px = p0 + s * nr;
    const float *bp;
    size_t bs;
    if (op->path == PATH_IGEMM) {
      bp = ws + s * k * nr;
      bs = nr;
    } else if (pc == nr) {
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
      b->gemm(DYD_MIN(mr, op->ocpg - p * mr), pc, k, panel + mr, panel, bp, bs,
              y + p * mr * op->out_plane + px, op->out_plane, 0);
    }
  }
}

/* Virtual outputs per kernel call: the taps' windows stay in L1. */
#define DW_CHUNK 2048

static void run_dw_tile(const dyd_f32conv_op *op, const float *in, float *out, size_t tile,
                        float *ws) {
  const dyd_conv_geometry *g = &op->g;
  const size_t c = tile % g->out_c, n = tile / g->out_c;
  const float *x = in + ((size_t)n * g->in_c + c) * op->in_plane;
  float *y = out + ((size_t)n * g->out_c + c) * op->out_plane;
  const size_t sh = g->stride_h, sw = g->stride_w, P = op->pitch, pl = g->pad_left;
  const float **rows = (const float **)(void *)ws;
  float *planes = ws + DYD_DIV_UP(op->taps * sizeof(float *), sizeof(float));
  float *virt = planes + sh * op->plane_floats;
  /* padded columns [c0, c1) hold input columns 0.. */
  const size_t c0 = DYD_MIN(pl, P), c1 = DYD_MIN(P, pl + (size_t)g->in_w);
  for (size_t r = 0; r < sh; r++) {
    float *plane = planes + r * op->plane_floats;
    for (size_t j = 0; j < op->plane_rows; j++, plane += P) {
      const int64_t iy = (int64_t)(j * sh + r) - g->pad_top;
      if (iy < 0 || iy >= (int64_t)g->in_h) {
        memset(plane, 0, P * sizeof(float));
        continue;
      }
      memset(plane, 0, c0 * sizeof(float));
      memcpy(plane + c0, x + (size_t)iy * g->in_w + (c0 - pl), (c1 - c0) * sizeof(float));
      memset(plane + c1, 0, (P - c1) * sizeof(float));
    }
    memset(plane, 0, DYD_F32_DW_PAD * sizeof(float));
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
    b->gemm(rows, nc, k, ws, NULL, op->packed + (grp * op->ocpg_pad + j0) * k, nr, y, g->out_c, 1);
  }
}

void dyd_f32conv_run(const dyd_f32conv_op *op, const float *input, float *output,
                     size_t tile_start, size_t tile_count, void *workspace) {
  float *ws = (float *)DYD_ROUND_UP((uintptr_t)workspace, 64);
  for (size_t t = tile_start; t < tile_start + tile_count; t++) {
    if (op->path == PATH_DWCONV) run_dw_tile(op, input, output, t, ws);
    else if (op->path == PATH_FC) run_fc_tile(op, input, output, t, ws);
    else run_gemm_tile(op, input, output, t, ws);
  }
}

/* ---- dyd_f32_gemm ----------------------------------------------------------------------- */

/* Blocks small enough for the stack: A as panels of MC x KC, B strips of KC x NR. */
#define GEMM_KC 128
#define GEMM_MC 64
#define GEMM_NR_MAX 32

void dyd_f32_gemm_for_isa(dyd_isa isa, size_t m, size_t n, size_t k, const float *a, size_t lda,
                          const float *b, size_t ldb, int trans_b, float *c, size_t ldc) {
  const dyd_f32_bundle *bun = dyd_f32_bundle_for(isa);
  const size_t mr = bun->mr, nr = bun->nr;
  _Alignas(64) float apack[GEMM_MC * GEMM_KC];
  _Alignas(64) float bpack[GEMM_KC * GEMM_NR_MAX];
  if (k == 0) {
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < n; j++) c[i * ldc + j] = 0.0f;
    return;
  }
  const size_t mc_max = GEMM_MC / mr * mr;
  for (size_t k0 = 0; k0 < k; k0 += GEMM_KC) {
    const size_t kc = DYD_MIN((size_t)GEMM_KC, k - k0);
    for (size_t i0 = 0; i0 < m; i0 += mc_max) {
      const size_t mc = DYD_MIN(mc_max, m - i0);
      /* A rows i0..i0+mc as panels [kc][MR], rows past m zero */
      for (size_t p = 0; p * mr < mc; p++)
        for (size_t kk = 0; kk < kc; kk++)
          for (size_t i = 0; i < mr; i++) {
            const size_t row = p * mr + i;
            apack[(p * kc + kk) * mr + i] = row < mc ? a[(i0 + row) * lda + k0 + kk] : 0.0f;
          }
      for (size_t j0 = 0; j0 < n; j0 += nr) {
        const size_t pc = DYD_MIN(nr, n - j0);
        const float *bp;
        size_t bs;
        if (!trans_b && pc == nr) {
          bp = b + k0 * ldb + j0;
          bs = ldb;
        } else {
          for (size_t kk = 0; kk < kc; kk++)
            for (size_t j = 0; j < nr; j++)
              bpack[kk * nr + j] = j >= pc ? 0.0f : trans_b ? b[(j0 + j) * ldb + k0 + kk] : b[(k0 + kk) * ldb + j0 + j];
          bp = bpack;
          bs = nr;
        }
        for (size_t p = 0; p * mr < mc; p++)
          bun->gemm(DYD_MIN(mr, mc - p * mr), pc, kc, apack + p * kc * mr, NULL, bp, bs,
                    c + (i0 + p * mr) * ldc + j0, ldc, k0 > 0);
      }
    }
  }
}

void dyd_f32_gemm(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                  size_t ldb, int trans_b, float *c, size_t ldc) {
  dyd_f32_gemm_for_isa(dyd_active_isa(), m, n, k, a, lda, b, ldb, trans_b, c, ldc);
}

const char *dyd_f32_gemm_kernel_name(dyd_isa isa) { return dyd_f32_bundle_for(isa)->gemm_name; }
