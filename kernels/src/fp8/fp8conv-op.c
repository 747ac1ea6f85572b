/*
 * The FP8 conv operator (W4A8): validation, bundle choice, packing and tiles.
 *
 * Why this layout. A weight is a 4-bit code whose FP8 value comes from a
 * 16-entry table of its (output channel, group), so decoding is a table lookup
 * with one table per lane group: on x86 a permute (VPERMPS/VPERMW) over the
 * table held in one register, on NEON a TBL. That works when the lanes of a
 * vector share a table, so kernels vectorise along K, not along output
 * channels: K is cut into blocks of 32 elements that each lie inside one table
 * group (K' below: groups padded to 32, zero weights/activations in the gaps),
 * and per block a column stores 16 bytes, element i in the low nibble of byte i
 * and element i + 16 in the high nibble (code q + 8), so one byte vector gives
 * two 16-element vectors with an AND and a shift. Tables stay 16 E4M3 bytes
 * (what was given) and are decoded when a column's block changes table: once
 * per column and call with one table per channel (group_size 0).
 *
 * Three paths, as for the integer conv:
 *   gemm   1x1, stride 1, no padding: each tile converts its input rows to the
 *          bundle's compute format (float32, bfloat16, float16: exact for every
 *          E4M3 value) in the K' layout (or reuses them: consecutive tiles of a
 *          call that share a row block), then runs the microkernel per panel;
 *   igemm  any other conv: the same rows come from an im2col of the taps;
 *   dwconv one input channel per output channel: weights stored as E4M3 codes;
 *          a tile (rows x a block of channels) converts the input window it
 *          needs to a zero-padded buffer and decodes its channels' weights to
 *          float, then the kernel runs along output rows, vectorised over
 *          channels.
 * Nothing here allocates at run time; tiles never share output bytes.
 */
#include "../common.h"

#include <math.h>
#include <stdlib.h>

enum { F8_GEMM, F8_IGEMM, F8_DW };

struct dyd_fp8conv_op {
  dyd_conv_geometry g;
  const dyd_f8_bundle *b;
  int path;
  dyd_f8_out out;
  size_t out_elem;             /* 1 (E4M3) or 4 (float32) */
  size_t icpg, ocpg, taps, k;
  /* K' layout: tap t starts at t * tap_stride; with group_size > 0 group j of a
   * tap starts j * gsp later (gsp = group size rounded up to 32) */
  size_t gs, gsp, ngroups, tap_stride, kp, kb;
  bool dense;                  /* group_size 0: taps packed back to back, no gaps */
  bool pairs;                  /* the pair layout (common.h): K blocks of 2, panels of 32 */
  size_t kbu;                  /* K' block: DYD_F8_KB, or 2 in the pair layout */
  uint16_t *block_table;       /* [kb] table index within the channel, or NULL (all 0) */
  size_t tables_per_oc;
  uint8_t *tables;             /* [out_c][tables_per_oc][16] E4M3 (NULL in the pair layout) */
  uint8_t *ptables;            /* pair layout: [groups * panels][tables_per_oc][32][16] E4M3 */
  size_t dec_offset;           /* pair layout: workspace offset of the decoded panel */
  size_t a_bytes;              /* converted activations: bytes per element, and how */
  dyd_f8_convert_fn convert;
  /* dense im2col of few input channels (the stem): every code's converted form, so a
   * tap's handful of channels are copied from the table instead of a convert call */
  bool a_lut_on;
  _Alignas(16) uint8_t a_lut[256 * 4]; /* converted floats or bf16s are stored through typed pointers */
  /* dense, one group, dilation_w 1 and pixels packed (in_pixel_stride == in_c): a
   * kernel row's taps are one run of codes in the input and in the K' row */
  bool row_runs;
  float *scale, *bias;         /* [out_c] */
  uint8_t *weights;
  size_t weight_bytes;
  /* gemm paths */
  size_t panels, panel_bytes, m, mc, m_blocks, panels_per_tile, n_blocks, a_stride;
  /* depthwise path: weights as E4M3 codes, [channel block][tap][dw_cb] (codes past
   * out_c are 0x00 = 0.0), and dw_lut[code] = e4m3(code) * dw_w_mult */
  size_t dw_rows, dw_row_chunks, dw_cblocks, dw_win_w, dw_rows_in;
  float dw_lut[256];
  size_t workspace;
  char name[128];
};

/* ---- validation ----------------------------------------------------------------------------- */

static bool finite_f(float x) { return x == x && x < INFINITY && x > -INFINITY; }

static bool check_desc(const dyd_fp8conv_desc *d, char *err, size_t err_len) {
  const dyd_conv_geometry *g = &d->geometry;
  if (!dyd_check_conv_geometry(g, err, err_len)) return false;
  if (d->weights == NULL || d->tables == NULL || d->channel_scale == NULL) {
    dyd_set_error(err, err_len, "weights, tables and channel_scale are required");
    return false;
  }
  if (!finite_f(d->input_scale)) {
    dyd_set_error(err, err_len, "input_scale is not finite");
    return false;
  }
  if (d->output_fp8 && (!finite_f(d->output_scale) || !finite_f(1.0f / d->output_scale))) {
    dyd_set_error(err, err_len, "output_scale must be finite with a finite reciprocal (|scale| >= 2^-128)");
    return false;
  }
  if (d->out_min != d->out_min || d->out_max != d->out_max || d->out_min > d->out_max) {
    dyd_set_error(err, err_len, "clamp [%g, %g] empty or NaN", (double)d->out_min,
                  (double)d->out_max);
    return false;
  }
  const size_t icpg = g->in_c / g->groups, taps = (size_t)g->kernel_h * g->kernel_w;
  const size_t k = taps * icpg;
  if (k > (1u << 24)) {
    dyd_set_error(err, err_len, "reduction length %zu too large", k);
    return false;
  }
  for (size_t i = 0; i < k * g->out_c; i++)
    if (d->weights[i] < -8 || d->weights[i] > 7) {
      dyd_set_error(err, err_len, "weight %d of output channel %zu (element %zu) outside [-8, 7]",
                    d->weights[i], i / k, i % k);
      return false;
    }
  const size_t ngroups = d->group_size ? DYD_DIV_UP(icpg, d->group_size) : 0;
  const size_t tables = g->out_c * (d->group_size ? taps * ngroups : 1);
  for (size_t i = 0; i < tables * 16; i++)
    if ((d->tables[i] & 0x7F) == 0x7F) {
      dyd_set_error(err, err_len, "table %zu entry %zu is NaN", i / 16, i % 16);
      return false;
    }
  for (size_t oc = 0; oc < g->out_c; oc++)
    if (!finite_f(d->channel_scale[oc]) || (d->bias && !finite_f(d->bias[oc]))) {
      dyd_set_error(err, err_len, "channel %zu: scale or bias not finite", oc);
      return false;
    }
  return true;
}

/* ---- bundle choice ----------------------------------------------------------------------------- */

const dyd_f8_bundle *dyd_f8_bundle_for(dyd_isa isa) {
  const dyd_f8_bundle *b = dyd_registry_select(DYD_FAMILY_FP8, isa, NULL, NULL);
  return b != NULL ? b : &dyd_f8_bundle_scalar;
}

/* The v-th row of exactly level `isa` that the CPU runs; `take` counts it as chosen. */
static const dyd_f8_bundle *variant(dyd_isa isa, size_t v, bool take) {
  if (dyd_isa_supported(isa) != isa) return NULL;
  for (size_t i = 0; i < dyd_registry_row_count(DYD_FAMILY_FP8); i++) {
    if (dyd_registry_row(DYD_FAMILY_FP8, i).level != isa || !dyd_registry_runnable(DYD_FAMILY_FP8, i)) continue;
    if (v-- == 0) return take ? dyd_registry_take(DYD_FAMILY_FP8, i) : &dyd_f8_bundle_scalar;
  }
  return NULL;
}

size_t dyd_fp8conv_variant_count(dyd_isa isa) {
  size_t n = 0;
  while (variant(isa, n, false) != NULL) n++;
  return n;
}

/* ---- K' layout and packing ------------------------------------------------------------------ */

/* Position in K' of element (tap t, input channel i). */
static size_t kpos(const dyd_fp8conv_op *op, size_t t, size_t i) {
  if (op->dense) return t * op->tap_stride + i;
  return t * op->tap_stride + (i / op->gs) * op->gsp + i % op->gs;
}

static void layout(dyd_fp8conv_op *op, uint32_t group_size) {
  op->gs = group_size;
  op->dense = group_size == 0;
  if (op->dense) {
    op->ngroups = 1;
    op->tables_per_oc = 1;
    op->tap_stride = op->icpg;
    op->kp = DYD_ROUND_UP(op->taps * op->icpg, op->kbu);
  } else {
    op->gsp = DYD_ROUND_UP(op->gs, op->kbu);
    op->ngroups = DYD_DIV_UP(op->icpg, op->gs);
    const size_t last = op->icpg - (op->ngroups - 1) * op->gs;
    op->tap_stride = (op->ngroups - 1) * op->gsp + DYD_ROUND_UP(last, op->kbu);
    op->tables_per_oc = op->taps * op->ngroups;
    op->kp = op->taps * op->tap_stride;
  }
  op->kb = op->kp / op->kbu;
}

/* Table of each K' block (the tail past the last tap, if any, is padding: table 0). */
static void fill_block_table(dyd_fp8conv_op *op) {
  for (size_t b = 0; b < op->kb; b++) {
    const size_t pos = b * op->kbu, t = pos / op->tap_stride;
    op->block_table[b] = t >= op->taps ? 0 : (uint16_t)(t * op->ngroups + pos % op->tap_stride / op->gsp);
  }
}

static void pack_gemm(dyd_fp8conv_op *op, const int8_t *w) {
  const size_t nr = op->b->nr;
  memset(op->weights, 0x88, op->weight_bytes); /* code 0 everywhere, padding included */
  for (size_t grp = 0; grp < op->g.groups; grp++)
    for (size_t n = 0; n < op->ocpg; n++) {
      const size_t oc = grp * op->ocpg + n, p = n / nr, j = n % nr;
      uint8_t *panel = op->weights + (grp * op->panels + p) * op->panel_bytes;
      const int8_t *src = w + oc * op->k;
      for (size_t t = 0; t < op->taps; t++)
        for (size_t i = 0; i < op->icpg; i++) {
          const size_t pos = kpos(op, t, i), e = pos % DYD_F8_KB;
          uint8_t *byte = panel + ((pos / DYD_F8_KB) * nr + j) * 16 + e % 16;
          const uint8_t q = (uint8_t)(src[t * op->icpg + i] + 8);
          *byte = e < 16 ? (uint8_t)((*byte & 0xF0) | q) : (uint8_t)((*byte & 0x0F) | q << 4);
        }
    }
}

/* Pair layout: codes per (panel, pair, column), tables re-laid per panel. */
static void pack_pairs(dyd_fp8conv_op *op, const int8_t *w, const uint8_t *tables) {
  const size_t nr = DYD_F8_PNR, tpo = op->tables_per_oc;
  memset(op->weights, 0x88, op->g.groups * op->panels * op->panel_bytes);
  memset(op->ptables, 0, op->g.groups * op->panels * tpo * nr * 16);
  for (size_t grp = 0; grp < op->g.groups; grp++)
    for (size_t n = 0; n < op->ocpg; n++) {
      const size_t oc = grp * op->ocpg + n, p = n / nr, j = n % nr;
      uint8_t *panel = op->weights + (grp * op->panels + p) * op->panel_bytes;
      const int8_t *src = w + oc * op->k;
      for (size_t t = 0; t < op->taps; t++)
        for (size_t i = 0; i < op->icpg; i++) {
          const size_t pos = kpos(op, t, i);
          uint8_t *byte = panel + (pos / 2) * nr + j;
          const uint8_t q = (uint8_t)(src[t * op->icpg + i] + 8);
          *byte = pos % 2 ? (uint8_t)((*byte & 0x0F) | q << 4) : (uint8_t)((*byte & 0xF0) | q);
        }
      uint8_t *pt = op->ptables + (grp * op->panels + p) * tpo * nr * 16;
      for (size_t t = 0; t < tpo; t++) memcpy(pt + (t * nr + j) * 16, tables + (oc * tpo + t) * 16, 16);
    }
}

/* E4M3 (not NaN) -> float, exact, inline: normal codes are the float's top bits with
 * the exponent rebiased (+120), subnormals m * 2^-9. */
static inline float f8_value(uint8_t c) {
  const uint32_t mag = c & 0x7Fu;
  float f;
  if (mag >= 8) {
    const uint32_t u = (mag << 20) + (120u << 23);
    memcpy(&f, &u, sizeof f);
  } else {
    f = (float)mag * 0x1p-9f;
  }
  return c & 0x80 ? -f : f;
}

/* Depthwise: each weight's E4M3 code through its table, laid out per channel block and
 * tap so a tile decodes whole vectors. A byte per weight instead of 4 bits and a table:
 * decoding 4-bit codes through per-channel tables cost more per tile than the
 * convolution itself on the small late layers, and with one table per channel the
 * codes are smaller anyway (3x3: 9 bytes a channel against 5 + 16). */
static void pack_dw(dyd_fp8conv_op *op, const int8_t *w, size_t cb) {
  memset(op->weights, 0, op->weight_bytes);
  const size_t tstep = op->gs ? 16 : 0;
  for (size_t c = 0; c < op->g.out_c; c++) {
    const uint8_t *tab = op->tables + c * op->tables_per_oc * 16;
    for (size_t t = 0; t < op->taps; t++)
      op->weights[((c / cb) * op->taps + t) * cb + c % cb] = tab[t * tstep + (size_t)(w[c * op->taps + t] + 8)];
  }
}

/* ---- create ------------------------------------------------------------------------------------ */

static dyd_fp8conv_op *create(const dyd_fp8conv_desc *d, const dyd_f8_bundle *b, char *err,
                              size_t err_len) {
  if (d == NULL) {
    dyd_set_error(err, err_len, "no descriptor");
    return NULL;
  }
  if (!check_desc(d, err, err_len)) return NULL;
  dyd_fp8conv_op *op = calloc(1, sizeof *op);
  if (op == NULL) goto oom;
  const dyd_conv_geometry *g = &d->geometry;
  op->g = *g;
  op->b = b;
  op->out = (dyd_f8_out){d->out_min, d->out_max, d->output_scale, d->output_fp8 != 0,
                        d->output_fp8 ? 1.0f / d->output_scale : 0.0f};
  op->out_elem = op->out.output_fp8 ? 1 : 4;
  op->icpg = g->in_c / g->groups;
  op->ocpg = g->out_c / g->groups;
  op->taps = (size_t)g->kernel_h * g->kernel_w;
  op->k = op->taps * op->icpg;
  op->m = (size_t)g->batch * g->out_h * g->out_w;
  op->scale = malloc(g->out_c * sizeof(float));
  op->bias = calloc(g->out_c, sizeof(float));
  if (op->scale == NULL || op->bias == NULL) goto oom;
  for (size_t oc = 0; oc < g->out_c; oc++) {
    op->scale[oc] = d->input_scale * d->channel_scale[oc];
    if (d->bias) op->bias[oc] = d->bias[oc];
  }
  const bool dw = op->icpg == 1 && op->ocpg == 1;
  /* the pair layout wherever the bundle has it and there are rows enough (the stem
   * too, now that its im2col copies whole kernel rows: 0.49 ms against 1.47 ms on the
   * K-lane kernel) */
  op->pairs = !dw && b->pgemm != NULL && op->m >= DYD_F8_PAIR_MIN_M;
  op->kbu = op->pairs ? 2 : DYD_F8_KB;
  layout(op, d->group_size);
  const size_t ntables = g->out_c * op->tables_per_oc;
  op->tables = malloc(ntables * 16);
  if (op->tables == NULL) goto oom;
  memcpy(op->tables, d->tables, ntables * 16);

  if (dw) {
    op->path = F8_DW;
    const size_t cb = b->dw_cb;
    op->dw_cblocks = DYD_DIV_UP(g->out_c, cb);
    op->weight_bytes = op->dw_cblocks * op->taps * cb;
    op->weights = malloc(op->weight_bytes);
    if (op->weights == NULL) goto oom;
    pack_dw(op, d->weights, cb);
    free(op->tables);
    op->tables = NULL;
    for (int c = 0; c < 256; c++) op->dw_lut[c] = f8_value((uint8_t)c) * b->dw_w_mult;
    /* about 64 output pixels per tile, so the per-tile setup (weights decoded, the
     * input window converted) is spread over enough work */
    op->dw_rows = DYD_MIN(DYD_DIV_UP(64, (size_t)g->out_w), (size_t)g->out_h);
    op->dw_row_chunks = DYD_DIV_UP(g->out_h, op->dw_rows);
    op->dw_win_w = (size_t)(g->out_w - 1) * g->stride_w + (size_t)(g->kernel_w - 1) * g->dilation_w + 1;
    op->dw_rows_in = (op->dw_rows - 1) * g->stride_h + (size_t)(g->kernel_h - 1) * g->dilation_h + 1;
    op->workspace = DYD_ROUND_UP(op->taps * cb * sizeof(float), 64) +
                    DYD_ROUND_UP(op->dw_rows_in * op->dw_win_w * cb * b->dw_in_bytes, 64);
    snprintf(op->name, sizeof op->name, "dyd_qf8_qb4w_dwconv_fp32_ukernel_upc%u__%s", b->dw_cb,
             b->dw_suffix ? b->dw_suffix : b->isa_suffix);
    return op;
  }

  const bool direct = g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 &&
                      g->stride_w == 1 && g->pad_top == 0 && g->pad_left == 0 &&
                      g->out_h == g->in_h && g->out_w == g->in_w;
  op->path = direct ? F8_GEMM : F8_IGEMM;
  if (!op->dense) {
    op->block_table = malloc(op->kb * sizeof(uint16_t));
    if (op->block_table == NULL) goto oom;
    fill_block_table(op);
  }
  const size_t nr = op->pairs ? DYD_F8_PNR : b->nr;
  op->panels = DYD_DIV_UP(op->ocpg, nr);
  op->panel_bytes = op->pairs ? op->kb * nr : op->kb * nr * 16;
  op->weight_bytes = g->groups * op->panels * op->panel_bytes;
  op->weights = aligned_alloc(64, DYD_ROUND_UP(op->weight_bytes, 64));
  if (op->weights == NULL) goto oom;
  op->a_bytes = op->pairs ? b->pa_bytes : b->a_bytes;
  op->convert = op->pairs ? b->pconvert : b->convert;
  op->a_lut_on = op->dense && op->icpg < 16 && (op->a_bytes == 2 || op->a_bytes == 4);
  op->row_runs = op->dense && g->groups == 1 && g->dilation_w == 1 && g->in_pixel_stride == g->in_c &&
                 op->tap_stride == op->icpg;
  if (op->a_lut_on)
    for (int c = 0; c < 256; c++) {
      const uint8_t code = (uint8_t)c;
      op->convert(&code, 1, op->a_lut + (size_t)c * op->a_bytes);
    }
  op->a_stride = op->kp * op->a_bytes;
  if (op->pairs) {
    const size_t pt_bytes = g->groups * op->panels * op->tables_per_oc * nr * 16;
    op->ptables = malloc(pt_bytes);
    if (op->ptables == NULL) goto oom;
    pack_pairs(op, d->weights, op->tables);
    free(op->tables);
    op->tables = NULL;
    /* The decoded panel is reused by every row of a tile, so tiles are tall: about
     * 128 KiB of converted rows (L2), at least 64 and at most 512 rows. */
    size_t mc = DYD_MAX((size_t)131072 / op->a_stride, (size_t)64);
    mc = DYD_MIN(DYD_ROUND_UP(mc, b->pmr), (size_t)512);
    mc = DYD_MIN(mc, DYD_ROUND_UP(op->m, b->pmr));
    op->mc = mc;
    op->m_blocks = DYD_DIV_UP(op->m, mc);
    op->panels_per_tile = op->panels;
    if (op->m_blocks * g->groups < 8 && op->panels > 1) {
      const size_t want = DYD_DIV_UP(8, op->m_blocks * g->groups);
      op->panels_per_tile = DYD_MAX(DYD_DIV_UP(op->panels, want), 1);
    }
    op->n_blocks = DYD_DIV_UP(op->panels, op->panels_per_tile);
    op->dec_offset = DYD_ROUND_UP(op->mc * op->a_stride, 64);
    op->workspace = op->dec_offset + op->kp * DYD_F8_PNR * sizeof(float);
    snprintf(op->name, sizeof op->name, "dyd_qf8_qb4w_%s_fp32_ukernel_%ux%uc2__%s",
             direct ? "gemm" : "igemm", b->pmr, DYD_F8_PNR, b->p_suffix ? b->p_suffix : b->isa_suffix);
    op->weight_bytes += pt_bytes;
    return op;
  }
  pack_gemm(op, d->weights);
  /* about 32 KiB of converted rows per tile (they stay in L1/L2 while every panel
   * passes over them), a multiple of MR, at most 64 MR-blocks */
  size_t mc = 32768 / op->a_stride;
  mc = DYD_MAX(mc / b->mr, 1) * b->mr;
  mc = DYD_MIN(mc, (size_t)b->mr * 64);
  mc = DYD_MIN(mc, DYD_ROUND_UP(op->m, b->mr));
  op->mc = mc;
  op->m_blocks = DYD_DIV_UP(op->m, mc);
  /* few pixels (fully connected): split the output channels so threads get work */
  op->panels_per_tile = op->panels;
  if (op->m_blocks * g->groups < 8 && op->panels > 1) {
    const size_t want = DYD_DIV_UP(8, op->m_blocks * g->groups);
    op->panels_per_tile = DYD_MAX(DYD_DIV_UP(op->panels, want), 1);
  }
  op->n_blocks = DYD_DIV_UP(op->panels, op->panels_per_tile);
  op->workspace = op->mc * op->a_stride;
  snprintf(op->name, sizeof op->name, "dyd_qf8_qb4w_%s_fp32_ukernel_%ux%uc%u__%s",
           direct ? "gemm" : "igemm", b->mr, b->nr, DYD_F8_KB, b->isa_suffix);
  op->weight_bytes += ntables * 16;
  return op;
oom:
  dyd_fp8conv_destroy(op);
  dyd_set_error(err, err_len, "out of memory");
  return NULL;
}

dyd_fp8conv_op *dyd_fp8conv_create_for_isa(const dyd_fp8conv_desc *desc, dyd_isa isa, char *err,
                                           size_t err_len) {
  return create(desc, dyd_f8_bundle_for(isa), err, err_len);
}

dyd_fp8conv_op *dyd_fp8conv_create(const dyd_fp8conv_desc *desc, char *err, size_t err_len) {
  return dyd_fp8conv_create_for_isa(desc, dyd_active_isa(), err, err_len);
}

dyd_fp8conv_op *dyd_fp8conv_create_variant(const dyd_fp8conv_desc *desc, dyd_isa isa,
                                           size_t v, char *err, size_t err_len) {
  const dyd_f8_bundle *b = variant(isa, v, true);
  if (b == NULL) {
    dyd_set_error(err, err_len, "no FP8 variant %zu at ISA %s on this CPU", v, dyd_isa_name(isa));
    return NULL;
  }
  return create(desc, b, err, err_len);
}

void dyd_fp8conv_destroy(dyd_fp8conv_op *op) {
  if (op == NULL) return;
  free(op->scale);
  free(op->bias);
  free(op->tables);
  free(op->ptables);
  free(op->block_table);
  free(op->weights);
  free(op);
}

size_t dyd_fp8conv_tile_count(const dyd_fp8conv_op *op) {
  if (op->path == F8_DW) return (size_t)op->g.batch * op->dw_row_chunks * op->dw_cblocks;
  return op->g.groups * op->m_blocks * op->n_blocks;
}

size_t dyd_fp8conv_workspace_size(const dyd_fp8conv_op *op) { return op->workspace; }
const char *dyd_fp8conv_kernel_name(const dyd_fp8conv_op *op) { return op->name; }
size_t dyd_fp8conv_packed_weight_bytes(const dyd_fp8conv_op *op) { return op->weight_bytes; }

/* ---- run: gemm paths ----------------------------------------------------------------------- */

/* One input pixel's channels of group `grp` into K' row position of tap t. */
static inline void put_tap(const dyd_fp8conv_op *op, const uint8_t *src, size_t t, uint8_t *row) {
  const size_t ab = op->a_bytes;
  if (op->a_lut_on) {
    uint8_t *dst = row + t * op->tap_stride * ab;
    if (ab == 4) {
      for (size_t i = 0; i < op->icpg; i++) memcpy(dst + 4 * i, op->a_lut + 4 * (size_t)src[i], 4);
    } else {
      for (size_t i = 0; i < op->icpg; i++) memcpy(dst + 2 * i, op->a_lut + 2 * (size_t)src[i], 2);
    }
    return;
  }
  if (op->dense) {
    op->convert(src, op->icpg, row + t * op->tap_stride * ab);
    return;
  }
  for (size_t j = 0; j < op->ngroups; j++) {
    const size_t len = DYD_MIN(op->gs, op->icpg - j * op->gs);
    op->convert(src + j * op->gs, len, row + (t * op->tap_stride + j * op->gsp) * ab);
  }
}

/* Rows [m0, m0 + rows) of the (im2col) activation matrix of group `grp`, converted. */
static void fill_rows(const dyd_fp8conv_op *op, const uint8_t *in, size_t grp, size_t m0,
                      size_t rows, uint8_t *ws) {
  const dyd_conv_geometry *g = &op->g;
  const size_t ab = op->a_bytes, hw = (size_t)g->out_h * g->out_w;
  /* the output pixel of row m0, then stepped along (no divisions per row) */
  size_t n = m0 / hw, oy = m0 % hw / g->out_w, ox = m0 % g->out_w;
  for (size_t r = 0; r < rows; r++) {
    uint8_t *row = ws + r * op->a_stride;
    const size_t m = m0 + r;
    if (op->dense) { /* only the tail past the taps is padding */
      memset(row + op->k * ab, 0, (op->kp - op->k) * ab);
    } else {
      memset(row, 0, op->a_stride);
    }
    if (op->path == F8_GEMM) {
      put_tap(op, in + m * g->in_pixel_stride + grp * op->icpg, 0, row);
      continue;
    }
    if (r > 0 && ++ox == g->out_w) {
      ox = 0;
      if (++oy == g->out_h) oy = 0, n++;
    }
    const int64_t ix0 = (int64_t)(ox * g->stride_w) - g->pad_left;
    const bool whole_rows = op->row_runs && ix0 >= 0 && ix0 + g->kernel_w <= g->in_w;
    for (size_t ky = 0; ky < g->kernel_h; ky++) {
      const int64_t iy = (int64_t)(oy * g->stride_h + ky * g->dilation_h) - g->pad_top;
      if (whole_rows && iy >= 0 && iy < (int64_t)g->in_h) { /* one run of kernel_w pixels */
        op->convert(in + ((n * g->in_h + (size_t)iy) * g->in_w + (size_t)ix0) * g->in_pixel_stride,
                    g->kernel_w * op->icpg, row + ky * g->kernel_w * op->tap_stride * ab);
        continue;
      }
      for (size_t kx = 0; kx < g->kernel_w; kx++) {
        const size_t t = ky * g->kernel_w + kx;
        const int64_t ix = (int64_t)(ox * g->stride_w + kx * g->dilation_w) - g->pad_left;
        if (iy < 0 || iy >= (int64_t)g->in_h || ix < 0 || ix >= (int64_t)g->in_w) {
          if (op->dense) memset(row + t * op->tap_stride * ab, 0, op->icpg * ab);
          continue;
        }
        const uint8_t *src =
            in + ((n * g->in_h + (size_t)iy) * g->in_w + (size_t)ix) * g->in_pixel_stride +
            grp * op->icpg;
        put_tap(op, src, t, row);
      }
    }
  }
}

static void run_gemm_tile(const dyd_fp8conv_op *op, const uint8_t *in, uint8_t *out, size_t tile,
                          uint8_t *ws, bool rows_ready) {
  const dyd_f8_bundle *b = op->b;
  const size_t nb = tile % op->n_blocks, rest = tile / op->n_blocks;
  const size_t mb = rest % op->m_blocks, grp = rest / op->m_blocks;
  const size_t m0 = mb * op->mc, rows = DYD_MIN(op->mc, op->m - m0);
  const size_t p0 = nb * op->panels_per_tile, p1 = DYD_MIN(op->panels, p0 + op->panels_per_tile);
  if (!rows_ready) fill_rows(op, in, grp, m0, rows, ws);
  const size_t c_stride = (size_t)op->g.out_pixel_stride * op->out_elem;
  const uint8_t *tabs[16];
  for (size_t p = p0; p < p1; p++) {
    const uint8_t *w = op->weights + (grp * op->panels + p) * op->panel_bytes;
    const size_t n0 = p * b->nr, nc = DYD_MIN((size_t)b->nr, op->ocpg - n0);
    const size_t oc0 = grp * op->ocpg + n0;
    /* unused columns of a last panel decode a real column's tables (their weights
     * are code 0 and their outputs are not stored) */
    for (size_t j = 0; j < b->nr; j++)
      tabs[j] = op->tables + (oc0 + DYD_MIN(j, nc - 1)) * op->tables_per_oc * 16;
    uint8_t *c = out + (m0 * op->g.out_pixel_stride + oc0) * op->out_elem;
    for (size_t r = 0; r < rows; r += b->mr) {
      const size_t mr = DYD_MIN((size_t)b->mr, rows - r);
      b->gemm(mr, nc, op->kb, ws + r * op->a_stride, op->a_stride, w, tabs, op->block_table,
              op->scale + oc0, op->bias + oc0, c + r * c_stride, c_stride, &op->out);
    }
  }
}

/* The pair layout: per panel, decode its weights once, then run every row block. */
static void run_pairs_tile(const dyd_fp8conv_op *op, const uint8_t *in, uint8_t *out, size_t tile,
                           uint8_t *ws, bool rows_ready) {
  const dyd_f8_bundle *b = op->b;
  const size_t nb = tile % op->n_blocks, rest = tile / op->n_blocks;
  const size_t mb = rest % op->m_blocks, grp = rest / op->m_blocks;
  const size_t m0 = mb * op->mc, rows = DYD_MIN(op->mc, op->m - m0);
  const size_t p0 = nb * op->panels_per_tile, p1 = DYD_MIN(op->panels, p0 + op->panels_per_tile);
  if (!rows_ready) fill_rows(op, in, grp, m0, rows, ws);
  float *dec = (float *)(ws + op->dec_offset);
  const size_t c_stride = (size_t)op->g.out_pixel_stride * op->out_elem;
  const size_t tpanel = op->tables_per_oc * DYD_F8_PNR * 16;
  for (size_t p = p0; p < p1; p++) {
    const size_t gp = grp * op->panels + p;
    const size_t n0 = p * DYD_F8_PNR, nc = DYD_MIN((size_t)DYD_F8_PNR, op->ocpg - n0);
    const size_t oc0 = grp * op->ocpg + n0;
    b->pdecode(op->weights + gp * op->panel_bytes, op->ptables + gp * tpanel, op->block_table,
               op->kb, nc, dec);
    uint8_t *c = out + (m0 * op->g.out_pixel_stride + oc0) * op->out_elem;
    /* row blocks of balanced sizes: 49 rows run as 7 x 7, not 6 x 8 and a lone row
     * whose K loop costs nearly as much as a full block */
    const size_t nblk = DYD_DIV_UP(rows, (size_t)b->pmr);
    for (size_t k = 0, r = 0; k < nblk; k++) {
      const size_t mr = rows / nblk + (k < rows % nblk);
      b->pgemm(mr, nc, op->kb, ws + r * op->a_stride, op->a_stride, dec, op->scale + oc0,
               op->bias + oc0, c + r * c_stride, c_stride, &op->out);
      r += mr;
    }
  }
}

/* ---- run: depthwise ---------------------------------------------------------------------------- */

static void run_dw_tile(const dyd_fp8conv_op *op, const uint8_t *in, uint8_t *out, size_t tile,
                        uint8_t *ws) {
  const dyd_conv_geometry *g = &op->g;
  const dyd_f8_bundle *b = op->b;
  const size_t cb = b->dw_cb, eb = b->dw_in_bytes, pxb = cb * eb;
  const size_t cbk = tile % op->dw_cblocks, rest = tile / op->dw_cblocks;
  const size_t rc = rest % op->dw_row_chunks, n = rest / op->dw_row_chunks;
  const size_t c0 = cbk * cb, cn = DYD_MIN(cb, (size_t)g->out_c - c0);
  const size_t oy0 = rc * op->dw_rows, rows = DYD_MIN(op->dw_rows, (size_t)g->out_h - oy0);
  /* weights of these channels, decoded: [tap][cb] */
  float *w = (float *)ws;
  uint8_t *buf = ws + DYD_ROUND_UP(op->taps * cb * sizeof(float), 64);
  const uint8_t *codes = op->weights + cbk * op->taps * cb;
  if (b->dw_wconvert) {
    for (size_t t = 0; t < op->taps; t++) b->dw_wconvert(codes + t * cb, cb, w + t * cb);
  } else {
    for (size_t i = 0; i < op->taps * cb; i++) w[i] = op->dw_lut[codes[i]];
  }
  /* the input window of these rows, zero outside the input */
  const size_t rows_in = (rows - 1) * g->stride_h + (size_t)(g->kernel_h - 1) * g->dilation_h + 1;
  const size_t win_w = op->dw_win_w;
  for (size_t r = 0; r < rows_in; r++) {
    const int64_t iy = (int64_t)(oy0 * g->stride_h + r) - g->pad_top;
    uint8_t *dst = buf + r * win_w * pxb;
    if (iy < 0 || iy >= (int64_t)g->in_h) {
      memset(dst, 0, win_w * pxb);
      continue;
    }
    const uint8_t *src = in + (n * g->in_h + (size_t)iy) * g->in_w * g->in_pixel_stride + c0;
    for (size_t x = 0; x < win_w; x++, dst += pxb) {
      const int64_t ix = (int64_t)x - g->pad_left;
      if (ix < 0 || ix >= (int64_t)g->in_w) {
        memset(dst, 0, cn * eb);
      } else {
        b->dw_convert(src + (size_t)ix * g->in_pixel_stride, cn, dst);
      }
    }
  }
  const size_t ob = op->out_elem, ops = g->out_pixel_stride;
  for (size_t r = 0; r < rows; r++) {
    uint8_t *o = out + ((n * g->out_h + oy0 + r) * g->out_w * ops + c0) * ob;
    b->dw(g->out_w, cn, g->kernel_h, g->kernel_w, buf + r * g->stride_h * win_w * pxb,
          g->dilation_h * win_w * pxb, g->dilation_w * pxb, g->stride_w * pxb, w, cb,
          op->scale + c0, op->bias + c0, o, ops * ob, &op->out);
  }
}

void dyd_fp8conv_run(const dyd_fp8conv_op *op, const uint8_t *input, void *output,
                     size_t tile_start, size_t tile_count, void *workspace) {
  /* Consecutive tiles of one call that share a row block (they differ in panels) reuse
   * the rows the first of them converted into the workspace. */
  size_t converted = SIZE_MAX; /* row block (group * m_blocks + m block) in the workspace */
  for (size_t t = tile_start; t < tile_start + tile_count; t++) {
    if (op->path == F8_DW) {
      run_dw_tile(op, input, output, t, workspace);
      continue;
    }
    const size_t rb = t / op->n_blocks;
    if (op->pairs) {
      run_pairs_tile(op, input, output, t, workspace, rb == converted);
    } else {
      run_gemm_tile(op, input, output, t, workspace, rb == converted);
    }
    converted = rb;
  }
}

/* ---- element-wise ------------------------------------------------------------------------------ */

void dyd_fp8_add_run_for_isa(dyd_isa isa, const dyd_fp8_add_params *p, const uint8_t *a,
                             size_t a_inc, const uint8_t *b, size_t b_inc, uint8_t *y, size_t n) {
  /* vector kernels divide by y_scale through its reciprocal (fp8-x86.h); a scale so
   * small that the reciprocal overflows (below 2^-128) takes the scalar division */
  const dyd_f8_bundle *bundle = finite_f(1.0f / p->y_scale) ? dyd_f8_bundle_for(isa) : &dyd_f8_bundle_scalar;
  bundle->add(p, a, a_inc, b, b_inc, y, n);
}

void dyd_fp8_add_run(const dyd_fp8_add_params *p, const uint8_t *a, size_t a_inc,
                     const uint8_t *b, size_t b_inc, uint8_t *y, size_t n) {
  dyd_fp8_add_run_for_isa(dyd_active_isa(), p, a, a_inc, b, b_inc, y, n);
}

void dyd_fp8_global_avgpool_run_for_isa(dyd_isa isa, const dyd_fp8_avgpool_params *p,
                                        const uint8_t *x, uint8_t *y) {
  const dyd_f8_bundle *bundle =
      finite_f(1.0f / p->output_scale) ? dyd_f8_bundle_for(isa) : &dyd_f8_bundle_scalar;
  bundle->gavg(p, x, y);
}

void dyd_fp8_global_avgpool_run(const dyd_fp8_avgpool_params *p, const uint8_t *x, uint8_t *y) {
  dyd_fp8_global_avgpool_run_for_isa(dyd_active_isa(), p, x, y);
}

const char *dyd_fp8_add_kernel_name(void) { return dyd_f8_bundle_for(dyd_active_isa())->add_name; }

const char *dyd_fp8_global_avgpool_kernel_name(void) {
  return dyd_f8_bundle_for(dyd_active_isa())->gavg_name;
}
