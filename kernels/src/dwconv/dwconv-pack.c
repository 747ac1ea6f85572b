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

/* Tap pairs as int8, the layout AVX2 widens to int16 pairs when it unpacks low-bit blocks. */
void dyd_dw_pack_i8_pairs(const int8_t *w, size_t channels, size_t cb, size_t taps,
                          size_t taps_padded, void *out) {
  int8_t *dst = out;
  (void)taps_padded;
  for (size_t t = 0; t < taps; t++)
    for (size_t c = 0; c < channels; c++) dst[((t / 2) * cb + c) * 2 + t % 2] = w[c * taps + t];
}

void dyd_dw_pack_bits(const int8_t *w8, size_t area8, size_t chunk, unsigned bits, void *out) {
  const size_t per = 8 / bits;
  uint8_t *dst = out;
  memset(dst, 0, dyd_dw_lowbit_bytes(area8, chunk, bits));
  for (size_t i = 0; i < area8; i++) {
    const size_t k = i / chunk;
    dst[k / per * chunk + i % chunk] |=
        (uint8_t)(((uint8_t)w8[i] & ((1u << bits) - 1)) << (k % per * bits));
  }
}
