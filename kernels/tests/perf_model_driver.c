/*
 * Driver for tools/arm_perf_model.py: runs every EfficientNet-Lite0 INT8 layer shape
 * (and a few extra kernels the network does not reach) once each, on one ISA level.
 *
 *   perf_model_driver isa count   one run of each item between perf_begin() and
 *                                 perf_end(), two functions that do nothing, so that
 *                                 an instruction trace (qemu -d exec) can be split
 *                                 by item; op creation and weight packing fall outside
 *   perf_model_driver isa time    native median time of each item, and the clock
 *                                 measured with a chain of dependent multiplies (x86 only)
 * The GEMM and float-output GEMM use the row named after isa wherever the CPU has it.
 *
 * Every line it prints is tab-separated: "item" lines describe an item (index, name,
 * kind, layers sharing it, multiply-adds, kernel name), "time" lines give seconds.
 * Inputs and weights are pseudo-random; the network's requantization parameters
 * (zero points 0, clamp [0, 255], shifts 34-36) as kernel_bench -e uses them.
 */
#if !defined(SWIFT_PACKAGE)

#include "dyadic_kernels_testing.h"
#include "efficientnet_shapes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Marker functions: their addresses delimit the items in a trace. */
__attribute__((noinline)) void perf_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void perf_end(void) { __asm__ volatile("" ::: "memory"); }

static uint32_t rng = 12345;
static uint32_t next_rand(void) {
  rng = rng * 1664525u + 1013904223u;
  return rng >> 8;
}

/* Buffers are filled by copies of one random block (few instructions to trace). */
#define POOL 4096
static int8_t pool[3][POOL]; /* any byte; weights in [-127, 127]; in [-2^(b-1) + 1, 2^(b-1) - 1] */

static void fill(void *p, size_t n, const int8_t *from) {
  for (size_t i = 0; i < n; i += POOL) memcpy((char *)p + i, from, n - i < POOL ? n - i : POOL);
}

static uint8_t *bytes(size_t n) {
  uint8_t *p = malloc(n + 64);
  fill(p, n + 64, pool[0]);
  return p;
}

typedef enum { ITEM_CONV, ITEM_QADD, ITEM_QUANTIZE, ITEM_QGEMM } item_kind;

typedef struct {
  char name[64];
  item_kind kind;
  const char *family; /* gemm, dwconv, conv (im2col), misc, qgemm */
  unsigned count;     /* layers of the network sharing it; 0: not in the network */
  double macs;        /* multiply-adds (elements for element-wise items) */
  char kernel[128];
  /* state */
  dyd_conv_op *op;
  dyd_qgemm_op *qop;
  uint8_t *in, *in2, *out;
  float *fin, *fscale;
  void *ws;
  size_t n, m, k, tiles;
  dyd_binary_params bp;
} item;

static void make_conv(item *it, const dyd_net_shape *s, dyd_isa isa, uint32_t weight_bits,
                      unsigned count, const char *suffix) {
  dyd_conv_desc d;
  memset(&d, 0, sizeof d);
  d.geometry = (dyd_conv_geometry){.batch = 1, .in_h = s->in_h, .in_w = s->in_w, .in_c = s->in_c,
                                   .out_h = s->out_h, .out_w = s->out_w, .out_c = s->out_c,
                                   .kernel_h = s->kernel_h, .kernel_w = s->kernel_w,
                                   .stride_h = s->stride_h, .stride_w = s->stride_w,
                                   .dilation_h = 1, .dilation_w = 1, .pad_top = s->pad_top,
                                   .pad_left = s->pad_left, .groups = s->groups,
                                   .in_pixel_stride = s->in_c, .out_pixel_stride = s->out_c};
  const size_t k = (size_t)s->kernel_h * s->kernel_w * (s->in_c / s->groups);
  int8_t *w = malloc(s->out_c * k);
  int32_t *bias = malloc(s->out_c * 4), *mult = malloc(s->out_c * 4), *shift = malloc(s->out_c * 4);
  float *scale = malloc(s->out_c * 4);
  const int half = weight_bits && weight_bits < 8 ? 1 << (weight_bits - 1) : 128;
  for (size_t i = 0; i < POOL; i++) pool[2][i] = (int8_t)(pool[1][i] % half);
  fill(w, s->out_c * k, pool[2]);
  for (size_t i = 0; i < s->out_c; i++) {
    bias[i] = (int32_t)(next_rand() % 20001) - 10000;
    mult[i] = (int32_t)((1u << 30) + next_rand() % (1u << 24) * 64u);
    shift[i] = 34 + (int32_t)(next_rand() % 3);
    scale[i] = 1.0f / 4096;
  }
  d.input_zero_point = 0;
  d.weights = w;
  d.weight_bits = weight_bits;
  d.bias = bias;
  d.requant = (dyd_requant){DYD_REQUANT_DYADIC, 1, mult, shift, scale, 0, 0, 255};
  char err[200];
  it->op = dyd_conv_create_for_isa(&d, isa, err, sizeof err);
  if (it->op == NULL) {
    fprintf(stderr, "%s: %s\n", s->layer, err);
    exit(1);
  }
  free(w), free(bias), free(mult), free(shift), free(scale);
  snprintf(it->name, sizeof it->name, "%s%s", s->layer, suffix);
  it->kind = ITEM_CONV;
  it->family = s->groups > 1 ? "dwconv" : s->kernel_h * s->kernel_w > 1 ? "conv" : "gemm";
  it->count = count;
  it->macs = (double)s->out_h * s->out_w * s->out_c * (double)k;
  snprintf(it->kernel, sizeof it->kernel, "%s", dyd_conv_kernel_name(it->op));
  it->tiles = dyd_conv_tile_count(it->op);
  it->in = bytes((size_t)s->in_h * s->in_w * s->in_c);
  it->out = bytes((size_t)s->out_h * s->out_w * s->out_c);
  it->ws = malloc(dyd_conv_workspace_size(it->op) + 1);
}

/* A residual add of the network: n elements, the dyadic form. */
static void make_qadd(item *it, dyd_isa isa, const char *name, size_t n, unsigned count) {
  snprintf(it->name, sizeof it->name, "%s", name);
  it->kind = ITEM_QADD, it->family = "misc", it->count = count, it->macs = (double)n, it->n = n;
  it->bp = (dyd_binary_params){.kind = DYD_REQUANT_DYADIC, .a_zero_point = 3, .b_zero_point = 5,
                               .y_zero_point = 2, .qmin = 0, .qmax = 255, .a_mul = 1 << 29,
                               .b_mul = 3 << 27, .shift = 30};
  snprintf(it->kernel, sizeof it->kernel, "%s", dyd_qadd_kernel_name(DYD_REQUANT_DYADIC, 0));
  it->in = bytes(n), it->in2 = bytes(n), it->out = bytes(n);
  (void)isa;
}

/* The input QuantizeLinear: 3 x 224 x 224 floats (CHW) to NHWC bytes. */
static void make_quantize(item *it) {
  snprintf(it->name, sizeof it->name, "quantize_input");
  it->kind = ITEM_QUANTIZE, it->family = "misc", it->count = 1, it->n = 224 * 224;
  it->macs = 3.0 * 224 * 224;
  snprintf(it->kernel, sizeof it->kernel, "dyd_quantize_f32_to_nhwc");
  it->fin = malloc(3 * 224 * 224 * sizeof(float));
  for (size_t i = 0; i < 3 * 224 * 224; i++) it->fin[i] = (float)(next_rand() % 2001) / 1000.0f - 1.0f;
  it->out = bytes(3 * 224 * 224);
}

/* A float-output integer GEMM (not in the network): m x k times k x n. */
static void make_qgemm(item *it, dyd_isa isa, size_t m, size_t k, size_t n) {
  int8_t *b = malloc(k * n);
  fill(b, k * n, pool[1]);
  const dyd_qgemm_desc d = {k, n, b, NULL};
  char err[200];
  it->qop = dyd_qgemm_create_for_isa(&d, isa, err, sizeof err);
  if (it->qop == NULL) {
    fprintf(stderr, "qgemm: %s\n", err);
    exit(1);
  }
  free(b);
  snprintf(it->name, sizeof it->name, "qgemm_%zux%zux%zu", m, k, n);
  it->kind = ITEM_QGEMM, it->family = "qgemm", it->count = 0;
  it->m = m, it->k = k, it->n = n, it->macs = (double)m * k * n;
  snprintf(it->kernel, sizeof it->kernel, "%s", dyd_qgemm_kernel_name(it->qop));
  it->tiles = dyd_qgemm_tile_count(it->qop, m);
  it->in = bytes(m * k);
  it->fin = malloc(m * n * sizeof(float));
  it->fscale = malloc(2 * n * sizeof(float));
  for (size_t i = 0; i < 2 * n; i++) it->fscale[i] = 1.0f / 1024;
  it->ws = malloc(dyd_qgemm_workspace_size(it->qop, m) + 1);
}

static void run_item(const item *it, dyd_isa isa) {
  switch (it->kind) {
  case ITEM_CONV: dyd_conv_run(it->op, it->in, it->out, 0, it->tiles, it->ws); break;
  case ITEM_QADD: dyd_qadd_run_for_isa(isa, &it->bp, it->in, 1, it->in2, 1, it->out, it->n); break;
  case ITEM_QUANTIZE:
    dyd_quantize_f32_to_nhwc(it->fin, it->out, 3, it->n, 0, it->n, 1.0f / 64, 0, 0);
    break;
  case ITEM_QGEMM:
    dyd_qgemm_run_f32(it->qop, it->m, it->in, it->k, 3, it->fscale, it->fscale + it->n, it->fin,
                      it->n, 0, it->tiles, it->ws);
    break;
  }
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Cycles per second: 100 dependent 64-bit IMULs per iteration, 3 cycles each on every
 * Intel core since Sandy Bridge (the fastest of 9). Not a chain of adds: newer cores
 * fold an add of an immediate at rename. */
static double clock_hz(void) {
#if defined(__x86_64__)
  double best = 0;
  for (int r = 0; r < 9; r++) {
    long x = 1, one = 1, iters = 1000000;
    const double t0 = now();
    for (long i = 0; i < iters; i++) {
#define M10 "imul %1, %0\n" "imul %1, %0\n" "imul %1, %0\n" "imul %1, %0\n" "imul %1, %0\n" \
            "imul %1, %0\n" "imul %1, %0\n" "imul %1, %0\n" "imul %1, %0\n" "imul %1, %0\n"
      __asm__ volatile(M10 M10 M10 M10 M10 M10 M10 M10 M10 M10 : "+r"(x) : "r"(one));
#undef M10
    }
    const double hz = 300.0 * (double)iters / (now() - t0);
    if (hz > best) best = hz;
  }
  return best;
#else
  return 0;
#endif
}

#define MAX_ITEMS 64

int main(int argc, char **argv) {
  static const char *const names[] = {"scalar", "avx2", "avx512vnni", "neon", "neondot", "i8mm"};
  if (argc < 3) {
    fprintf(stderr, "usage: perf_model_driver isa count|time\n");
    return 2;
  }
  dyd_isa isa = dyd_active_isa();
  for (int j = 0; j < 6; j++)
    if (strcmp(argv[1], names[j]) == 0) isa = dyd_isa_supported((dyd_isa)j);
  const int timing = strcmp(argv[2], "time") == 0;
  /* The GEMM rows named after the level (on a CPU with AVX-VNNI, the avx2 level
   * would otherwise take the AVX-VNNI row, which qemu cannot trace). */
  const dyd_family gemms[] = {DYD_FAMILY_GEMM, DYD_FAMILY_QGEMM};
  for (int f = 0; f < 2; f++)
    for (size_t r = 0; r < dyd_registry_row_count(gemms[f]); r++)
      if (strcmp(dyd_registry_row(gemms[f], r).suffix, dyd_isa_name(isa)) == 0) {
        dyd_registry_force(gemms[f], (long)r);
        break;
      }

  for (size_t i = 0; i < POOL; i++)
    pool[0][i] = (int8_t)next_rand(), pool[1][i] = (int8_t)((int)(next_rand() % 255) - 127);
  static item items[MAX_ITEMS];
  size_t n = 0;
  for (size_t i = 0; i < DYD_EFFICIENTNET_LITE0_SHAPE_COUNT; i++) {
    const dyd_net_shape *s = &dyd_efficientnet_lite0_shapes[i];
    make_conv(&items[n++], s, isa, 0, s->count, "");
  }
  /* The residual adds: one per repeated block of stages 2-6. */
  make_qadd(&items[n++], isa, "qadd_56x56x24", 56 * 56 * 24, 1);
  make_qadd(&items[n++], isa, "qadd_28x28x40", 28 * 28 * 40, 1);
  make_qadd(&items[n++], isa, "qadd_14x14x80", 14 * 14 * 80, 2);
  make_qadd(&items[n++], isa, "qadd_14x14x112", 14 * 14 * 112, 2);
  make_qadd(&items[n++], isa, "qadd_7x7x192", 7 * 7 * 192, 3);
  make_quantize(&items[n++]);
  /* Kernels the network does not reach: 4-bit and 2-bit weights on a 1x1 layer, and
   * the float-output GEMM. */
  const dyd_net_shape *pw = NULL;
  for (size_t i = 0; i < DYD_EFFICIENTNET_LITE0_SHAPE_COUNT; i++)
    if (strcmp(dyd_efficientnet_lite0_shapes[i].layer, "conv28_quant") == 0)
      pw = &dyd_efficientnet_lite0_shapes[i];
  if (pw != NULL) {
    make_conv(&items[n++], pw, isa, 4, 0, "_w4");
    make_conv(&items[n++], pw, isa, 2, 0, "_w2");
  }
  make_qgemm(&items[n++], isa, 128, 384, 384);

  printf("isa\t%s\n", dyd_isa_name(isa));
  for (size_t i = 0; i < n; i++)
    printf("item\t%zu\t%s\t%s\t%u\t%.0f\t%s\n", i, items[i].name, items[i].family, items[i].count,
           items[i].macs, items[i].kernel);
  fflush(stdout);
  if (!timing) {
    for (size_t i = 0; i < n; i++) {
      run_item(&items[i], isa); /* first-run effects (workspace, tables) stay outside */
      perf_begin();
      run_item(&items[i], isa);
      perf_end();
    }
    return 0;
  }
  printf("clock_hz\t%.0f\n", clock_hz());
  for (size_t i = 0; i < n; i++) {
    run_item(&items[i], isa);
    const double t0 = now();
    run_item(&items[i], isa);
    const double once = now() - t0;
    long reps = once > 0 ? (long)(0.02 / once) : 1;
    if (reps < 1) reps = 1;
    double r[9];
    for (int j = 0; j < 9; j++) {
      const double t1 = now();
      for (long q = 0; q < reps; q++) run_item(&items[i], isa);
      r[j] = (now() - t1) / (double)reps;
    }
    qsort(r, 9, sizeof r[0], cmp_double);
    printf("time\t%zu\t%.9f\n", i, r[4]);
    fflush(stdout);
  }
  return 0;
}

#endif /* !SWIFT_PACKAGE */
