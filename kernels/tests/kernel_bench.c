/*
 * Single-thread kernel throughput: the in-register VPDPBUSD peak measured in
 * the same run, then conv shapes through the public API (one thread, all
 * tiles), each the median of several timed runs after a warm-up.
 *
 *   kernel_bench [isa]     (DYADIC_ISA-style name; default: active)
 */
#if !defined(SWIFT_PACKAGE)

#include "dyadic_kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

#if defined(__x86_64__)
/* 24 independent VPDPBUSD chains in registers (written in asm so that no
 * compiler keeps them in memory): ops = 2 * 64 per instruction. */
__attribute__((target("avx512f,avx512vnni"), noinline)) static double peak_vnni(long iters) {
  const double t0 = now();
  __asm__ volatile(
      "vpxord %%zmm0, %%zmm0, %%zmm0\n"
      "vpternlogd $0xff, %%zmm30, %%zmm30, %%zmm30\n"
      "vpternlogd $0xff, %%zmm31, %%zmm31, %%zmm31\n"
      "1:\n"
#define DP(r) "vpdpbusd %%zmm30, %%zmm31, %%zmm" #r "\n"
      DP(0) DP(1) DP(2) DP(3) DP(4) DP(5) DP(6) DP(7) DP(8) DP(9)
      DP(10) DP(11) DP(12) DP(13) DP(14) DP(15) DP(16) DP(17) DP(18) DP(19) DP(20) DP(21) DP(22) DP(23)
#undef DP
      "dec %0\n"
      "jnz 1b\n"
      "vzeroupper\n"
      : "+r"(iters)
      :
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",
        "xmm30", "xmm31", "cc");
  return (now() - t0);
}
#endif

typedef struct {
  const char *label;
  uint32_t h, w, in_c, out_c, k, stride, groups;
} shape;

static double bench_conv(const shape *s, dyd_isa isa, int input_signed, dyd_requant_kind kind,
                         char *name, size_t name_len) {
  dyd_conv_desc d;
  memset(&d, 0, sizeof d);
  dyd_conv_geometry *g = &d.geometry;
  g->batch = 1;
  g->in_h = s->h;
  g->in_w = s->w;
  g->in_c = s->in_c;
  g->out_c = s->out_c;
  g->kernel_h = g->kernel_w = s->k;
  g->stride_h = g->stride_w = s->stride;
  g->dilation_h = g->dilation_w = 1;
  g->pad_top = g->pad_left = s->k / 2;
  g->out_h = (s->h + 2 * (s->k / 2) - s->k) / s->stride + 1;
  g->out_w = (s->w + 2 * (s->k / 2) - s->k) / s->stride + 1;
  g->groups = s->groups;
  g->in_pixel_stride = s->in_c;
  g->out_pixel_stride = s->out_c;
  const size_t k = (size_t)s->k * s->k * (s->in_c / s->groups);
  int8_t *w = malloc(s->out_c * k);
  int32_t *bias = calloc(s->out_c, sizeof *bias), *mult = malloc(s->out_c * 4), *shift = malloc(s->out_c * 4);
  float *scale = malloc(s->out_c * 4);
  for (size_t i = 0; i < s->out_c * k; i++) w[i] = (int8_t)(rand() % 255 - 127);
  for (size_t i = 0; i < s->out_c; i++) {
    mult[i] = 1 << 30;
    shift[i] = 40;
    scale[i] = 1.0f / 4096;
  }
  d.input_signed = input_signed;
  d.input_zero_point = input_signed ? 0 : 128;
  d.weights = w;
  d.bias = bias;
  d.requant = (dyd_requant){kind, 1, mult, shift, scale, 0, input_signed ? -128 : 0, input_signed ? 127 : 255};
  d.output_signed = input_signed;
  char err[200];
  dyd_conv_op *op = dyd_conv_create_for_isa(&d, isa, err, sizeof err);
  if (!op) {
    fprintf(stderr, "%s: %s\n", s->label, err);
    exit(1);
  }
  snprintf(name, name_len, "%s", dyd_conv_kernel_name(op));
  const size_t in_bytes = (size_t)s->h * s->w * s->in_c, out_bytes = (size_t)g->out_h * g->out_w * s->out_c;
  uint8_t *in = malloc(in_bytes), *out = malloc(out_bytes);
  for (size_t i = 0; i < in_bytes; i++) in[i] = (uint8_t)rand();
  void *ws = malloc(dyd_conv_workspace_size(op) + 1);
  const size_t tiles = dyd_conv_tile_count(op);
  const double ops = 2.0 * g->out_h * g->out_w * s->out_c * (double)k;
  int reps = (int)(2e9 / ops);
  if (reps < 1) reps = 1;
  if (reps > 2000) reps = 2000;
  dyd_conv_run(op, in, out, 0, tiles, ws);
  double t[9];
  for (int r = 0; r < 9; r++) {
    const double t0 = now();
    for (int i = 0; i < reps; i++) dyd_conv_run(op, in, out, 0, tiles, ws);
    t[r] = (now() - t0) / reps;
  }
  qsort(t, 9, sizeof t[0], cmp_double);
  dyd_conv_destroy(op);
  free(w); free(bias); free(mult); free(shift); free(scale); free(in); free(out); free(ws);
  return ops / t[4] * 1e-9;
}

int main(int argc, char **argv) {
  static const char *const names[] = {"scalar", "avx2", "avx512vnni", "neon", "neondot", "i8mm"};
  dyd_isa isa = dyd_active_isa();
  for (int i = 1; i < argc; i++)
    for (int j = 0; j < 6; j++)
      if (strcmp(argv[i], names[j]) == 0) isa = dyd_isa_supported((dyd_isa)j);
  double peak = 0;
#if defined(__x86_64__)
  if (dyd_detected_isa() == DYD_ISA_AVX512VNNI) {
    double p[5];
    const long iters = 20000000;
    for (int i = 0; i < 5; i++) p[i] = (double)iters * 24 * 128 / peak_vnni(iters) * 1e-9;
    qsort(p, 5, sizeof p[0], cmp_double);
    peak = p[2];
  }
#endif
  printf("isa %s, one thread; VPDPBUSD zmm in-register peak %.1f GOPS\n", dyd_isa_name(isa), peak);
  static const shape shapes[] = {
      {"1x1 56x56 64->256", 56, 56, 64, 256, 1, 1, 1},
      {"1x1 28x28 256->512", 28, 28, 256, 512, 1, 1, 1},
      {"1x1 14x14 512->512", 14, 14, 512, 512, 1, 1, 1},
      {"1x1 7x7 1024->1024", 7, 7, 1024, 1024, 1, 1, 1},
      {"fc 1x1 2048->1000", 1, 1, 2048, 1000, 1, 1, 1},
      {"3x3 56x56 64->64", 56, 56, 64, 64, 3, 1, 1},
      {"3x3 28x28 128->128", 28, 28, 128, 128, 3, 1, 1},
      {"3x3 s2 112x112 32->64", 112, 112, 32, 64, 3, 2, 1},
      {"dw3x3 112x112x32", 112, 112, 32, 32, 3, 1, 32},
      {"dw3x3 s2 56x56x144", 56, 56, 144, 144, 3, 2, 144},
      {"dw5x5 28x28x240", 28, 28, 240, 240, 5, 1, 240},
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    for (int sg = 0; sg < 2; sg++) {
      char name[128];
      const double gops = bench_conv(&shapes[i], isa, sg, DYD_REQUANT_DYADIC, name, sizeof name);
      printf("%-24s %-3s %7.1f GOPS %5.1f%% of peak  %s\n", shapes[i].label, sg ? "s8" : "u8", gops,
             peak > 0 ? 100 * gops / peak : 0.0, name);
    }
  }
  return 0;
}

#endif /* !SWIFT_PACKAGE */
