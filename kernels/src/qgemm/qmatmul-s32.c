/*
 * Int32 sums of a product of two run-time 8-bit matrices (attention's Q*K^T and P*V):
 * acc[i][j] = sum_k (a[i][k] - za) * (b[k][j] - zb), exact. Rows of B are added into a
 * row of sums, so the inner loop runs along contiguous memory; one plain C body is
 * compiled per ISA with its target attribute and left to the compiler's vectoriser
 * (the shapes are small and change per call, so no packing pays off).
 */
#include "../common.h"

#define BODY                                                                                  \
  for (size_t i = 0; i < m; i++) {                                                            \
    int32_t *row = acc + i * n;                                                               \
    for (size_t j = 0; j < n; j++) row[j] = 0;                                                \
    for (size_t kk = 0; kk < k; kk++) {                                                       \
      const int32_t av = (int32_t)(a[i * lda + kk] ^ flip_a) - za;                            \
      if (av == 0) continue;                                                                  \
      const uint8_t *brow = b + kk * ldb;                                                     \
      for (size_t j = 0; j < n; j++) row[j] += av * ((int32_t)(brow[j] ^ flip_b) - zb);       \
    }                                                                                         \
  }

#define DEFINE(name, attributes)                                                                  \
  attributes static void name(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda,        \
                              int32_t za, uint8_t flip_a, const uint8_t *b, size_t ldb,           \
                              int32_t zb, uint8_t flip_b, int32_t *acc) {                         \
    BODY                                                                                          \
  }

DEFINE(sums_scalar, )
#if defined(__x86_64__)
DEFINE(sums_avx2, __attribute__((target("avx2"))))
DEFINE(sums_avx512, __attribute__((target("avx512f,avx512bw,avx512vl"))))
#endif

static int level(void) {
#if defined(__x86_64__)
  const dyd_isa isa = dyd_active_isa();
  if (isa == DYD_ISA_AVX512VNNI) return 2;
  if (isa == DYD_ISA_AVX2) return 1;
#endif
  return 0;
}

void dyd_qmatmul_s32(size_t m, size_t n, size_t k, const uint8_t *a, size_t lda, int32_t a_zero_point,
                     int a_signed, const uint8_t *b, size_t ldb, int32_t b_zero_point, int b_signed,
                     int32_t *acc) {
  /* Signed codes read with the sign bit flipped are code + 128: shift the zero point too. */
  const uint8_t fa = a_signed ? 0x80 : 0, fb = b_signed ? 0x80 : 0;
  const int32_t za = a_zero_point + (a_signed ? 128 : 0), zb = b_zero_point + (b_signed ? 128 : 0);
  switch (level()) {
#if defined(__x86_64__)
  case 2: sums_avx512(m, n, k, a, lda, za, fa, b, ldb, zb, fb, acc); return;
  case 1: sums_avx2(m, n, k, a, lda, za, fa, b, ldb, zb, fb, acc); return;
#endif
  default: sums_scalar(m, n, k, a, lda, za, fa, b, ldb, zb, fb, acc); return;
  }
}

const char *dyd_qmatmul_s32_kernel_name(void) {
  static const char *const names[] = {"dyd_qu8_qu8_matmul_s32__scalar", "dyd_qu8_qu8_matmul_s32__avx2",
                                      "dyd_qu8_qu8_matmul_s32__avx512"};
  return names[level()];
}
