/*
 * The packed-B float32 GEMM operator: y = act(a b + bias) with b constant, for the
 * linear layers of transformers (m = batch x sequence, often 11-128 rows; k and n
 * 384-3072). It runs the float32 bundle's micro-kernel (broadcast A from a packed
 * panel, vector loads of B) unchanged.
 *
 * Why not the conv of m one-pixel images (its fc path): that path packs 8 rows of A
 * per tile and runs them over every strip of B, so B streams from L3 once per 8
 * rows, and each output is first written with the bias and read back. Here:
 *   - B is packed once, at create, as strips of NR columns, [strip][kb][NR] (kb =
 *     k, plus one row holding the bias), each strip one sequential stream, columns
 *     past n zero. A gets a column of ones at index k, so the bias is one more FMA
 *     term in the kernel and needs no pass over Y.
 *   - A tile is a block of rows times a block of strips. Its rows are packed once
 *     into MR-row panels [kb][MR] in the workspace by the bundle's vector transpose
 *     (consecutive tiles of one run call share a row block, so a caller taking
 *     contiguous ranges packs each block once; a scalar copy cost 8% at n = 384).
 *   - Loops in a tile: strips, then panels, over the whole K: a strip (K x NR) comes
 *     from L3 or DRAM once for its first panel and from L1/L2 for the others; the
 *     row block's panels (at most A_FLOATS floats) stay in L2 while the strips stream.
 *   - Tiles: row blocks as few as the A budget allows, then the strips split until
 *     there are WANT_TILES tiles, then rows split further if the strips alone cannot
 *     give that many (m = 11, n = 384 on AVX-512: 2 row blocks x 6 column blocks).
 * Measured and not kept (AVX-512, k 384-1536, n 384-3072, interleaved runs): K in
 * chunks of 64-512 so that a strip's chunk stays in L1 across the panels (no faster
 * than whole K), software prefetch of the next strip spread over the panel calls
 * (5-15% slower).
 */
#include "../common.h"

#include <stdint.h>
#include <stdlib.h>

#define WANT_TILES 8
#define A_FLOATS (64 * 1024) /* a row block's packed A: 256 KiB, L2-resident */

struct dyd_f32gemm_op {
  const dyd_f32_bundle *b;
  dyd_f32_act act;
  size_t k, n;
  size_t kb;     /* K the kernel runs: k, plus 1 with a bias (B's row k, A's column of ones) */
  size_t strips; /* ceil(n / NR) */
  float *packed; /* [strips][kb][NR] */
  char name[96];
};

/* How m rows split into tiles: rb row blocks of mc rows (a multiple of MR), cb column
 * blocks of spb strips; tile t is row block t / cb, column block t % cb. */
typedef struct {
  size_t mc, rb, spb, cb;
} tiling;

static tiling plan(const dyd_f32gemm_op *op, size_t m) {
  const size_t mr = op->b->mr, panels = DYD_DIV_UP(m, mr);
  tiling t;
  const size_t max_panels = DYD_MAX((size_t)A_FLOATS / (op->kb * mr), 1);
  t.rb = DYD_DIV_UP(panels, max_panels);
  t.spb = DYD_DIV_UP(op->strips, DYD_DIV_UP((size_t)WANT_TILES, t.rb));
  t.cb = DYD_DIV_UP(op->strips, t.spb); /* 12 strips for 8 tiles: 6 blocks of 2 */
  if (t.rb * t.cb < WANT_TILES) t.rb = DYD_MIN(panels, DYD_DIV_UP((size_t)WANT_TILES, t.cb));
  const size_t ppb = DYD_DIV_UP(panels, t.rb); /* balanced: 128 rows as 64 + 64, not 120 + 8 */
  t.mc = ppb * mr;
  t.rb = DYD_DIV_UP(panels, ppb);
  return t;
}

/* ---- create ------------------------------------------------------------------------------ */

static bool check_desc(const dyd_f32gemm_desc *d, char *err, size_t err_len) {
  if (d == NULL) return dyd_set_error(err, err_len, "no descriptor"), false;
  if (d->k == 0 || d->n == 0) return dyd_set_error(err, err_len, "empty B (k %zu, n %zu)", d->k, d->n), false;
  if (d->b == NULL) return dyd_set_error(err, err_len, "no B"), false;
  if (d->k > (1u << 24)) return dyd_set_error(err, err_len, "reduction length %zu above 2^24", d->k), false;
  if (d->activation < DYD_F32_ACT_NONE || d->activation > DYD_F32_ACT_HARDSWISH)
    return dyd_set_error(err, err_len, "unknown activation %d", (int)d->activation), false;
  if ((d->activation == DYD_F32_ACT_CLAMP || d->activation == DYD_F32_ACT_LEAKY_CLAMP) &&
      !(d->activation_min <= d->activation_max))
    return dyd_set_error(err, err_len, "clamp bounds %g > %g or NaN", (double)d->activation_min,
                         (double)d->activation_max),
           false;
  return true;
}

dyd_f32gemm_op *dyd_f32gemm_create_for_isa(const dyd_f32gemm_desc *d, dyd_isa isa, char *err,
                                           size_t err_len) {
  if (!check_desc(d, err, err_len)) return NULL;
  dyd_f32gemm_op *op = calloc(1, sizeof *op);
  if (op == NULL) goto oom;
  op->b = dyd_f32_bundle_for(isa);
  op->act = (dyd_f32_act){d->activation, d->activation_min, d->activation_max, d->activation_alpha, d->activation_beta};
  op->k = d->k;
  op->n = d->n;
  op->kb = d->k + (d->bias != NULL);
  const size_t nr = op->b->nr;
  op->strips = DYD_DIV_UP(d->n, nr);
  op->packed = aligned_alloc(64, DYD_ROUND_UP(sizeof(float) * op->strips * op->kb * nr, 64));
  if (op->packed == NULL) goto oom;
  for (size_t s = 0; s < op->strips; s++) {
    const size_t j0 = s * nr, nc = DYD_MIN(nr, d->n - j0);
    float *strip = op->packed + s * op->kb * nr;
    for (size_t p = 0; p < op->kb; p++) {
      const float *src = p < d->k ? d->b + p * d->n + j0 : d->bias + j0;
      memcpy(strip + p * nr, src, nc * sizeof(float));
      for (size_t j = nc; j < nr; j++) strip[p * nr + j] = 0.0f;
    }
  }
  snprintf(op->name, sizeof op->name, "%s", op->b->gemm_name);
  return op;
oom:
  dyd_f32gemm_destroy(op);
  dyd_set_error(err, err_len, "out of memory");
  return NULL;
}

dyd_f32gemm_op *dyd_f32gemm_create(const dyd_f32gemm_desc *desc, char *err, size_t err_len) {
  return dyd_f32gemm_create_for_isa(desc, dyd_active_isa(), err, err_len);
}

void dyd_f32gemm_destroy(dyd_f32gemm_op *op) {
  if (op == NULL) return;
  free(op->packed);
  free(op);
}

const char *dyd_f32gemm_kernel_name(const dyd_f32gemm_op *op) { return op->name; }

size_t dyd_f32gemm_tile_count(const dyd_f32gemm_op *op, size_t m) {
  if (m == 0) return 0;
  const tiling t = plan(op, m);
  return t.rb * t.cb;
}

size_t dyd_f32gemm_workspace_size(const dyd_f32gemm_op *op, size_t m) {
  if (m == 0) return 0;
  return plan(op, m).mc * op->kb * sizeof(float) + 64;
}

/* ---- run ---------------------------------------------------------------------------------- */

/* Rows [r0, r0 + rows) of A as panels [kb][MR] (the bundle's vector transpose): the
 * ones column at k (with a bias), rows past `rows` zero. */
static void pack_rows(const dyd_f32gemm_op *op, const float *a, size_t lda, size_t r0, size_t rows,
                      float *ws) {
  const size_t mr = op->b->mr, k = op->k, kb = op->kb;
  for (size_t p = 0; p * mr < rows; p++) {
    const size_t pr = DYD_MIN(mr, rows - p * mr);
    float *panel = ws + p * kb * mr;
    op->b->pack(pr, k, a + (r0 + p * mr) * lda, lda, panel);
    if (kb > k)
      for (size_t i = 0; i < mr; i++) panel[k * mr + i] = i < pr ? 1.0f : 0.0f;
  }
}

void dyd_f32gemm_run(const dyd_f32gemm_op *op, size_t m, const float *a, size_t lda, float *y,
                     size_t ldy, size_t tile_start, size_t tile_count, void *workspace) {
  if (m == 0 || tile_count == 0) return;
  float *ws = (float *)DYD_ROUND_UP((uintptr_t)workspace, 64);
  const tiling tl = plan(op, m);
  const dyd_f32_bundle *b = op->b;
  const size_t mr = b->mr, nr = b->nr, kb = op->kb;
  size_t packed_block = SIZE_MAX;
  for (size_t t = tile_start; t < tile_start + tile_count; t++) {
    const size_t rblk = t / tl.cb, cblk = t % tl.cb;
    const size_t r0 = rblk * tl.mc, rows = DYD_MIN(tl.mc, m - r0);
    if (rblk != packed_block) pack_rows(op, a, lda, r0, rows, ws);
    packed_block = rblk;
    const size_t s1 = DYD_MIN(op->strips, (cblk + 1) * tl.spb);
    for (size_t s = cblk * tl.spb; s < s1; s++) {
      const size_t j0 = s * nr, nc = DYD_MIN(nr, op->n - j0);
      const float *strip = op->packed + s * kb * nr;
      for (size_t p = 0; p * mr < rows; p++)
        b->gemm(DYD_MIN(mr, rows - p * mr), nc, kb, ws + p * kb * mr, NULL, strip, nr, NULL,
                y + (r0 + p * mr) * ldy + j0, ldy, 0, &op->act);
    }
  }
}
