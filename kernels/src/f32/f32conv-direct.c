/*
 * The float32 conv's direct path: every conv that is neither a plain 1x1 GEMM nor
 * depthwise (3x3 and the like, any stride, dilation, padding, groups).
 *
 * Why not im2col: a materialised im2col writes K = taps * in_c floats per output
 * pixel (9x the input for 3x3) and the GEMM reads them back; for the layers of small
 * detectors (16-64 output channels, K = 144-576) that copy cost about as much as the
 * FMAs. Here a tile copies each input row it needs once, and the micro-kernel reads
 * tap k's vector of NR pixels at a fixed offset b_off[k] from the strip's start.
 *
 * Layout: per input channel, stride_h * stride_w "phase planes". Phase (r, c) holds
 * the zero-padded input's rows r, r + sh, ... and columns c, c + sw, ..., with a row
 * pitch P = ceil(padded columns read / sw). Output (oy, ox) is virtual output
 * v = (oy - oy0) * P + ox of the tile (oy0 its first row), and its tap (ky, kx) reads
 * padded row oy * sh + ky * dh, column ox * sw + kx * dw: phase ((ky dh) % sh,
 * (kx dw) % sw), at v + ((ky dh) / sh) * P + (kx dw) / sw. So the offset depends on
 * the tap only, stride 2 costs no gathered loads in the kernel (the copy
 * deinterleaves once), and padding is plain zeros. Virtual columns ox in [out_w, P)
 * are computed and dropped: (P - out_w) / P of the work, 2 / 82 for a 3x3 on an
 * 80-wide row, 2 / 12 at 10 wide (less than a 32-pixel strip per row would waste).
 *
 * Output: a strip of NR virtual outputs inside one output row is written straight to
 * the output planes; a strip crossing a row end goes through a buffer of MR x NR per
 * panel and its valid runs are copied out. Tiles are blocks of output rows (and, when
 * a layer has few, blocks of panels, for threads).
 *
 * Loops in a tile: strips, then chunks of KC taps, then panels. A strip's taps are
 * scattered over the planes (for 3x3/2 about two cache lines per tap, one at
 * stride 1), so K = 1152 touches ~100-150 KiB per strip, more than L1, which every
 * panel streams again from L2. KC taps keep a chunk in L1 while all panels pass over
 * it, at the price of reading and writing each MR x NR block of C once per chunk.
 * Measured (AVX-512, best of 200): 3x3/2 128->256 on 20x20 105 GFLOPS with the
 * whole K, 111 with KC 128-256; at stride 1 chunks gain nothing up to 512 (1-2%
 * slower at 128-256), hence 512 there.
 */
#include "f32conv.h"

#include <stdlib.h>

/* Phase planes per tile: about 256 KiB, to stay in L2 next to the weights. */
#define DIRECT_BUDGET_FLOATS 65536
/* Taps per chunk (see above): about 16-32 KiB of a strip's cache lines. */
#define DIRECT_KC_STRIDE1 512
#define DIRECT_KC_STRIDED 256

bool dyd_f32conv_plan_direct(dyd_f32conv_op *op, const dyd_f32conv_desc *d) {
  const dyd_conv_geometry *g = &op->g;
  const dyd_f32_bundle *b = op->b;
  const size_t sh = g->stride_h, sw = g->stride_w, dh = g->dilation_h, dw = g->dilation_w;
  const size_t kh = g->kernel_h, kw = g->kernel_w, phases = sh * sw;
  op->pitch = DYD_DIV_UP((g->out_w - 1) * sw + (kw - 1) * dw + 1, sw);
  op->halo = (kh - 1) * dh / sh;
  /* Whole planes where they fit the budget (small late-layer planes keep every
   * strip full); tiles of fewer rows otherwise. */
  const size_t per_row = op->icpg * phases * op->pitch;
  size_t rows = DIRECT_BUDGET_FLOATS / DYD_MAX(per_row, (size_t)1);
  rows = rows > op->halo ? rows - op->halo : 1;
  rows = DYD_MIN(DYD_MAX(rows, (size_t)1), (size_t)g->out_h);
  /* At least 8 tiles for threads, from blocks of panels first: smaller row blocks
   * cost more in the last, part-empty strip of each (measured: 20x20 planes cut in
   * blocks of 6 rows computed 544 virtual outputs for 400 real ones, the whole
   * plane 448), but layers with few panels must cut rows, down to 4 strips each. */
  const size_t images = (size_t)g->batch * g->groups, panels = DYD_DIV_UP(op->ocpg, (size_t)b->mr);
  if (images * DYD_DIV_UP((size_t)g->out_h, rows) * panels < 8) {
    const size_t min_rows = DYD_MIN(DYD_DIV_UP(4 * (size_t)b->nr, op->pitch), (size_t)g->out_h);
    const size_t want = DYD_DIV_UP((size_t)g->out_h, DYD_DIV_UP(8, images * panels));
    rows = DYD_MIN(rows, DYD_MAX(want, min_rows));
  }
  rows = DYD_DIV_UP((size_t)g->out_h, DYD_DIV_UP((size_t)g->out_h, rows)); /* equal blocks */
  op->nc = rows;
  op->m_blocks = DYD_DIV_UP((size_t)g->out_h, op->nc);
  op->rows = op->nc + op->halo;
  if (!dyd_f32conv_pack_panels(op, d)) return false;
  /* Still few tiles: split the output channels; consecutive tiles of one run call
   * that share a row block share its copy (see dyd_f32conv_run). */
  op->panels_per_tile = op->panels;
  const size_t row_tiles = (size_t)g->batch * g->groups * op->m_blocks;
  if (row_tiles < 8 && op->panels > 1) {
    const size_t want = DYD_DIV_UP(8, row_tiles);
    op->panels_per_tile = DYD_MAX(DYD_DIV_UP(op->panels, want), 1);
  }
  op->n_blocks = DYD_DIV_UP(op->panels, op->panels_per_tile);

  op->b_off = malloc(sizeof(size_t) * op->k);
  op->q_lo = malloc(sizeof(size_t) * sw);
  op->q_hi = malloc(sizeof(size_t) * sw);
  op->phase_used = calloc(phases, 1);
  if (!op->b_off || !op->q_lo || !op->q_hi || !op->phase_used) return false;
  const size_t plane = op->rows * op->pitch;
  for (size_t ic = 0; ic < op->icpg; ic++)
    for (size_t ky = 0; ky < kh; ky++)
      for (size_t kx = 0; kx < kw; kx++) {
        const size_t phase = (ky * dh % sh) * sw + kx * dw % sw;
        op->phase_used[phase] = 1;
        op->b_off[(ic * kh + ky) * kw + kx] =
            (ic * phases + phase) * plane + ky * dh / sh * op->pitch + kx * dw / sw;
      }
  for (size_t c = 0; c < sw; c++) { /* q * sw + c - pad_left in [0, in_w) */
    const int64_t first = (int64_t)g->pad_left - (int64_t)c, end = first + (int64_t)g->in_w;
    const int64_t lo = first <= 0 ? 0 : (first + (int64_t)sw - 1) / (int64_t)sw;
    const int64_t hi = end <= 0 ? 0 : (end + (int64_t)sw - 1) / (int64_t)sw;
    op->q_lo[c] = (size_t)DYD_MIN(lo, (int64_t)op->pitch);
    op->q_hi[c] = (size_t)DYD_MAX(DYD_MIN(hi, (int64_t)op->pitch), (int64_t)op->q_lo[c]);
  }
  snprintf(op->name, sizeof op->name, "dyd_f32_igemm_ukernel_%ux%u__%s", b->mr, b->nr, b->isa_suffix);
  return true;
}

/* The MR x NR buffers of a tile's panels, then the phase planes and NR floats the
 * kernel may read past the last one (for outputs that are dropped). */
size_t dyd_f32conv_direct_workspace_floats(const dyd_f32conv_op *op) {
  const size_t nr = op->b->nr;
  return op->panels_per_tile * op->b->mr * nr +
         op->icpg * op->g.stride_h * op->g.stride_w * op->rows * op->pitch + nr;
}

/* One row of phase (r, c) plane: padded columns c, c + sw, ... of input row `src`
 * (NULL: a padding row). Late layers have rows of 10-20 floats, so the zero runs
 * are plain loops rather than calls. */
static inline void fill_row(const dyd_f32conv_op *op, const float *src, size_t c, float *dst) {
  const size_t P = op->pitch, sw = op->g.stride_w, lo = op->q_lo[c], hi = op->q_hi[c];
  if (src == NULL) {
    memset(dst, 0, P * sizeof(float));
    return;
  }
  for (size_t q = 0; q < lo; q++) dst[q] = 0.0f;
  if (sw == 1) memcpy(dst + lo, src + lo + c - op->g.pad_left, (hi - lo) * sizeof(float));
  else if (hi > lo) op->b->gather(hi - lo, src + lo * sw + c - op->g.pad_left, sw, dst + lo);
  for (size_t q = hi; q < P; q++) dst[q] = 0.0f;
}

void dyd_f32conv_run_direct(const dyd_f32conv_op *op, const float *in, float *out, size_t tile,
                            float *ws, bool planes_ready) {
  const dyd_conv_geometry *g = &op->g;
  const dyd_f32_bundle *b = op->b;
  const size_t nb = tile % op->n_blocks;
  tile /= op->n_blocks;
  const size_t rb = tile % op->m_blocks;
  tile /= op->m_blocks;
  const size_t grp = tile % g->groups, n = tile / g->groups;
  const size_t oy0 = rb * op->nc, rows = DYD_MIN(op->nc, (size_t)g->out_h - oy0);
  const size_t pan0 = nb * op->panels_per_tile, pan1 = DYD_MIN(op->panels, pan0 + op->panels_per_tile);
  const float *x = in + ((size_t)n * g->in_c + grp * op->icpg) * op->in_plane;
  float *y = out + ((size_t)n * g->out_c + grp * op->ocpg) * op->out_plane;
  const float *panels = op->packed + grp * op->panels * op->panel_floats;
  const size_t nr = b->nr, mr = b->mr, k = op->k, P = op->pitch, ow = g->out_w;
  const size_t sh = g->stride_h, sw = g->stride_w, plane = op->rows * P;
  float *tmp = ws, *planes = ws + op->panels_per_tile * mr * nr;
  const size_t kc_max = g->stride_w == 1 ? DIRECT_KC_STRIDE1 : DIRECT_KC_STRIDED;

  const size_t used_rows = rows + op->halo; /* the rows any kept output reads */
  for (size_t ic = 0; ic < op->icpg && !planes_ready; ic++)
    for (size_t r = 0; r < sh; r++)
      for (size_t c = 0; c < sw; c++) {
        if (!op->phase_used[r * sw + c]) continue;
        float *dst = planes + ((ic * sh + r) * sw + c) * plane;
        for (size_t j = 0; j < used_rows; j++, dst += P) {
          const int64_t iy = (int64_t)((oy0 + j) * sh + r) - (int64_t)g->pad_top;
          const bool inside = iy >= 0 && iy < (int64_t)g->in_h;
          fill_row(op, inside ? x + ic * op->in_plane + (size_t)iy * g->in_w : NULL, c, dst);
        }
      }
  /* the kernel's overread past the last plane: finite, though only dropped outputs see it */
  memset(planes + op->icpg * sh * sw * plane, 0, nr * sizeof(float));

  const size_t nv = (rows - 1) * P + ow;
  for (size_t v0 = 0; v0 < nv; v0 += nr) {
    const size_t nc = DYD_MIN(nr, nv - v0), row = v0 / P, col = v0 % P;
    const bool in_row = col + nc <= ow;
    for (size_t k0 = 0; k0 < k; k0 += kc_max) {
      const size_t kc = DYD_MIN(kc_max, k - k0);
      const bool first = k0 == 0, last = k0 + kc == k;
      for (size_t p = pan0; p < pan1; p++) {
        const float *panel = panels + p * op->panel_floats;
        const size_t m = DYD_MIN(mr, op->ocpg - p * mr);
        float *c = in_row ? y + p * mr * op->out_plane + (oy0 + row) * ow + col : tmp + (p - pan0) * mr * nr;
        b->gemm(m, nc, kc, panel + mr + k0 * mr, first ? panel : NULL, planes + v0, 0, op->b_off + k0, c,
                in_row ? op->out_plane : nr, !first, last ? &op->act : NULL);
      }
    }
    if (in_row) continue;
    for (size_t p = pan0; p < pan1; p++) {
      const size_t m = DYD_MIN(mr, op->ocpg - p * mr);
      float *yp = y + p * mr * op->out_plane;
      const float *t = tmp + (p - pan0) * mr * nr;
      for (size_t rr = row; rr * P < v0 + nc; rr++) { /* each output row the strip covers */
        const size_t s = rr * P > v0 ? rr * P : v0, e = DYD_MIN(v0 + nc, rr * P + ow);
        if (e <= s) continue;
        for (size_t i = 0; i < m; i++)
          memcpy(yp + i * op->out_plane + (oy0 + rr) * ow + (s - rr * P), t + i * nr + (s - v0),
                 (e - s) * sizeof(float));
      }
    }
  }
}
