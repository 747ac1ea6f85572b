/* Depthwise weight packers shared by several bundles (padding entries stay zero). */
#include "../common.h"

void dyd_dw_pack_i8(const int8_t *w, size_t channels, size_t cb, size_t taps,
                    size_t taps_padded, void *out) {
  int8_t *dst = out;
  (void)taps_padded;
  for (size_t t = 0; t < taps; t++)
    for (size_t c = 0; c < channels; c++) dst[t * cb + c] = w[c * taps + t];
}

/* Taps t and t + 1 of a channel side by side as int16, the operand of
 * multiply-add-pairs instructions (VPMADDWD, SMLAL pairs). */
void dyd_dw_pack_i16_pairs(const int8_t *w, size_t channels, size_t cb, size_t taps,
                           size_t taps_padded, void *out) {
  int16_t *dst = out;
  (void)taps_padded;
  for (size_t t = 0; t < taps; t++)
    for (size_t c = 0; c < channels; c++) dst[((t / 2) * cb + c) * 2 + t % 2] = w[c * taps + t];
}
