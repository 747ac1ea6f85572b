/*
 * 256-entry byte table lookup (the integer Sigmoid, SiLU, HardSwish, ... tables) with
 * AVX-512 VBMI: VPERMI2B looks 64 bytes up in a 128-byte table held in two ZMM
 * registers, by the low 7 bits of each index; one lookup per half of the table and a
 * blend on the index's top bit give 64 results in four instructions, where a scalar
 * loop takes a load and a store per byte.
 */
#if defined(__x86_64__)

#include "../common.h"

#include <immintrin.h>

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void dyd_lut_avx512vbmi(const uint8_t table[256],
                                                                              const uint8_t *x, uint8_t *y,
                                                                              size_t n) {
  const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512i v = _mm512_loadu_si512(x + i);
    const __m512i lo = _mm512_permutex2var_epi8(t0, v, t1), hi = _mm512_permutex2var_epi8(t2, v, t3);
    _mm512_storeu_si512(y + i, _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), lo, hi));
  }
  if (i < n) { /* the tail under a mask: nothing read or written past n */
    const __mmask64 m = (__mmask64)((1ull << (n - i)) - 1);
    const __m512i v = _mm512_maskz_loadu_epi8(m, x + i);
    const __m512i lo = _mm512_permutex2var_epi8(t0, v, t1), hi = _mm512_permutex2var_epi8(t2, v, t3);
    _mm512_mask_storeu_epi8(y + i, m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), lo, hi));
  }
}

#endif
