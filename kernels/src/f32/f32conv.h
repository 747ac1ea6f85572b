/*
 * The float32 conv operator's state, shared by the files that implement its paths
 * (f32conv-op.c: create, the 1x1 GEMM and classifier paths, run; f32conv-direct.c:
 * every other non-depthwise conv; f32conv-dw.c: depthwise). Not part of the API.
 */
#ifndef DYD_F32CONV_H
#define DYD_F32CONV_H

#include "../common.h"

enum { DYD_F32_PATH_GEMM, DYD_F32_PATH_DIRECT, DYD_F32_PATH_DWCONV, DYD_F32_PATH_FC };

struct dyd_f32conv_op {
  dyd_conv_geometry g;
  const dyd_f32_bundle *b;
  dyd_f32_act act;
  int path;
  size_t icpg, ocpg, taps, k;
  size_t in_plane, out_plane;  /* in_h * in_w, out_h * out_w */
  /* GEMM paths (gemm, direct, fc) */
  size_t panels, panel_floats; /* per group; a panel is bias[MR] then [K][MR] */
  size_t nc, m_blocks;         /* gemm: pixels per tile (a multiple of NR), tiles per plane;
                                  direct: output rows per tile, row blocks per plane */
  size_t panels_per_tile, n_blocks;
  size_t ocpg_pad;             /* fc: output channels per group rounded up to NR */
  /* direct path: per input channel, sh * sw phase planes of `rows` x `pitch` floats */
  size_t pitch, rows, halo;    /* virtual row pitch, rows per phase plane, rows - rows per tile */
  size_t *b_off;               /* [K]: tap k's offset from virtual output 0 in the planes */
  size_t *q_lo, *q_hi;         /* [sw]: a phase's columns that hold input columns */
  uint8_t *phase_used;         /* [sh * sw]: read by some tap */
  /* depthwise path */
  size_t plane_rows, plane_floats; /* rows per phase plane, its floats (pitch as above) */
  size_t virt;                 /* virtual outputs: (out_h - 1) * P + (out_w - 1) * stride_w + 1 */
  size_t *dw_off;              /* per tap: offset of virtual output 0's input from the planes */
  bool dw_rows;                /* wide planes: row by row through a ring of padded input rows */
  size_t dw_width, dw_ring;    /* floats per padded ring row; rows in the ring */
  float *bias;                 /* [out_c] (depthwise, fc) */
  float *packed;
  char name[96];
};

/* Each returns false only when out of memory. */
bool dyd_f32conv_plan_direct(dyd_f32conv_op *op, const dyd_f32conv_desc *d);
bool dyd_f32conv_plan_dw(dyd_f32conv_op *op, const dyd_f32conv_desc *d);
/* Weights as panels of MR output channels: bias[MR] then [K][MR], rows past ocpg zero. */
bool dyd_f32conv_pack_panels(dyd_f32conv_op *op, const dyd_f32conv_desc *d);

size_t dyd_f32conv_direct_workspace_floats(const dyd_f32conv_op *op);
size_t dyd_f32conv_dw_workspace_floats(const dyd_f32conv_op *op);

/* planes_ready: the workspace already holds this tile's planes (the previous tile of
 * the same run call had the same image, group and row block). */
void dyd_f32conv_run_direct(const dyd_f32conv_op *op, const float *in, float *out, size_t tile,
                            float *ws, bool planes_ready);
void dyd_f32conv_dw_clear_planes(const dyd_f32conv_op *op, float *ws);
void dyd_f32conv_run_dw(const dyd_f32conv_op *op, const float *in, float *out, size_t tile,
                        float *ws);

#endif
