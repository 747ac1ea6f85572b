/*
 * Sign extension of the low-bit plane layout (common.h) for kernels whose unit is
 * 64 int8 bytes (two K steps of `6x16c2__avx2`, one of `6x16c4__avxvnni`): a VPSHUFB
 * table maps each field, moved to the low bits of its byte, to its int8 value.
 */
#ifndef DYD_LOWBIT_AVX2_H
#define DYD_LOWBIT_AVX2_H

#include "requant-avx2.h"

/* One unit as int8: bytes 0-31 in *lo, 32-63 in *hi. 4-bit: 32 packed bytes, the
 * low nibbles are lo and the high ones hi; 2-bit: 16 bytes, crumbs 0|1 are lo and
 * 2|3 hi (VPSRLVD by 0|2 and 4|6 of the bytes broadcast to both halves). */
DYD_AVX2_INLINE void dyd_avx2_unpack64(const uint8_t *wk, const int bits, __m256i *lo,
                                       __m256i *hi) {
  if (bits == 4) {
    const __m256i table = _mm256_broadcastsi128_si256(
        _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1));
    const __m256i v = _mm256_load_si256((const __m256i *)wk), low = _mm256_set1_epi8(0x0F);
    *lo = _mm256_shuffle_epi8(table, _mm256_and_si256(v, low));
    *hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
  } else {
    const __m256i table = _mm256_broadcastsi128_si256(
        _mm_setr_epi8(0, 1, -2, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
    const __m256i v = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i *)wk));
    const __m256i low = _mm256_set1_epi8(0x03);
    *lo = _mm256_shuffle_epi8(
        table, _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2)), low));
    *hi = _mm256_shuffle_epi8(
        table, _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(4, 4, 4, 4, 6, 6, 6, 6)), low));
  }
}

#endif
