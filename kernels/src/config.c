/*
 * The bundle lists, one per family, best first. Dispatch takes the first entry
 * whose ISA level is at most the requested one; the tests walk the same lists.
 * An entry exists only where its code is compiled (the architecture guards).
 */
#include "common.h"

extern const dyd_gemm_bundle dyd_gemm_bundle_scalar;
#if defined(__x86_64__)
extern const dyd_gemm_bundle dyd_gemm_bundle_avx512vnni;
extern const dyd_gemm_bundle dyd_gemm_bundle_avxvnni, dyd_gemm_bundle_avx2;
#elif defined(__aarch64__)
extern const dyd_gemm_bundle dyd_gemm_bundle_i8mm, dyd_gemm_bundle_neondot, dyd_gemm_bundle_neon;
#endif
extern const dyd_dw_bundle dyd_dw_bundle_scalar;
#if defined(__x86_64__)
extern const dyd_dw_bundle dyd_dw_bundle_avx512_3x3, dyd_dw_bundle_avx512_5x5, dyd_dw_bundle_avx512_up;
extern const dyd_dw_bundle dyd_dw_bundle_avx2_3x3, dyd_dw_bundle_avx2_5x5, dyd_dw_bundle_avx2_up;
#elif defined(__aarch64__)
extern const dyd_dw_bundle dyd_dw_bundle_neon_3x3, dyd_dw_bundle_neon_5x5, dyd_dw_bundle_neon_up;
#endif
extern const dyd_misc_bundle dyd_misc_bundle_scalar;
#if defined(__x86_64__)
extern const dyd_misc_bundle dyd_misc_bundle_avx2;
#elif defined(__aarch64__)
extern const dyd_misc_bundle dyd_misc_bundle_neon;
#endif

const dyd_gemm_bundle *const dyd_gemm_bundles[] = {
#if defined(__x86_64__)
    &dyd_gemm_bundle_avx512vnni,
    &dyd_gemm_bundle_avxvnni, /* AVX2 level, only where the CPU has AVX-VNNI */
    &dyd_gemm_bundle_avx2,
#elif defined(__aarch64__)
    &dyd_gemm_bundle_i8mm,
    &dyd_gemm_bundle_neondot,
    &dyd_gemm_bundle_neon,
#endif
    &dyd_gemm_bundle_scalar,
};
const size_t dyd_gemm_bundle_count = sizeof dyd_gemm_bundles / sizeof dyd_gemm_bundles[0];

/* Within a level, the fixed-window kernels come before the generic one. */
const dyd_dw_bundle *const dyd_dw_bundles[] = {
#if defined(__x86_64__)
    &dyd_dw_bundle_avx512_3x3, &dyd_dw_bundle_avx512_5x5, &dyd_dw_bundle_avx512_up,
    &dyd_dw_bundle_avx2_3x3, &dyd_dw_bundle_avx2_5x5, &dyd_dw_bundle_avx2_up,
#elif defined(__aarch64__)
    /* one NEON depthwise kernel serves every AArch64 level */
    &dyd_dw_bundle_neon_3x3, &dyd_dw_bundle_neon_5x5, &dyd_dw_bundle_neon_up,
#endif
    &dyd_dw_bundle_scalar,
};
const size_t dyd_dw_bundle_count = sizeof dyd_dw_bundles / sizeof dyd_dw_bundles[0];

/* The AVX2 element-wise kernels also serve the AVX-512 level. */
const dyd_misc_bundle *const dyd_misc_bundles[] = {
#if defined(__x86_64__)
    &dyd_misc_bundle_avx2,
#elif defined(__aarch64__)
    &dyd_misc_bundle_neon,
#endif
    &dyd_misc_bundle_scalar,
};
const size_t dyd_misc_bundle_count = sizeof dyd_misc_bundles / sizeof dyd_misc_bundles[0];

/* FP8 compute (W4A8). Within the AVX-512 level the BF16 kernel needs VDPBF16PS (probed:
 * hypervisors hide the CPUID bit), within the NEON levels the FHM one needs FMLAL. */
extern const dyd_f8_bundle dyd_f8_bundle_scalar;
#if defined(__x86_64__)
extern const dyd_f8_bundle dyd_f8_bundle_avx512bf16, dyd_f8_bundle_avx512f, dyd_f8_bundle_avx2;
#elif defined(__aarch64__)
extern const dyd_f8_bundle dyd_f8_bundle_neonfhm, dyd_f8_bundle_neon;
#endif

const dyd_f8_bundle *const dyd_f8_bundles[] = {
#if defined(__x86_64__)
    &dyd_f8_bundle_avx512bf16,
    &dyd_f8_bundle_avx512f,
    &dyd_f8_bundle_avx2,
#elif defined(__aarch64__)
    &dyd_f8_bundle_neonfhm,
    &dyd_f8_bundle_neon,
#endif
    &dyd_f8_bundle_scalar,
};
const size_t dyd_f8_bundle_count = sizeof dyd_f8_bundles / sizeof dyd_f8_bundles[0];

/* Float32 conv: one bundle per level; AVX-512F serves the AVX-512 level. */
extern const dyd_f32_bundle dyd_f32_bundle_scalar;
#if defined(__x86_64__)
extern const dyd_f32_bundle dyd_f32_bundle_avx512, dyd_f32_bundle_avx2;
#elif defined(__aarch64__)
extern const dyd_f32_bundle dyd_f32_bundle_neon;
#endif

const dyd_f32_bundle *const dyd_f32_bundles[] = {
#if defined(__x86_64__)
    &dyd_f32_bundle_avx512,
    &dyd_f32_bundle_avx2,
#elif defined(__aarch64__)
    &dyd_f32_bundle_neon, /* every AArch64 level */
#endif
    &dyd_f32_bundle_scalar,
};
const size_t dyd_f32_bundle_count = sizeof dyd_f32_bundles / sizeof dyd_f32_bundles[0];

const dyd_f32_bundle *dyd_f32_bundle_for(dyd_isa isa) {
  const int level = dyd_isa_level(dyd_isa_supported(isa));
  for (size_t i = 0; i < dyd_f32_bundle_count; i++) {
    const int l = dyd_isa_level(dyd_f32_bundles[i]->isa);
    if (l >= 0 && l <= level) return dyd_f32_bundles[i];
  }
  return &dyd_f32_bundle_scalar;
}
