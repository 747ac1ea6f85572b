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
 *   dwconv one input channel per output channel: each tile (one channel of one
 *          image) copies its plane into the workspace split by column phase (column
 *          j of phase r is input column j * stride_w + r - pad_left, 0 outside), so
 *          that every tap of every output row, at any stride and dilation, is a
 *          contiguous run; a row kernel then sums taps with no edge cases.
 * Loop order in a GEMM tile: strips outer, panels inner, so one B strip (K x NR)
 * stays in L1/L2 while every weight panel passes over it.
 */
#include "../common.h"

#include <stdint.h>
#include <stdlib.h>

enum { PATH_GEMM, PATH_IGEMM, PATH_DWCONV };

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
  size_t kx_lo[64], kx_hi[64]; /* im2col: output columns whose tap kx is inside the row */
  int64_t kx_off[64];          /* and that tap's input column: ox * stride_w + kx_off */
  size_t *kx_lo_big, *kx_hi_big;
  int64_t *kx_off_big;
  /* depthwise path */
  size_t phase_len;            /* floats per phase row */
  float *bias;                 /* [out_c] */
  float *packed;
  char name[96];
};

/* ---- create -------------------------------------------------------------------------- */

static bool check_desc(const dyd_f32conv_desc *d, char *err, size_t err_len) {
  dyd_conv_geometry g = d->geometry;
  g.in_pixel_stride = g.in_c; /* unused in NCHW: validate as dense */
  g.out_pixel_stride = g.out_c;
  if (!dyd_check_geometry(&g, false, err, err_len)) return false;
  if (!g.dilation_h || !g.dilation_w) {
    dyd_set_error(err, err_len, "zero dilation");
    return false;
  }
  if (!g.groups || g.in_c % g.groups || g.out_c % g.groups) {
    dyd_set_error(err, err_len, "groups %u must divide in_c %u and out_c %u", g.groups, g.in_c,
                  g.out_c);
    return false;
  }
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
    op->phase_len = g->out_w + (g->kernel_w - 1) * (size_t)g->dilation_w / g->stride_w + DYD_F32_DW_PAD;
    op->packed = malloc(sizeof(float) * g->out_c * op->taps);
    op->bias = calloc(g->out_c, sizeof(float));
    if (op->packed == NULL || op->bias == NULL) goto oom;
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
  free(op->kx_lo_big);
  free(op->kx_hi_big);
  free(op->kx_off_big);
  free(op);
}

size_t dyd_f32conv_tile_count(const dyd_f32conv_op *op) {
  if (op->path == PATH_DWCONV) return (size_t)op->g.batch * op->g.out_c;
  return (size_t)op->g.batch * op->g.groups * op->m_blocks * op->n_blocks;
}

/* Floats of workspace, before the 64 bytes of alignment slack. */
static size_t workspace_floats(const dyd_f32conv_op *op) {
  if (op->path == PATH_DWCONV) /* tap pointers, phase rows of every input row, a zero row */
    return DYD_DIV_UP(op->taps * sizeof(float *), sizeof(float)) +
           ((size_t)op->g.in_h * op->g.stride_w + 1) * op->phase_len;
  if (op->path == PATH_GEMM) return op->k * op->b->nr; /* the last, partial strip */
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

static void run_dw_tile(const dyd_f32conv_op *op, const float *in, float *out, size_t tile,
                        float *ws) {
  const dyd_conv_geometry *g = &op->g;
  const size_t c = tile % g->out_c, n = tile / g->out_c;
  const float *x = in + ((size_t)n * g->in_c + c) * op->in_plane;
  float *y = out + ((size_t)n * g->out_c + c) * op->out_plane;
  const size_t sw = g->stride_w, pl = op->phase_len, kw = g->kernel_w;
  const float **rows = (const float **)(void *)ws;
  float *phases = ws + DYD_DIV_UP(op->taps * sizeof(float *), sizeof(float));
  float *zero = phases + (size_t)g->in_h * sw * pl;
  /* phase r of input row iy: element j is column j * sw + r - pad_left */
  for (size_t iy = 0; iy < g->in_h; iy++) {
    const float *src = x + iy * g->in_w;
    for (size_t r = 0; r < sw; r++) {
      float *dst = phases + (iy * sw + r) * pl;
      const int64_t o = (int64_t)r - g->pad_left; /* column of j = 0 */
      for (size_t j = 0; j < pl; j++) {
        const int64_t ix = (int64_t)j * (int64_t)sw + o;
        dst[j] = ix >= 0 && ix < (int64_t)g->in_w ? src[ix] : 0.0f;
      }
    }
  }
  memset(zero, 0, pl * sizeof(float));
  const float *w = op->packed + c * op->taps;
  for (size_t oy = 0; oy < g->out_h; oy++) {
    for (size_t ky = 0; ky < g->kernel_h; ky++) {
      const int64_t iy = (int64_t)(oy * g->stride_h + ky * g->dilation_h) - g->pad_top;
      const bool inside = iy >= 0 && iy < (int64_t)g->in_h;
      for (size_t kx = 0; kx < kw; kx++) {
        const size_t col = kx * g->dilation_w; /* padded column of output 0 */
        rows[ky * kw + kx] = inside ? phases + ((size_t)iy * sw + col % sw) * pl + col / sw : zero + col / sw;
      }
    }
    op->b->dw(g->out_w, op->taps, rows, w, op->bias[c], y + oy * g->out_w);
  }
}

void dyd_f32conv_run(const dyd_f32conv_op *op, const float *input, float *output,
                     size_t tile_start, size_t tile_count, void *workspace) {
  float *ws = (float *)DYD_ROUND_UP((uintptr_t)workspace, 64);
  for (size_t t = tile_start; t < tile_start + tile_count; t++) {
    if (op->path == PATH_DWCONV) run_dw_tile(op, input, output, t, ws);
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
