/*
 * The kernel registry: one list of rows per family, best first. A row names its
 * bundle (kernels, packer, tile sizes), the DYADIC_ISA level it serves at and the CPU
 * features its code executes; one selection function serves every family, and the
 * kernel tests and the bench walk the same rows. A row exists only where its code is
 * compiled (the architecture guards).
 */
#include "common.h"

#include <stdatomic.h>

typedef struct {
  const void *bundle;
  dyd_kernel_row info;
} row;

#define ROW(bundle, suffix, level, needs) {&bundle, {#bundle, suffix, level, needs}}

enum {
  X86_AVX2 = DYD_FEATURE_AVX2,
  X86_AVX512 = DYD_FEATURE_AVX2 | DYD_FEATURE_AVX512VNNI,
  ARM_DOT = DYD_FEATURE_NEON | DYD_FEATURE_NEONDOT,
};

extern const dyd_gemm_bundle dyd_gemm_bundle_scalar;
#if defined(__x86_64__)
extern const dyd_gemm_bundle dyd_gemm_bundle_avx512vnni_narrow, dyd_gemm_bundle_avx512vnni;
extern const dyd_gemm_bundle dyd_gemm_bundle_avxvnni, dyd_gemm_bundle_avx2;
#elif defined(__aarch64__)
extern const dyd_gemm_bundle dyd_gemm_bundle_i8mm, dyd_gemm_bundle_neondot, dyd_gemm_bundle_neon;
#endif

/* A narrow row (max_columns) serves only the layers it fits (conv-op.c); the wide row
 * after it takes the rest. */
static const row gemm_rows[] = {
#if defined(__x86_64__)
    ROW(dyd_gemm_bundle_avx512vnni_narrow, "avx512vnni", DYD_ISA_AVX512VNNI, X86_AVX512),
    ROW(dyd_gemm_bundle_avx512vnni, "avx512vnni", DYD_ISA_AVX512VNNI, X86_AVX512),
    ROW(dyd_gemm_bundle_avxvnni, "avxvnni", DYD_ISA_AVX2, X86_AVX2 | DYD_FEATURE_AVXVNNI),
    ROW(dyd_gemm_bundle_avx2, "avx2", DYD_ISA_AVX2, X86_AVX2),
#elif defined(__aarch64__)
    ROW(dyd_gemm_bundle_i8mm, "i8mm", DYD_ISA_I8MM, ARM_DOT | DYD_FEATURE_I8MM),
    ROW(dyd_gemm_bundle_neondot, "neondot", DYD_ISA_NEONDOT, ARM_DOT),
    ROW(dyd_gemm_bundle_neon, "neon", DYD_ISA_NEON, DYD_FEATURE_NEON),
#endif
    ROW(dyd_gemm_bundle_scalar, "scalar", DYD_ISA_SCALAR, 0),
};

/* Within a level, the fixed-window kernels come before the generic one. */
extern const dyd_dw_bundle dyd_dw_bundle_scalar;
#if defined(__x86_64__)
extern const dyd_dw_bundle dyd_dw_bundle_avx512_3x3, dyd_dw_bundle_avx512_5x5, dyd_dw_bundle_avx512_up;
extern const dyd_dw_bundle dyd_dw_bundle_avx2_3x3, dyd_dw_bundle_avx2_5x5, dyd_dw_bundle_avx2_up;
#elif defined(__aarch64__)
extern const dyd_dw_bundle dyd_dw_bundle_neon_3x3, dyd_dw_bundle_neon_5x5, dyd_dw_bundle_neon_up;
#endif

static const row dw_rows[] = {
#if defined(__x86_64__)
    ROW(dyd_dw_bundle_avx512_3x3, "avx512vnni", DYD_ISA_AVX512VNNI, X86_AVX512),
    ROW(dyd_dw_bundle_avx512_5x5, "avx512vnni", DYD_ISA_AVX512VNNI, X86_AVX512),
    ROW(dyd_dw_bundle_avx512_up, "avx512vnni", DYD_ISA_AVX512VNNI, X86_AVX512),
    ROW(dyd_dw_bundle_avx2_3x3, "avx2", DYD_ISA_AVX2, X86_AVX2),
    ROW(dyd_dw_bundle_avx2_5x5, "avx2", DYD_ISA_AVX2, X86_AVX2),
    ROW(dyd_dw_bundle_avx2_up, "avx2", DYD_ISA_AVX2, X86_AVX2),
#elif defined(__aarch64__)
    /* one NEON depthwise kernel serves every AArch64 level */
    ROW(dyd_dw_bundle_neon_3x3, "neon", DYD_ISA_NEON, DYD_FEATURE_NEON),
    ROW(dyd_dw_bundle_neon_5x5, "neon", DYD_ISA_NEON, DYD_FEATURE_NEON),
    ROW(dyd_dw_bundle_neon_up, "neon", DYD_ISA_NEON, DYD_FEATURE_NEON),
#endif
    ROW(dyd_dw_bundle_scalar, "scalar", DYD_ISA_SCALAR, 0),
};

/* The AVX2 element-wise kernels also serve the AVX-512 level, with the table lookup in
 * VPERMI2B where the CPU has AVX-512 VBMI. */
extern const dyd_misc_bundle dyd_misc_bundle_scalar;
#if defined(__x86_64__)
extern const dyd_misc_bundle dyd_misc_bundle_avx512vbmi, dyd_misc_bundle_avx2;
#elif defined(__aarch64__)
extern const dyd_misc_bundle dyd_misc_bundle_neon;
#endif

static const row misc_rows[] = {
#if defined(__x86_64__)
    ROW(dyd_misc_bundle_avx512vbmi, "avx512vbmi", DYD_ISA_AVX512VNNI, X86_AVX512 | DYD_FEATURE_AVX512VBMI),
    ROW(dyd_misc_bundle_avx2, "avx2", DYD_ISA_AVX2, X86_AVX2),
#elif defined(__aarch64__)
    ROW(dyd_misc_bundle_neon, "neon", DYD_ISA_NEON, DYD_FEATURE_NEON),
#endif
    ROW(dyd_misc_bundle_scalar, "scalar", DYD_ISA_SCALAR, 0),
};

/* FP8 compute (W4A8): the BF16 kernel needs VDPBF16PS, the AVX2 one F16C, the FHM
 * one FMLAL. */
#if defined(__x86_64__)
extern const dyd_f8_bundle dyd_f8_bundle_avx512bf16, dyd_f8_bundle_avx512f, dyd_f8_bundle_avx2;
#elif defined(__aarch64__)
extern const dyd_f8_bundle dyd_f8_bundle_neonfhm, dyd_f8_bundle_neon;
#endif

static const row f8_rows[] = {
#if defined(__x86_64__)
    ROW(dyd_f8_bundle_avx512bf16, "avx512bf16", DYD_ISA_AVX512VNNI, X86_AVX512 | DYD_FEATURE_AVX512BF16),
    ROW(dyd_f8_bundle_avx512f, "avx512f", DYD_ISA_AVX512VNNI, X86_AVX512),
    ROW(dyd_f8_bundle_avx2, "avx2", DYD_ISA_AVX2, X86_AVX2 | DYD_FEATURE_F16C),
#elif defined(__aarch64__)
    ROW(dyd_f8_bundle_neonfhm, "neonfhm", DYD_ISA_NEON, DYD_FEATURE_NEON | DYD_FEATURE_FHM),
    ROW(dyd_f8_bundle_neon, "neon", DYD_ISA_NEON, DYD_FEATURE_NEON),
#endif
    ROW(dyd_f8_bundle_scalar, "scalar", DYD_ISA_SCALAR, 0),
};

/* Float32 conv: AVX-512F serves the AVX-512 level, NEON every AArch64 level. */
extern const dyd_f32_bundle dyd_f32_bundle_scalar;
#if defined(__x86_64__)
extern const dyd_f32_bundle dyd_f32_bundle_avx512, dyd_f32_bundle_avx2;
#elif defined(__aarch64__)
extern const dyd_f32_bundle dyd_f32_bundle_neon;
#endif

static const row f32_rows[] = {
#if defined(__x86_64__)
    ROW(dyd_f32_bundle_avx512, "avx512f", DYD_ISA_AVX512VNNI, X86_AVX512),
    ROW(dyd_f32_bundle_avx2, "avx2", DYD_ISA_AVX2, X86_AVX2),
#elif defined(__aarch64__)
    ROW(dyd_f32_bundle_neon, "neon", DYD_ISA_NEON, DYD_FEATURE_NEON),
#endif
    ROW(dyd_f32_bundle_scalar, "scalar", DYD_ISA_SCALAR, 0),
};

/* Integer GEMM with a float output: the NEON dot kernel serves the i8mm level too. */
#if defined(__x86_64__)
extern const dyd_qgemm_bundle dyd_qgemm_bundle_avx512vnni, dyd_qgemm_bundle_avxvnni, dyd_qgemm_bundle_avx2;
#elif defined(__aarch64__)
extern const dyd_qgemm_bundle dyd_qgemm_bundle_neondot, dyd_qgemm_bundle_neon;
#endif

static const row qgemm_rows[] = {
#if defined(__x86_64__)
    ROW(dyd_qgemm_bundle_avx512vnni, "avx512vnni", DYD_ISA_AVX512VNNI, X86_AVX512),
    ROW(dyd_qgemm_bundle_avxvnni, "avxvnni", DYD_ISA_AVX2, X86_AVX2 | DYD_FEATURE_AVXVNNI),
    ROW(dyd_qgemm_bundle_avx2, "avx2", DYD_ISA_AVX2, X86_AVX2),
#elif defined(__aarch64__)
    ROW(dyd_qgemm_bundle_neondot, "neondot", DYD_ISA_NEONDOT, ARM_DOT),
    ROW(dyd_qgemm_bundle_neon, "neon", DYD_ISA_NEON, DYD_FEATURE_NEON),
#endif
    ROW(dyd_qgemm_bundle_scalar, "scalar", DYD_ISA_SCALAR, 0),
};

#define ROWS(list) {list, sizeof list / sizeof list[0]}
static const struct {
  const row *rows;
  size_t count;
} families[DYD_FAMILY_COUNT] = {
    [DYD_FAMILY_GEMM] = ROWS(gemm_rows), [DYD_FAMILY_DWCONV] = ROWS(dw_rows),
    [DYD_FAMILY_MISC] = ROWS(misc_rows), [DYD_FAMILY_FP8] = ROWS(f8_rows),
    [DYD_FAMILY_F32] = ROWS(f32_rows), [DYD_FAMILY_QGEMM] = ROWS(qgemm_rows),
};

#define MAX_ROWS 16
_Static_assert(sizeof dw_rows / sizeof dw_rows[0] <= MAX_ROWS, "raise MAX_ROWS");
static _Atomic unsigned long hits[DYD_FAMILY_COUNT][MAX_ROWS];
static _Atomic long forced[DYD_FAMILY_COUNT] = {-1, -1, -1, -1, -1, -1};

static const char *const family_names[DYD_FAMILY_COUNT] = {"gemm", "dwconv", "misc", "fp8", "f32", "qgemm"};

static bool valid(dyd_family f) { return (unsigned)f < DYD_FAMILY_COUNT; }

const char *dyd_family_name(dyd_family f) { return valid(f) ? family_names[f] : "unknown"; }

size_t dyd_registry_row_count(dyd_family f) { return valid(f) ? families[f].count : 0; }

dyd_kernel_row dyd_registry_row(dyd_family f, size_t i) {
  if (!valid(f) || i >= families[f].count) return (dyd_kernel_row){"none", "none", DYD_ISA_SCALAR, 0};
  return families[f].rows[i].info;
}

static bool has(dyd_features available, dyd_features needs) { return (needs & ~available) == 0; }

bool dyd_registry_runnable(dyd_family f, size_t i) {
  return valid(f) && i < families[f].count && has(dyd_cpu_features(), families[f].rows[i].info.needs);
}

void dyd_registry_force(dyd_family f, long i) {
  if (valid(f)) atomic_store_explicit(&forced[f], i, memory_order_relaxed);
}

unsigned long dyd_registry_hits(dyd_family f, size_t i) {
  if (!valid(f) || i >= families[f].count) return 0;
  return atomic_load_explicit(&hits[f][i], memory_order_relaxed);
}

static const void *chosen(dyd_family f, size_t i) {
  atomic_fetch_add_explicit(&hits[f][i], 1, memory_order_relaxed);
  return families[f].rows[i].bundle;
}

const void *dyd_registry_take(dyd_family f, size_t i) {
  return valid(f) && i < families[f].count ? chosen(f, i) : NULL;
}

const void *dyd_registry_select(dyd_family f, dyd_isa isa,
                                bool (*fits)(const void *bundle, const void *context),
                                const void *context) {
  if (!valid(f)) return NULL;
  const row *rows = families[f].rows;
  const long force = atomic_load_explicit(&forced[f], memory_order_relaxed);
  if (force >= 0 && (size_t)force < families[f].count && dyd_registry_runnable(f, (size_t)force) &&
      (fits == NULL || fits(rows[force].bundle, context)))
    return chosen(f, (size_t)force);
  /* BF16 is probed only when a row needing it is considered */
  const dyd_features available = dyd_isa_features(isa);
  for (size_t i = 0; i < families[f].count; i++) {
    if (!has(available, rows[i].info.needs)) continue;
    if (fits != NULL && !fits(rows[i].bundle, context)) continue;
    return chosen(f, i);
  }
  return NULL;
}
