/*
 * The qgemm op: uint8 x int8 matrix products with exact int32 sums and a float32 (or
 * int32) output, for ONNX dynamic quantization (DynamicQuantizeLinear -> MatMulInteger
 * -> Cast -> Mul -> Add). Create validates, picks a bundle and packs B into panels
 * of NR columns with their column sums; run walks tiles of (row block) x (panel group).
 *
 * Zero points never enter the inner loop. The kernels compute the hardware dot
 * sum a b, and the output stage adds per column -za colsum[n] and per element
 * zb[n] (k za - rowsum[m]), which expands sum (a - za)(b - zb). The row sums are
 * computed per call of rows, only when some zb is non-zero (ONNX Runtime's
 * quantize_dynamic writes symmetric weights, zb = 0). Everything wraps modulo 2^32:
 * the true sum fits int32 (k is bounded at create), so the wrapped result is exact.
 *
 * Tiling is chosen for small row counts (transformers at batch 1: 11-128 rows): a
 * tile is a block of up to ~64 rows times a group of panels, and the groups are
 * sized so that a call has about 8 tiles, which gives 2 threads work even at 11
 * rows. Within a tile the rows of one micro-tile (MR rows, a few KiB) stay in L1
 * while the tile's panels stream from L2.
 */
#include "../common.h"

#include <stdlib.h>

/* k * 255 * 256 must stay below 2^31: (a - za) and (b - zb) are at most 255 in
 * magnitude, so |acc| <= k * 255 * 255 < 2^31 with a margin. */
#define MAX_K ((size_t)2147483648u / (255u * 256u))
#define ROW_BLOCK 64
#define TARGET_TILES 8
#define MAX_MR 16 /* bounds of every bundle's tile: run() keeps per-call arrays on the stack */
#define MAX_NR 64

struct dyd_qgemm_op {
  const dyd_qgemm_bundle *b;
  size_t k, n, kp, panels, panel_bytes;
  bool any_zb;
  uint8_t *packed; /* 64-byte aligned inside alloc */
  void *alloc;
  char name[96];
};

static bool check_desc(const dyd_qgemm_desc *d, char *err, size_t err_len) {
  if (d == NULL) {
    dyd_set_error(err, err_len, "no descriptor");
    return false;
  }
  if (d->k == 0 || d->n == 0) {
    dyd_set_error(err, err_len, "k and n must be non-zero (k %zu, n %zu)", d->k, d->n);
    return false;
  }
  if (d->k > MAX_K) {
    dyd_set_error(err, err_len, "k %zu above %zu: int32 sums of (a - za)(b - zb) could overflow", d->k,
                  MAX_K);
    return false;
  }
  if (d->n > ((size_t)1 << 31) / 4) { /* keeps every size below in range */
    dyd_set_error(err, err_len, "n %zu too large", d->n);
    return false;
  }
  if (d->b == NULL) {
    dyd_set_error(err, err_len, "no b");
    return false;
  }
  if (d->b_zero_point != NULL)
    for (size_t j = 0; j < d->n; j++)
      if (d->b_zero_point[j] < -128 || d->b_zero_point[j] > 127) {
        dyd_set_error(err, err_len, "b_zero_point[%zu] = %d outside [-128, 127]", j, (int)d->b_zero_point[j]);
        return false;
      }
  return true;
}

static void pack_panel(const dyd_qgemm_op *op, const dyd_qgemm_desc *d, size_t p, uint8_t *out) {
  const size_t nr = op->b->nr, kr = op->b->kr, n0 = p * nr, nc = DYD_MIN(nr, d->n - n0);
  int32_t *colsum = (int32_t *)(void *)out, *zb = colsum + nr;
  int8_t *w = (int8_t *)(zb + nr);
  for (size_t j = 0; j < nr; j++) {
    int32_t s = 0;
    if (j < nc)
      for (size_t k = 0; k < d->k; k++) s += d->b[k * d->n + n0 + j];
    colsum[j] = s;
    zb[j] = j < nc && d->b_zero_point != NULL ? d->b_zero_point[n0 + j] : 0;
  }
  for (size_t k = 0; k < op->kp; k++)
    for (size_t j = 0; j < nr; j++)
      w[(k / kr) * nr * kr + j * kr + k % kr] = k < d->k && j < nc ? d->b[k * d->n + n0 + j] : 0;
}

static const dyd_qgemm_bundle *select_bundle(dyd_isa isa) {
  const dyd_qgemm_bundle *b = dyd_registry_select(DYD_FAMILY_QGEMM, dyd_isa_supported(isa), NULL, NULL);
  return b == NULL || b->mr > MAX_MR || b->nr > MAX_NR ? &dyd_qgemm_bundle_scalar : b;
}

/* Sizes and name of an op for bundle b; the caller provides op->packed, then packs. */
static void setup(dyd_qgemm_op *op, const dyd_qgemm_desc *d, const dyd_qgemm_bundle *b) {
  op->b = b;
  op->k = d->k, op->n = d->n;
  op->kp = DYD_ROUND_UP(d->k, b->kr);
  op->panels = DYD_DIV_UP(d->n, b->nr);
  op->panel_bytes = DYD_ROUND_UP(DYD_QGEMM_HEADER(b->nr) + op->kp * b->nr, 64);
  snprintf(op->name, sizeof op->name, "dyd_qu8_qc8w_qgemm_fp32_ukernel_%ux%uc%u__%s", (unsigned)b->mr,
           (unsigned)b->nr, (unsigned)b->kr, b->isa_suffix);
}

static void pack(dyd_qgemm_op *op, const dyd_qgemm_desc *d) {
  for (size_t p = 0; p < op->panels; p++) pack_panel(op, d, p, op->packed + p * op->panel_bytes);
  op->any_zb = false;
  if (d->b_zero_point != NULL)
    for (size_t j = 0; j < d->n; j++) op->any_zb |= d->b_zero_point[j] != 0;
}

dyd_qgemm_op *dyd_qgemm_create_for_isa(const dyd_qgemm_desc *d, dyd_isa isa, char *err, size_t err_len) {
  if (!check_desc(d, err, err_len)) return NULL;
  dyd_qgemm_op *op = calloc(1, sizeof *op);
  if (op == NULL) {
    dyd_set_error(err, err_len, "out of memory");
    return NULL;
  }
  setup(op, d, select_bundle(isa));
  op->alloc = malloc(op->panels * op->panel_bytes + 64);
  if (op->alloc == NULL) {
    free(op);
    dyd_set_error(err, err_len, "out of memory");
    return NULL;
  }
  op->packed = (uint8_t *)(((uintptr_t)op->alloc + 63) & ~(uintptr_t)63);
  pack(op, d);
  return op;
}

/* The op header, rounded to 64 bytes, then the panels. */
static size_t header_bytes(void) { return DYD_ROUND_UP(sizeof(dyd_qgemm_op), 64); }

size_t dyd_qgemm_inplace_size(size_t k, size_t n) {
  const dyd_qgemm_bundle *b = select_bundle(dyd_active_isa());
  const size_t kp = DYD_ROUND_UP(k, b->kr), panels = DYD_DIV_UP(n, b->nr);
  return 64 + header_bytes() + panels * DYD_ROUND_UP(DYD_QGEMM_HEADER(b->nr) + kp * b->nr, 64);
}

dyd_qgemm_op *dyd_qgemm_init_in(const dyd_qgemm_desc *d, void *memory, size_t bytes) {
  if (!check_desc(d, NULL, 0) || memory == NULL || bytes < dyd_qgemm_inplace_size(d->k, d->n)) return NULL;
  dyd_qgemm_op *op = (dyd_qgemm_op *)(((uintptr_t)memory + 63) & ~(uintptr_t)63);
  memset(op, 0, sizeof *op);
  setup(op, d, select_bundle(dyd_active_isa()));
  op->packed = (uint8_t *)op + header_bytes();
  pack(op, d);
  return op;
}

dyd_qgemm_op *dyd_qgemm_create(const dyd_qgemm_desc *d, char *err, size_t err_len) {
  return dyd_qgemm_create_for_isa(d, dyd_active_isa(), err, err_len);
}

void dyd_qgemm_destroy(dyd_qgemm_op *op) {
  if (op == NULL) return;
  free(op->alloc);
  free(op);
}

const char *dyd_qgemm_kernel_name(const dyd_qgemm_op *op) { return op->name; }

size_t dyd_qgemm_packed_size(const dyd_qgemm_op *op) { return op->panels * op->panel_bytes; }

/* ---- tiling ---------------------------------------------------------------------------- */

typedef struct {
  size_t rows_per_block, row_blocks, panels_per_group, groups;
} tiling;

static tiling tiles_for(const dyd_qgemm_op *op, size_t m) {
  tiling t;
  const size_t mr = op->b->mr;
  t.rows_per_block = DYD_DIV_UP(ROW_BLOCK, mr) * mr;
  t.row_blocks = DYD_DIV_UP(m, t.rows_per_block);
  t.panels_per_group = DYD_MAX((size_t)1, DYD_DIV_UP(op->panels * t.row_blocks, TARGET_TILES));
  t.panels_per_group = DYD_MIN(t.panels_per_group, op->panels);
  t.groups = DYD_DIV_UP(op->panels, t.panels_per_group);
  return t;
}

size_t dyd_qgemm_tile_count(const dyd_qgemm_op *op, size_t m) {
  const tiling t = tiles_for(op, m);
  return t.row_blocks * t.groups;
}

static size_t prepared_stride(const dyd_qgemm_op *op) {
  return DYD_ROUND_UP(op->kp * op->b->prepared_bytes, 64);
}

size_t dyd_qgemm_workspace_size(const dyd_qgemm_op *op, size_t m) {
  if (op->b->prepare_a == NULL || m == 0) return 0;
  return op->b->mr * prepared_stride(op) + 64;
}

static void run(const dyd_qgemm_op *op, size_t m, const uint8_t *a, size_t lda, int32_t za,
                const float *scale, const float *bias, int out, void *y, size_t ldy, size_t tile_start,
                size_t tile_count, void *workspace) {
  const dyd_qgemm_bundle *b = op->b;
  const tiling t = tiles_for(op, m);
  const size_t mr_max = b->mr, nr = b->nr, k = op->k;
  uint8_t *prepared = (uint8_t *)(((uintptr_t)workspace + 63) & ~(uintptr_t)63);
  const size_t pstride = prepared_stride(op);
  const dyd_qgemm_ukernel_fn kernel = b->ukernel[out];
  int32_t corr[MAX_MR];
  _Alignas(64) float scale_pad[MAX_NR], bias_pad[MAX_NR];
  for (size_t tile = tile_start; tile < tile_start + tile_count; tile++) {
    const size_t r0 = tile / t.groups * t.rows_per_block, r1 = DYD_MIN(m, r0 + t.rows_per_block);
    const size_t p0 = tile % t.groups * t.panels_per_group, p1 = DYD_MIN(op->panels, p0 + t.panels_per_group);
    /* balanced micro-tiles (11 rows as 6 + 5, not 8 + 3): a call of few rows has too
     * few independent accumulator chains to hide the dot product's latency */
    const size_t calls = DYD_DIV_UP(r1 - r0, mr_max), rows_small = (r1 - r0) / calls;
    const size_t calls_big = (r1 - r0) % calls;
    for (size_t call = 0, i = r0; call < calls; call++) {
      const size_t mr = rows_small + (call < calls_big);
      const uint8_t *ai = a + i * lda;
      dyd_qgemm_args args = {za, NULL, NULL, NULL};
      if (op->any_zb) {
        int32_t sums[MAX_MR];
        b->rowsum(mr, k, ai, lda, sums);
        /* k za - rowsum, wrapping like the kernels (both terms fit int32 anyway) */
        for (size_t r = 0; r < mr; r++) corr[r] = (int32_t)((uint32_t)k * (uint32_t)za - (uint32_t)sums[r]);
        args.row_corr = corr;
      }
      size_t a_stride = lda;
      if (b->prepare_a != NULL) {
        b->prepare_a(mr, k, ai, lda, prepared, pstride);
        ai = prepared, a_stride = pstride;
      }
      for (size_t p = p0; p < p1; p++) {
        const size_t n0 = p * nr, nc = DYD_MIN(nr, op->n - n0);
        if (out != DYD_QGEMM_OUT_S32) {
          args.scale = scale + n0, args.bias = bias != NULL ? bias + n0 : NULL;
          if (nc < nr) { /* kernels read NR of each */
            for (size_t j = 0; j < nr; j++) {
              scale_pad[j] = j < nc ? scale[n0 + j] : 0.0f;
              bias_pad[j] = j < nc && bias != NULL ? bias[n0 + j] : 0.0f;
            }
            args.scale = scale_pad, args.bias = bias != NULL ? bias_pad : NULL;
          }
        }
        kernel(mr, nc, k, ai, a_stride, op->packed + p * op->panel_bytes, &args,
               (uint8_t *)y + (i * ldy + n0) * 4, ldy);
      }
      i += mr;
    }
  }
}

void dyd_qgemm_run_f32(const dyd_qgemm_op *op, size_t m, const uint8_t *a, size_t lda, int32_t a_zero_point,
                       const float *scale, const float *bias, float *y, size_t ldy, size_t tile_start,
                       size_t tile_count, void *workspace) {
  run(op, m, a, lda, a_zero_point, scale, bias, bias != NULL ? DYD_QGEMM_OUT_F32_BIAS : DYD_QGEMM_OUT_F32, y,
      ldy, tile_start, tile_count, workspace);
}

void dyd_qgemm_run_s32(const dyd_qgemm_op *op, size_t m, const uint8_t *a, size_t lda, int32_t a_zero_point,
                       int32_t *y, size_t ldy, size_t tile_start, size_t tile_count, void *workspace) {
  run(op, m, a, lda, a_zero_point, NULL, NULL, DYD_QGEMM_OUT_S32, y, ldy, tile_start, tile_count, workspace);
}
