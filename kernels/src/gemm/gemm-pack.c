/*
 * The low-bit plane layout of GEMM panels (see common.h), shared by every ISA:
 * each kernel names its unit, so packing is written once. The portable unpack
 * is the definition the vector unpacks of the kernels match.
 */
#include "../common.h"

int dyd_gemm_lowbit_unpack_mode = 1;

void dyd_gemm_pack_planes(const int8_t *w8, size_t bytes, size_t unit, unsigned bits,
                          uint8_t *out) {
  const size_t fields = 8 / bits, plane = unit / fields;
  const unsigned mask = (1u << bits) - 1;
  for (size_t u = 0; u < bytes; u += unit, w8 += unit, out += plane)
    for (size_t i = 0; i < plane; i++) {
      unsigned b = 0;
      for (size_t j = 0; j < fields; j++) b |= ((unsigned)w8[j * plane + i] & mask) << (j * bits);
      out[i] = (uint8_t)b;
    }
}

void dyd_gemm_unpack_planes(const uint8_t *in, size_t bytes, size_t unit, unsigned bits,
                            int8_t *w8) {
  const size_t fields = 8 / bits, plane = unit / fields;
  const int half = 1 << (bits - 1), mask = (1 << bits) - 1;
  for (size_t u = 0; u < bytes; u += unit, w8 += unit, in += plane)
    for (size_t i = 0; i < plane; i++)
      for (size_t j = 0; j < fields; j++) /* sign extension: (f ^ half) - half */
        w8[j * plane + i] = (int8_t)((((in[i] >> (j * bits)) & mask) ^ half) - half);
}
