/*
 * Data movement between layers. Plane-wise 2-D transpose of 1-, 2-, 4- or 8-byte
 * elements: the NCHW <-> NHWC conversions. Square blocks keep both the reads and the writes of a
 * block within a few cache lines; the fixed element type lets each block's copy run as
 * plain loads and stores.
 */
#include "../common.h"

#define BLOCK 16

#define DEFINE_TRANSPOSE(name, T)                                                                  \
  static void name(const T *x, T *y, size_t rows, size_t cols) {                                  \
    for (size_t r0 = 0; r0 < rows; r0 += BLOCK)                                                    \
      for (size_t c0 = 0; c0 < cols; c0 += BLOCK) {                                                \
        const size_t r1 = DYD_MIN(rows, r0 + BLOCK), c1 = DYD_MIN(cols, c0 + BLOCK);              \
        for (size_t c = c0; c < c1; c++)                                                           \
          for (size_t r = r0; r < r1; r++) y[c * rows + r] = x[r * cols + c];                      \
      }                                                                                            \
  }

DEFINE_TRANSPOSE(transpose8, uint8_t)
DEFINE_TRANSPOSE(transpose16, uint16_t)
DEFINE_TRANSPOSE(transpose32, uint32_t)
DEFINE_TRANSPOSE(transpose64, uint64_t)

void dyd_transpose_planes(const void *x, void *y, size_t planes, size_t rows, size_t cols, size_t element_size) {
  const size_t plane = rows * cols * element_size;
  for (size_t p = 0; p < planes; p++) {
    const uint8_t *xp = (const uint8_t *)x + p * plane;
    uint8_t *yp = (uint8_t *)y + p * plane;
    switch (element_size) {
      case 1: transpose8(xp, yp, rows, cols); break;
      case 2: transpose16((const void *)xp, (void *)yp, rows, cols); break;
      case 4: transpose32((const void *)xp, (void *)yp, rows, cols); break;
      case 8: transpose64((const void *)xp, (void *)yp, rows, cols); break;
      default:
        for (size_t r = 0; r < rows; r++)
          for (size_t c = 0; c < cols; c++)
            memcpy(yp + (c * rows + r) * element_size, xp + (r * cols + c) * element_size, element_size);
    }
  }
}

/* One concatenation input: `outer` runs of `chunk` bytes, each to y + o * y_stride,
 * through `table` when the input's scale differs from the output's. Short runs (a few
 * channels per pixel in NHWC) are the common case, so the loop is inline rather than a
 * call per run. */
void dyd_concat_x8(const uint8_t *x, size_t chunk, size_t outer, uint8_t *y, size_t y_stride,
                   const uint8_t table[256]) {
  if (table == NULL) {
    if (chunk == y_stride) {
      memcpy(y, x, chunk * outer);
      return;
    }
    for (size_t o = 0; o < outer; o++) memcpy(y + o * y_stride, x + o * chunk, chunk);
    return;
  }
  if (chunk >= 256) {
    for (size_t o = 0; o < outer; o++) dyd_lut_run(table, x + o * chunk, y + o * y_stride, chunk);
    return;
  }
  for (size_t o = 0; o < outer; o++) {
    const uint8_t *src = x + o * chunk;
    uint8_t *dst = y + o * y_stride;
    for (size_t i = 0; i < chunk; i++) dst[i] = table[src[i]];
  }
}
