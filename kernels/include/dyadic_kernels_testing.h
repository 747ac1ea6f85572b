/*
 * DyadicKernels — entry points for tests and benchmarks: explicit ISA selection, the
 * kernel registry's rows, and the scalar oracles. Applications need only
 * dyadic_kernels.h.
 */
#ifndef DYADIC_KERNELS_TESTING_H
#define DYADIC_KERNELS_TESTING_H

#include "dyadic_kernels.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The kernel registry -------------------------------------------------------------- */

/* CPU features a kernel's code executes. A row runs only where it is compiled (its
 * architecture) and the CPU has every feature it needs; DYADIC_ISA caps the features
 * to those of a level (see dyd_isa_features). */
typedef uint32_t dyd_features;
enum {
  DYD_FEATURE_AVX2 = 1u << 0,       /* AVX2 and FMA, YMM state saved by the OS */
  DYD_FEATURE_F16C = 1u << 1,
  DYD_FEATURE_AVXVNNI = 1u << 2,    /* VEX VPDPBUSD */
  DYD_FEATURE_AVX512VNNI = 1u << 3, /* AVX-512 F, BW, VL and VNNI, ZMM state saved */
  DYD_FEATURE_AVX512BF16 = 1u << 4, /* VDPBF16PS (probed where CPUID hides it) */
  DYD_FEATURE_AVX512VBMI = 1u << 5, /* VPERMI2B (byte permutes across a ZMM) */
  DYD_FEATURE_NEON = 1u << 8,
  DYD_FEATURE_NEONDOT = 1u << 9,    /* SDOT/UDOT */
  DYD_FEATURE_I8MM = 1u << 10,      /* SMMLA/USMMLA */
  DYD_FEATURE_FHM = 1u << 11,       /* FMLAL */
};

/* Each family is one list of rows, best first: selection takes the first row the
 * CPU runs (and, for depthwise, that fits the window). */
typedef enum {
  DYD_FAMILY_GEMM = 0,   /* 1x1 conv, fully connected, im2col conv */
  DYD_FAMILY_DWCONV = 1, /* depthwise conv */
  DYD_FAMILY_MISC = 2,   /* add, mul, table lookup, pooling */
  DYD_FAMILY_FP8 = 3,    /* W4A8 conv, add, pooling */
  DYD_FAMILY_F32 = 4,    /* float32 conv and GEMM */
  DYD_FAMILY_QGEMM = 5,  /* uint8 x int8 GEMM, float32 or int32 output (dynamic quantization) */
  DYD_FAMILY_COUNT = 6,
} dyd_family;

typedef struct {
  const char *name;     /* the bundle's symbol, e.g. "dyd_gemm_bundle_avx512vnni" */
  const char *suffix;   /* the ISA part of its kernels' names, e.g. "avx512vnni" */
  dyd_isa level;        /* the DYADIC_ISA level it serves at */
  dyd_features needs;
} dyd_kernel_row;

const char *dyd_family_name(dyd_family family);
size_t dyd_registry_row_count(dyd_family family);
/* Row `row` of the family (row < dyd_registry_row_count(family)). */
dyd_kernel_row dyd_registry_row(dyd_family family, size_t row);
/* Every feature this CPU has (BF16 probed on first use), ignoring DYADIC_ISA. */
dyd_features dyd_cpu_features(void);
/* The features available at `isa`: the CPU's, limited to those of its level and below. */
dyd_features dyd_isa_features(dyd_isa isa);
/* The CPU runs the row (ignoring DYADIC_ISA). */
bool dyd_registry_runnable(dyd_family family, size_t row);
/* Forces the row for the family's next selections wherever it is runnable and fits,
 * whatever ISA the caller asks for; -1 ends it. For tests: not thread-safe. */
void dyd_registry_force(dyd_family family, long row);
/* How many times selection chose the row in this process. */
unsigned long dyd_registry_hits(dyd_family family, size_t row);

/* ---- Explicit ISA selection and the scalar oracle (tests, benchmarks) --------------- */

/* Like the `*_create` functions above, but choose the bundle for `isa` instead of
 * the active ISA. A level the CPU lacks, or one of another architecture, is
 * capped to the best level detected, so any value is safe. */
dyd_conv_op *dyd_conv_create_for_isa(const dyd_conv_desc *desc, dyd_isa isa,
                                     char *err, size_t err_len);
dyd_avgpool_op *dyd_avgpool_create_for_isa(const dyd_avgpool_desc *desc, dyd_isa isa,
                                           char *err, size_t err_len);
dyd_maxpool_op *dyd_maxpool_create_for_isa(const dyd_maxpool_desc *desc, dyd_isa isa,
                                           char *err, size_t err_len);
dyd_fp8conv_op *dyd_fp8conv_create_for_isa(const dyd_fp8conv_desc *desc, dyd_isa isa,
                                           char *err, size_t err_len);
/* FP8 kernel bundles of exactly this ISA level that this CPU runs (e.g. avx512bf16 and
 * avx512f at the avx512vnni level; neonfhm and neon at the neon level, none at neondot
 * or i8mm), best first; create_variant builds an op on the i-th of them. */
size_t dyd_fp8conv_variant_count(dyd_isa isa);
dyd_fp8conv_op *dyd_fp8conv_create_variant(const dyd_fp8conv_desc *desc, dyd_isa isa,
                                           size_t variant, char *err, size_t err_len);
void dyd_fp8_add_run_for_isa(dyd_isa isa, const dyd_fp8_add_params *p, const uint8_t *a,
                             size_t a_inc, const uint8_t *b, size_t b_inc, uint8_t *y, size_t n);
void dyd_fp8_global_avgpool_run_for_isa(dyd_isa isa, const dyd_fp8_avgpool_params *p,
                                        const uint8_t *x, uint8_t *y);
void dyd_fp8_quantize_f32_for_isa(dyd_isa isa, const float *x, uint8_t *y, size_t n, float scale,
                                  int saturate);
/* The float32 conv's fused activation applied in place to n floats by `isa`'s
 * bundle (the code the conv kernels run in their epilogues), for accuracy tests. */
void dyd_f32_activation_for_isa(dyd_isa isa, dyd_f32_activation activation, float lo, float hi, float alpha,
                                float beta, float *x, size_t n);
/* The ISA a created op runs on. */
dyd_isa dyd_conv_isa(const dyd_conv_op *op);
/* `isa` capped to what this CPU and build support (what the functions above use). */
dyd_isa dyd_isa_supported(dyd_isa isa);

/* Element-wise kernels on an explicit ISA (same capping rule). */
void dyd_qadd_run_for_isa(dyd_isa isa, const dyd_binary_params *p, const void *a, size_t a_inc,
                          const void *b, size_t b_inc, void *y, size_t n);
void dyd_qmul_run_for_isa(dyd_isa isa, const dyd_binary_params *p, const void *a, size_t a_inc,
                          const void *b, size_t b_inc, void *y, size_t n);
void dyd_lut_run_for_isa(dyd_isa isa, const uint8_t table[256], const uint8_t *x, uint8_t *y,
                         size_t n);

/* The scalar oracle: straight loops over the unpacked descriptions, no validation
 * beyond what the loops need (call the `*_create` function to validate). Every
 * kernel matches these bit for bit. */
void dyd_ref_conv(const dyd_conv_desc *desc, const void *input, void *output);
void dyd_ref_avgpool(const dyd_avgpool_desc *desc, const void *input, void *output);
void dyd_ref_maxpool(const dyd_maxpool_desc *desc, const void *input, void *output);
void dyd_ref_qadd(const dyd_binary_params *p, const void *a, size_t a_inc,
                  const void *b, size_t b_inc, void *y, size_t n);
void dyd_ref_qmul(const dyd_binary_params *p, const void *a, size_t a_inc,
                  const void *b, size_t b_inc, void *y, size_t n);
void dyd_ref_lut(const uint8_t table[256], const uint8_t *x, uint8_t *y, size_t n);
/* FP8 oracles. dyd_ref_fp8conv accumulates in double (exact for K <= 2^17: every product
 * is a multiple of 2^-18 below 2^18), applies the epilogue in double
 * (acc * ((double)input_scale * channel_scale[oc]) + bias, clamp) and rounds once:
 * to float32, or from the double v / output_scale straight to E4M3 (ties to even,
 * saturating). Kernels match it within the tolerance above. The add and pooling
 * oracles compute the float32 formulas above; kernels match them bit for bit. */
void dyd_ref_fp8conv(const dyd_fp8conv_desc *desc, const uint8_t *input, void *output);
void dyd_ref_fp8_add(const dyd_fp8_add_params *p, const uint8_t *a, size_t a_inc,
                     const uint8_t *b, size_t b_inc, uint8_t *y, size_t n);
void dyd_ref_fp8_global_avgpool(const dyd_fp8_avgpool_params *p, const uint8_t *x, uint8_t *y);
/* E4M3 code nearest to a double (ties to even), saturating to +-448; NaN -> 0x7F/0xFF. */
uint8_t dyd_ref_fp8_e4m3_from_f64(double x);

#ifdef __cplusplus
}
#endif
#endif
