/*
 * y = table_c[x] with one 256-entry table per channel (an element-wise op of an 8-bit
 * activation and per-channel constants, built at load). Channel c of element i is
 * (i / inner) % channels: inner = 1 in NHWC, where each pixel walks every table once,
 * or H*W in NCHW, where each plane is one table's run.
 */
#include "../common.h"

void dyd_channel_lut(const uint8_t *tables, const uint8_t *x, uint8_t *y, size_t outer, size_t channels, size_t inner) {
  if (inner == 1) {
    for (size_t o = 0; o < outer; o++, x += channels, y += channels)
      for (size_t c = 0; c < channels; c++) y[c] = tables[c * 256 + x[c]];
    return;
  }
  for (size_t o = 0; o < outer; o++)
    for (size_t c = 0; c < channels; c++, x += inner, y += inner) dyd_lut_run(tables + c * 256, x, y, inner);
}
