/*
 * Kernel test driver: every kernel variant available on this machine against
 * the scalar oracle, bit for bit, and the oracle itself against independent
 * formulas. Plain C, no framework; one line per failure, then "N passed, N failed".
 *
 *   kernel_tests [-v] [seed]
 *
 * Build: tools/kernel_tests.sh (native), tools/arm_kernel_tests.sh (qemu-aarch64).
 * SwiftPM compiles every C file under kernels/, so the driver is empty there.
 */
#if !defined(SWIFT_PACKAGE)

#include "dyadic_kernels_testing.h"
#include "fp8_reference.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- bookkeeping ------------------------------------------------------------------------ */

static unsigned long passed, failed;
static int verbose;

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...) {
  if (ok) {
    passed++;
    return;
  }
  failed++;
  va_list ap;
  va_start(ap, fmt);
  printf("FAIL ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
}

/* splitmix64: reproducible across platforms */
static uint64_t rng_state;
static uint64_t rnd64(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static uint32_t rnd(uint32_t n) { return n ? (uint32_t)(rnd64() % n) : 0; }
static int32_t rnd_range(int32_t lo, int32_t hi) { return lo + (int32_t)rnd((uint32_t)(hi - lo + 1)); }
static void fill_random(void *p, size_t n) {
  for (size_t i = 0; i < n; i++) ((uint8_t *)p)[i] = (uint8_t)rnd64();
}

/* Buffers whose last byte is followed by an inaccessible page, so that any read
 * past the end faults instead of passing silently. */
typedef struct {
  void *base;
  size_t map_len;
  uint8_t *p;
} guarded;

static guarded galloc(size_t n) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  guarded g;
  g.map_len = (n + page - 1) / page * page + page;
  g.base = mmap(NULL, g.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g.base == MAP_FAILED) {
    perror("mmap");
    exit(2);
  }
  mprotect((uint8_t *)g.base + g.map_len - page, page, PROT_NONE);
  g.p = (uint8_t *)g.base + g.map_len - page - n;
  return g;
}
static void gfree(guarded g) { munmap(g.base, g.map_len); }

static const dyd_isa all_isas[] = {DYD_ISA_SCALAR,     DYD_ISA_AVX2, DYD_ISA_AVX512VNNI,
                                   DYD_ISA_NEON,       DYD_ISA_NEONDOT, DYD_ISA_I8MM};
static bool isa_available(dyd_isa isa) { return dyd_isa_supported(isa) == isa; }

/* ---- requantization oracle against independent formulas ------------------------------- */

/* floor((p + 2^(s-1)) / 2^s) by division, for products that fit int64 */
static int64_t round_shift_div(int64_t p, int s) {
  const int64_t d = (int64_t)1 << s;
  const int64_t r = p + d / 2;
  int64_t q = r / d;
  if ((r % d) != 0 && r < 0) q--;
  return q;
}

/* dyd_requantize_array's 64-bit path against the 128-bit oracle: random int32
 * accumulators (the extremes included), every shift from 1 to 70, uint8 and int8 bounds. */
static void test_requantize_array(void) {
  enum { N = 257 };
  int32_t acc[N];
  uint8_t got[N];
  unsigned long bad = 0;
  for (int round = 0; round < 2000; round++) {
    for (int i = 0; i < N; i++) acc[i] = (int32_t)rnd64() >> rnd(31);
    acc[0] = INT32_MAX, acc[1] = INT32_MIN, acc[2] = 0;
    const int is_signed = round & 1;
    dyd_requant_scalar r;
    memset(&r, 0, sizeof r);
    r.kind = DYD_REQUANT_DYADIC;
    r.multiplier = (int32_t)(rnd64() & 0x7fffffff) >> rnd(31);
    if (round % 7 == 0) r.multiplier = -r.multiplier;
    r.shift = 1 + round % 70;
    r.zero_point = is_signed ? rnd_range(-128, 127) : rnd_range(0, 255);
    r.qmin = is_signed ? -128 : 0, r.qmax = is_signed ? 127 : 255;
    dyd_requantize_array(acc, got, N, &r, is_signed);
    for (int i = 0; i < N; i++) {
      const uint8_t want = (uint8_t)dyd_requantize_dyadic(acc[i], r.multiplier, r.shift, r.zero_point, r.qmin, r.qmax);
      if (got[i] != want && bad++ < 5)
        check(0, "requantize_array: acc %d m %d shift %d zp %d: got %u want %u", acc[i], r.multiplier, r.shift,
              r.zero_point, got[i], want);
    }
  }
  check(bad == 0, "requantize_array: %lu mismatches", bad);
}

/* dyd_softmax_u8_rows against the definition it computes: p = floor((e(d) 2^bits +
 * sum / 2) / sum) by integer division, then the requantization oracle; long rows (one
 * output per distance, the vectorised loop) and short ones (per element), strided rows. */
static void test_softmax_rows(void) {
  int64_t table[256];
  for (int d = 0; d < 256; d++) table[d] = (int64_t)llround(ldexp(exp(-0.045 * d), 22));
  enum { N = 300, INNER = 3 };
  uint8_t x[N * INNER], y[N * INNER];
  unsigned long bad = 0;
  for (int round = 0; round < 200; round++) {
    const size_t n = round % 2 ? N : 1 + rnd(12), inner = round % 3 == 0 ? INNER : 1;
    const int x_signed = round % 4 == 1;
    for (size_t i = 0; i < n * inner; i++) x[i] = (uint8_t)rnd(256);
    dyd_requant_scalar r;
    memset(&r, 0, sizeof r);
    r.kind = DYD_REQUANT_DYADIC;
    r.multiplier = 0x40000000 + (int32_t)rnd(0x3fffffff);
    r.shift = 52 + (int32_t)rnd(10);
    r.zero_point = x_signed ? -128 : 0, r.qmin = x_signed ? -128 : 0, r.qmax = x_signed ? 127 : 255;
    dyd_softmax_u8_rows(x, y, 1, n, inner, x_signed, table, 30, &r);
    for (size_t j = 0; j < inner; j++) {
      int largest = 0;
      for (size_t i = 0; i < n; i++) {
        const int c = x[i * inner + j] ^ (x_signed ? 0x80 : 0);
        largest = c > largest ? c : largest;
      }
      int64_t sum = 0;
      for (size_t i = 0; i < n; i++) sum += table[largest - (x[i * inner + j] ^ (x_signed ? 0x80 : 0))];
      for (size_t i = 0; i < n; i++) {
        const int64_t e = table[largest - (x[i * inner + j] ^ (x_signed ? 0x80 : 0))];
        const int64_t p = ((e << 30) + sum / 2) / sum;
        const uint8_t want = (uint8_t)dyd_requantize_dyadic(p, r.multiplier, r.shift, r.zero_point, r.qmin, r.qmax);
        if (y[i * inner + j] != want && bad++ < 5)
          check(0, "softmax rows n %zu: got %u want %u", n, y[i * inner + j], want);
      }
    }
  }
  check(bad == 0, "softmax rows: %lu mismatches", bad);
}

static void test_requant_oracle(void) {
  /* hand-checked values: ties go toward +infinity */
  static const struct { int64_t acc; int32_t m, s, z, lo, hi, want; } cases[] = {
      {1, 1 << 30, 31, 0, -128, 127, 1},    /* 0.5 -> 1 */
      {-1, 1 << 30, 31, 0, -128, 127, 0},   /* -0.5 -> 0 */
      {-3, 1 << 30, 31, 0, -128, 127, -1},  /* -1.5 -> -1 */
      {3, 1 << 30, 31, 0, -128, 127, 2},    /* 1.5 -> 2 */
      {5, 0, 1, 17, 0, 255, 17},            /* zero scale -> z */
      {1000000, 0x7fffffff, 1, 0, 0, 255, 255},
      {-1000000, 0x7fffffff, 1, 0, 0, 255, 0},
      {INT32_MAX, 0x7fffffff, 62, 0, -128, 127, 1}, /* 0.99999... -> 1 */
      {INT32_MIN, 0x7fffffff, 62, 0, -128, 127, -1}, /* -2^62 + 2^31 ... / 2^62 -> -1 */
      {INT32_MAX, 0x7fffffff, 31, 5, -1000000, 1000000, 1000000},
      {3, 1 << 20, 1, -10, -1000000, 1000000, 1000000},
      {3, 1 << 18, 1, -10, -1000000, 1000000, 3 * (1 << 17) - 10},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const int32_t got = dyd_requantize_dyadic(cases[i].acc, cases[i].m, cases[i].s, cases[i].z,
                                              cases[i].lo, cases[i].hi);
    check(got == cases[i].want, "requant dyadic case %zu: got %d want %d", i, got, cases[i].want);
  }
  /* random: against division-based rounding and a double formula where exact */
  unsigned long bad = 0;
  for (int i = 0; i < 200000; i++) {
    const int64_t acc = (int32_t)rnd64() >> rnd(31);
    const int32_t m = (int32_t)(rnd64() & 0x7fffffff) >> rnd(31);
    const int s = 1 + (int)rnd(62);
    const int32_t z = rnd_range(-128, 255);
    const int32_t got = dyd_requantize_dyadic(acc, m, s, z, -100000, 100000);
    const int64_t q = round_shift_div(acc * m, s) + z;
    const int32_t want = q < -100000 ? -100000 : q > 100000 ? 100000 : (int32_t)q;
    if (got != want) bad++;
    if (llabs(acc * m) < (1ll << 52)) {
      const double f = floor((double)(acc * m) / ldexp(1.0, s) + 0.5) + z;
      const int32_t want2 = f < -100000 ? -100000 : f > 100000 ? 100000 : (int32_t)f;
      if (got != want2) bad++;
    }
  }
  check(bad == 0, "requant dyadic random: %lu mismatches", bad);
  /* fp32: ties to even, and the float product (exact in double) rounded once */
  static const struct { int32_t acc; float scale; int32_t z, want; } fcases[] = {
      {5, 0.5f, 0, 2}, {7, 0.5f, 0, 4}, {-5, 0.5f, 0, -2}, {-7, 0.5f, 0, -4},
      {1, 0.5f, 10, 10}, {3, 0.5f, 10, 12}, {1000, 1.0f, 0, 127}, {-1000, 1.0f, 0, -128},
      {INT32_MAX, 1.0f, 0, 127}, {INT32_MIN, 1.0f, 3, -128}, {123, 0.0f, -7, -7},
  };
  for (size_t i = 0; i < sizeof fcases / sizeof fcases[0]; i++) {
    const int32_t got = dyd_requantize_fp32(fcases[i].acc, fcases[i].scale, fcases[i].z, -128, 127);
    check(got == fcases[i].want, "requant fp32 case %zu: got %d want %d", i, got, fcases[i].want);
  }
  bad = 0;
  for (int i = 0; i < 200000; i++) {
    const int32_t acc = (int32_t)rnd64() >> rnd(31);
    const float scale = ldexpf((float)(rnd64() & 0xffffff) / 16777216.0f, -(int)rnd(30));
    const float prod = (float)((double)(float)acc * (double)scale); /* exact, then one rounding */
    const double r = nearbyint((double)prod) + 3;
    const int32_t want = r < -128 ? -128 : r > 127 ? 127 : (int32_t)r;
    if (dyd_requantize_fp32(acc, scale, 3, -128, 127) != want) bad++;
  }
  check(bad == 0, "requant fp32 random: %lu mismatches", bad);
}

/* ---- conv test cases ---------------------------------------------------------------------- */

typedef struct {
  uint32_t batch, in_h, in_w, in_c, out_c, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, groups;
  uint32_t in_extra, out_extra;   /* pixel stride padding */
  int in_signed, out_signed;
  dyd_requant_kind kind;
  int per_channel;
  int zx_mode;                    /* 0 random, 1 type min, 2 type max */
  int mult_mode;                  /* 0 realistic, 1 zero, 2 2^30, 3 2^31-1 */
  int shift_mode;                 /* 0 realistic, 1 s=1, 2 s=31, 3 s=62, 4 s=63, 5 s=100,
                                     6 s=32, 7 s=33 (the x86 fast stage's edges), 8 any of 1..62,
                                     9 any of 20..32 with the multiplier scaled to match (the
                                     x86 pre-shifted fast stage), 10 any of 30..32 with
                                     multipliers in [2^30, 2^31) (4-bit weight scales) */
  int near_bound;                 /* accumulators at the x86 pre-shift's overflow bound:
                                     1 every channel at or below it, 2 one channel just above */
  int narrow;                     /* fused relu-like clamp */
  int zero_channel;               /* one all-zero weight channel */
  uint32_t weight_bits;           /* desc.weight_bits: 0 or 8 int8, 2-7 weights in [-2^(b-1), 2^(b-1) - 1] */
} conv_case;

typedef struct {
  dyd_conv_desc d;
  int8_t *w;
  int32_t *bias, *mult, *shift;
  float *scale;
  size_t in_bytes, out_bytes;
} conv_setup;

static uint32_t out_dim(uint32_t in, uint32_t k, uint32_t s, uint32_t d, uint32_t p0, uint32_t p1) {
  const int64_t span = (int64_t)(k - 1) * d + 1, total = (int64_t)in + p0 + p1;
  return total < span ? 0 : (uint32_t)((total - span) / s + 1);
}

/* Requantization parameters that keep outputs spread over the range for
 * accumulators of magnitude about `typical` (unless an edge mode is asked). */
static void pick_requant(int mult_mode, int shift_mode, double typical, int32_t *m, int32_t *s,
                         float *scale) {
  const double target = 100.0 / (typical > 1 ? typical : 1) * ldexp(1.0, (int)rnd(5) - 2);
  int e;
  const double frac = frexp(target, &e); /* target = frac * 2^e, frac in [0.5, 1) */
  int32_t mm = (int32_t)(frac * 2147483648.0);
  if (mm < 0 || mm >= 0x7fffffff) mm = 0x7fffffff;
  int32_t ss = 31 - e;
  if (ss < 1) ss = 1;
  if (ss > 62) ss = 62;
  if (mult_mode == 1) mm = 0;
  if (mult_mode == 2) mm = 1 << 30;
  if (mult_mode == 3) mm = 0x7fffffff;
  if (shift_mode == 1) ss = 1;
  if (shift_mode == 2) ss = 31;
  if (shift_mode == 3) ss = 62;
  if (shift_mode == 4) ss = 63;  /* accepted: equivalent to a zero multiplier */
  if (shift_mode == 5) ss = 100;
  if (shift_mode == 6) ss = 32;
  if (shift_mode == 7) ss = 33;
  if (shift_mode == 8) ss = rnd_range(1, 62); /* per channel: mixes kernels' fast and general stages */
  if (shift_mode == 9) { /* the same scale at a shift below 33 */
    ss = rnd_range(20, 32);
    const double mf = ldexp(target, ss);
    mm = mf >= 2147483647.0 ? 0x7fffffff : mf < 1 ? 1 : (int32_t)mf;
  }
  if (shift_mode == 10) {
    ss = rnd_range(30, 32);
    mm = (int32_t)((1u << 30) + (uint32_t)(rnd64() & 0x3fffffff));
  }
  *m = mm;
  *s = ss;
  *scale = (float)(target * (0.75 + 0.5 * (double)rnd(1000) / 1000.0));
  if (mult_mode == 1) *scale = 0.0f;
  if (mult_mode == 3) *scale = 1.0f;
}

/*
 * near_bound: per channel, weights of one sign, a shift below 33 and a bias that put
 * the accumulator of a pixel whose inputs are all at the type's end away from the
 * zero point (test_conv_case fills most inputs so) at +-(L + delta), L = (2^31 - 1)
 * >> (33 - s), the largest |acc| that the x86 fast stage may shift left by 33 - s
 * (conv-op.c bounds |acc| by |bias| + sum |w| * max |x - z_x|). delta in [-2, 0], and
 * with near_bound 2 one channel +1: its block must take the general stage. The
 * multiplier keeps outputs of such accumulators inside the output range.
 */
static void set_near_bound(const conv_case *c, conv_setup *s, size_t k, int8_t wmin, int8_t wmax) {
  const int32_t tmin = c->in_signed ? -128 : 0;
  const int dir = s->d.input_zero_point == tmin ? 1 : -1; /* sign of x - z_x at the far end */
  const size_t above = c->near_bound == 2 ? rnd(c->out_c) : SIZE_MAX;
  for (size_t i = 0; i < c->out_c; i++) {
    const int sign = rnd(2) ? 1 : -1;
    int64_t base = 0;
    for (size_t j = 0; j < k; j++) {
      const int32_t a = rnd(8) == 0 ? 0 : rnd_range(1, sign > 0 ? wmax : -wmin);
      s->w[i * k + j] = (int8_t)(sign * a);
      base += a;
    }
    base *= 255;
    int kmax = 0; /* the largest pre-shift whose bound still covers these weights */
    while (kmax < 13 && ((int64_t)INT32_MAX >> (kmax + 1)) >= base + 2) kmax++;
    const int ks = kmax ? rnd_range(1, kmax) : 1;
    const int64_t lim = (int64_t)INT32_MAX >> ks;
    const int64_t delta = i == above ? 1 : -(int64_t)rnd(3);
    const int64_t b = lim - base + delta;
    s->bias[i] = (int32_t)(b < 0 ? 0 : sign * dir * b);
    s->shift[i] = 33 - ks;
    /* outputs about +-(64..190) from the accumulator's extreme */
    const double mf = ldexp((double)(64 + rnd(127)), s->shift[i]) / (double)lim;
    s->mult[i] = mf >= 2147483647.0 ? 0x7fffffff : mf < 1 ? 1 : (int32_t)mf;
    s->scale[i] = (float)((64 + rnd(127)) / (double)lim);
  }
}

static bool make_conv(const conv_case *c, conv_setup *s) {
  memset(s, 0, sizeof *s);
  dyd_conv_geometry *g = &s->d.geometry;
  g->batch = c->batch;
  g->in_h = c->in_h;
  g->in_w = c->in_w;
  g->in_c = c->in_c;
  g->out_c = c->out_c;
  g->kernel_h = c->kh;
  g->kernel_w = c->kw;
  g->stride_h = c->sh;
  g->stride_w = c->sw;
  g->dilation_h = c->dh;
  g->dilation_w = c->dw;
  g->pad_top = c->pt;
  g->pad_left = c->pl;
  g->groups = c->groups;
  g->out_h = out_dim(c->in_h, c->kh, c->sh, c->dh, c->pt, c->pb);
  g->out_w = out_dim(c->in_w, c->kw, c->sw, c->dw, c->pl, c->pr);
  if (!g->out_h || !g->out_w) return false;
  g->in_pixel_stride = c->in_c + c->in_extra;
  g->out_pixel_stride = c->out_c + c->out_extra;
  s->d.input_signed = c->in_signed;
  s->d.output_signed = c->out_signed;
  const int32_t tmin = c->in_signed ? -128 : 0, tmax = c->in_signed ? 127 : 255;
  s->d.input_zero_point = c->zx_mode == 1 ? tmin : c->zx_mode == 2 ? tmax : rnd_range(tmin, tmax);
  const size_t icpg = c->in_c / c->groups, k = (size_t)c->kh * c->kw * icpg;
  s->w = malloc(c->out_c * k);
  s->bias = malloc(c->out_c * sizeof *s->bias);
  s->mult = malloc(c->out_c * sizeof *s->mult);
  s->shift = malloc(c->out_c * sizeof *s->shift);
  s->scale = malloc(c->out_c * sizeof *s->scale);
  fill_random(s->w, c->out_c * k);
  const bool narrow_w = c->weight_bits >= 2 && c->weight_bits < 8;
  /* int8 weights are sometimes all in [-64, 64] (a symmetric reduced range, as
   * quantizers write for CPUs whose int16 pair sums must not saturate) */
  const bool sym7 = !narrow_w && rnd(3) == 0;
  const int8_t wmin = narrow_w ? (int8_t)-(1 << (c->weight_bits - 1)) : sym7 ? -64 : -128;
  const int8_t wmax = narrow_w ? (int8_t)((1 << (c->weight_bits - 1)) - 1) : sym7 ? 64 : 127;
  if (narrow_w || sym7)
    for (size_t i = 0; i < c->out_c * k; i++) s->w[i] = (int8_t)rnd_range(wmin, wmax);
  if (rnd(4) == 0) /* weights at the edges */
    for (size_t i = 0; i < c->out_c * k; i++) s->w[i] = rnd(2) ? wmin : wmax;
  if ((narrow_w || sym7) && rnd(2)) { /* a channel of minimums first, one of maximums last */
    memset(s->w, (uint8_t)wmin, k);
    memset(s->w + (c->out_c - 1) * k, (uint8_t)wmax, k);
  }
  if (c->zero_channel) memset(s->w + (c->out_c / 2) * k, 0, k);
  /* accumulators of about 128 * (weight spread) * sqrt(K) */
  const double typical = 128.0 * 0.55 * (wmax + 1) * sqrt((double)k);
  for (size_t i = 0; i < c->out_c; i++) {
    int64_t b = (int64_t)(int32_t)rnd64() % (int64_t)(typical * 2 + 1);
    if (rnd(16) == 0) b = rnd(2) ? INT32_MAX : INT32_MIN; /* the sum wraps modulo 2^32 */
    s->bias[i] = (int32_t)b;
    pick_requant(c->mult_mode, c->shift_mode, typical, &s->mult[i], &s->shift[i], &s->scale[i]);
  }
  if (c->near_bound) set_near_bound(c, s, k, wmin, wmax);
  if (c->zero_channel && c->per_channel && rnd(2)) { /* as quantizers leave them: scale 1.0 */
    s->mult[c->out_c / 2] = rnd(2) ? 1 << 30 : (int32_t)(rnd64() & 0x7fffffff);
    s->shift[c->out_c / 2] = 1 + (int32_t)rnd(40);
  }
  dyd_requant *rq = &s->d.requant;
  rq->kind = c->kind;
  rq->per_channel = c->per_channel;
  rq->multiplier = s->mult;
  rq->shift = s->shift;
  rq->scale = s->scale;
  const int32_t omin = c->out_signed ? -128 : 0, omax = c->out_signed ? 127 : 255;
  rq->zero_point = c->zx_mode == 1 ? omin : c->zx_mode == 2 ? omax : rnd_range(omin, omax);
  rq->qmin = omin;
  rq->qmax = omax;
  if (c->narrow) { /* ReLU6-like: [z, z + a few steps] inside the type */
    rq->qmin = rq->zero_point;
    rq->qmax = rq->zero_point + rnd_range(0, 60);
    if (rq->qmax > omax) rq->qmax = omax;
  }
  s->d.weights = s->w;
  s->d.weight_bits = c->weight_bits;
  s->d.bias = rnd(8) == 0 && !c->near_bound ? NULL : s->bias;
  s->in_bytes = (size_t)g->batch * g->in_h * g->in_w * g->in_pixel_stride;
  s->out_bytes = (size_t)g->batch * g->out_h * g->out_w * g->out_pixel_stride;
  return true;
}

static void free_conv(conv_setup *s) {
  free(s->w);
  free(s->bias);
  free(s->mult);
  free(s->shift);
  free(s->scale);
}

static void describe_conv(const conv_case *c, char *buf, size_t len) {
  snprintf(buf, len,
           "n%u %ux%ux%u->%u k%ux%u s%u,%u d%u,%u p%u,%u,%u,%u g%u x+%u y+%u %s->%s %s%s zx%d m%d "
           "s%d%s%s%s w%u",
           c->batch, c->in_h, c->in_w, c->in_c, c->out_c, c->kh, c->kw, c->sh, c->sw, c->dh, c->dw,
           c->pt, c->pl, c->pb, c->pr, c->groups, c->in_extra, c->out_extra,
           c->in_signed ? "s8" : "u8", c->out_signed ? "s8" : "u8",
           c->kind == DYD_REQUANT_DYADIC ? "dyadic" : "fp32", c->per_channel ? "/pc" : "/pt",
           c->zx_mode, c->mult_mode, c->shift_mode, c->narrow ? " narrow" : "",
           c->zero_channel ? " zero-ch" : "",
           c->near_bound == 1 ? " at-bound" : c->near_bound == 2 ? " above-bound" : "",
           c->weight_bits ? c->weight_bits : 8);
}

/* Runs `op` over its tiles in random chunks and a random order. */
static void run_conv_tiles(const dyd_conv_op *op, const void *in, void *out) {
  const size_t tiles = dyd_conv_tile_count(op), ws_size = dyd_conv_workspace_size(op);
  guarded ws = galloc(ws_size ? ws_size : 1);
  size_t starts[64], counts[64], chunks = 0, t = 0;
  while (t < tiles) {
    size_t n = 1 + rnd(tiles < 4 ? 1 : (uint32_t)(tiles / 3));
    if (chunks == 63) n = tiles - t;
    if (n > tiles - t) n = tiles - t;
    starts[chunks] = t;
    counts[chunks++] = n;
    t += n;
  }
  for (size_t i = chunks; i > 1; i--) { /* shuffle */
    const size_t j = rnd((uint32_t)i);
    size_t a = starts[i - 1], b = counts[i - 1];
    starts[i - 1] = starts[j];
    counts[i - 1] = counts[j];
    starts[j] = a;
    counts[j] = b;
  }
  for (size_t i = 0; i < chunks; i++) dyd_conv_run(op, in, out, starts[i], counts[i], ws_size ? ws.p : NULL);
  gfree(ws);
}

/* Which path tiles of low-bit ops take (conv-op.c; internal, tests only): 0 the
 * packed kernels, 1 the default mix, 2 the unpacked copy wherever the ISA has one. */
extern int dyd_gemm_lowbit_unpack_mode;

/* Packed weight bytes a GEMM op must report: the tile NRxKR read from the kernel
 * name, K padded to KR (to 8 for the NEON 4x8c1 kernel, whose low-bit unit is 8 K
 * steps), output channels to NR, `bits` per weight. */
static size_t expected_gemm_weight_bytes(const conv_case *c, const char *name, unsigned bits) {
  const char *t = strstr(name, "_ukernel_");
  unsigned mr = 0, nr = 0, kr = 0;
  if (t == NULL || sscanf(t, "_ukernel_%ux%uc%u__", &mr, &nr, &kr) != 3 || !nr || !kr) return 0;
  const size_t k = (size_t)c->kh * c->kw * (c->in_c / c->groups), ocpg = c->out_c / c->groups;
  /* low-bit panels are whole units: 8 K steps on NEON's c1 layout, 2 on AVX2's c2 */
  const size_t kgran = bits < 8 && strstr(name, "__neon") != NULL && kr == 1   ? 8
                       : bits < 8 && strstr(name, "__avx2") != NULL && kr == 2 ? 4
                                                                               : kr;
  return c->groups * ((ocpg + nr - 1) / nr) * nr * ((k + kgran - 1) / kgran * kgran) * bits / 8;
}

static void test_conv_case(const conv_case *c) {
  conv_setup s;
  char desc[256];
  describe_conv(c, desc, sizeof desc);
  if (!make_conv(c, &s)) {
    free_conv(&s);
    return;
  }
  guarded in = galloc(s.in_bytes), want = galloc(s.out_bytes), got = galloc(s.out_bytes);
  fill_random(in.p, s.in_bytes);
  if (c->near_bound) { /* inputs at the end away from the zero point: |acc| at its bound */
    const int32_t tmin = c->in_signed ? -128 : 0;
    const uint8_t far = (uint8_t)(s.d.input_zero_point == tmin ? tmin + 255 : tmin);
    const uint32_t keep = rnd(2) ? 0 : 8; /* all, or all but about 1 in 8 bytes */
    for (size_t j = 0; j < s.in_bytes; j++)
      if (keep == 0 || rnd(keep) != 0) in.p[j] = far;
  }
  memset(want.p, 0xA5, s.out_bytes); /* canary between pixels must survive */
  dyd_ref_conv(&s.d, in.p, want.p);
  /* 2- and 4-bit GEMM ops: every path of the tile loop (packed kernels, unpacked copy) */
  const bool lowbit = c->weight_bits == 2 || c->weight_bits == 4;
  for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++)
    for (int mode = lowbit ? 0 : 1; mode <= (lowbit ? 2 : 1); mode++) {
      if (!isa_available(all_isas[i])) continue;
      char err[256] = "";
      dyd_gemm_lowbit_unpack_mode = mode;
      dyd_conv_op *op = dyd_conv_create_for_isa(&s.d, all_isas[i], err, sizeof err);
      dyd_gemm_lowbit_unpack_mode = 1;
      if (op == NULL) {
        check(false, "conv %s [%s]: create failed: %s", desc, dyd_isa_name(all_isas[i]), err);
        continue;
      }
      /* which ops store low-bit weights, and what they cost */
      const char *name = dyd_conv_kernel_name(op);
      const bool gemm_path = strstr(name, "_dwconv_") == NULL;
      /* depthwise falls back to int8 for windows too large for its unpack buffer */
      const bool dw_int8 = !gemm_path && c->kh * c->kw > 256 && strstr(name, "_qc8w_") != NULL;
      const unsigned bits = lowbit && !dw_int8 ? c->weight_bits : 8;
      const char *want_tag = bits == 4 ? "_qc4w_" : bits == 2 ? "_qc2w_" : "_qc8w_";
      check(strstr(name, want_tag) != NULL, "conv %s [%s]: kernel %s", desc,
            dyd_isa_name(all_isas[i]), name);
      const size_t wb = dyd_conv_packed_weight_bytes(op);
      const size_t k = (size_t)c->kh * c->kw * (c->in_c / c->groups), dense = k * c->out_c;
      const size_t want_wb = gemm_path ? expected_gemm_weight_bytes(c, name, bits) : 0;
      check(wb <= dyd_conv_packed_size(op) && (gemm_path ? wb == want_wb : wb * 8 >= dense * bits),
            "conv %s [%s] %s: %zu packed weight bytes for %zu weights (want %zu)", desc,
            dyd_isa_name(all_isas[i]), name, wb, dense, want_wb);
      if (!gemm_path && bits != 8) { /* bits / 8 of the int8 form's bytes, more by chunk rounding */
        dyd_conv_desc d8 = s.d;
        d8.weight_bits = 0;
        dyd_conv_op *op8 = dyd_conv_create_for_isa(&d8, all_isas[i], err, sizeof err);
        const size_t wb8 = op8 ? dyd_conv_packed_weight_bytes(op8) : 0;
        const size_t per_weight = strstr(name, "__avx2") ? 2 : 1; /* AVX2 stores int8 as int16 pairs */
        const size_t ideal = wb8 / per_weight * bits / 8;
        check(op8 != NULL && wb >= ideal && wb <= wb8 / per_weight,
              "conv %s [%s] %s: %zu packed weight bytes, int8 form %zu", desc,
              dyd_isa_name(all_isas[i]), name, wb, wb8);
        dyd_conv_destroy(op8);
      }
      memset(got.p, 0xA5, s.out_bytes);
      run_conv_tiles(op, in.p, got.p);
      size_t first = 0, bad = 0;
      for (size_t j = 0; j < s.out_bytes; j++)
        if (got.p[j] != want.p[j] && bad++ == 0) first = j;
      check(bad == 0, "conv %s [%s] %s mode %d: %zu bytes differ, first at %zu (got %d want %d)",
            desc, dyd_isa_name(all_isas[i]), name, mode, bad, first, bad ? got.p[first] : 0,
            bad ? want.p[first] : 0);
      if (verbose) printf("ok conv %s [%s] %s mode %d\n", desc, dyd_isa_name(all_isas[i]), name, mode);
      dyd_conv_destroy(op);
    }
  gfree(in);
  gfree(want);
  gfree(got);
  free_conv(&s);
}

static conv_case base_case(void) {
  conv_case c;
  memset(&c, 0, sizeof c);
  c.batch = 1;
  c.in_h = c.in_w = 1;
  c.in_c = c.out_c = 1;
  c.kh = c.kw = c.sh = c.sw = c.dh = c.dw = 1;
  c.groups = 1;
  return c;
}

/* Random variations that do not change the shape. */
static void randomize_numerics(conv_case *c) {
  c->in_signed = (int)rnd(2);
  c->out_signed = (int)rnd(2);
  c->kind = rnd(3) == 0 ? DYD_REQUANT_FP32 : DYD_REQUANT_DYADIC;
  c->per_channel = (int)rnd(4) != 0;
  c->zx_mode = rnd(4) == 0 ? 1 + (int)rnd(2) : 0;
  c->mult_mode = rnd(8) == 0 ? 1 + (int)rnd(3) : 0;
  c->shift_mode = rnd(8) == 0 ? 1 + (int)rnd(10) : 0;
  c->narrow = rnd(5) == 0;
  c->zero_channel = rnd(6) == 0;
  c->in_extra = rnd(4) == 0 ? rnd(9) : 0;
  c->out_extra = rnd(4) == 0 ? rnd(9) : 0;
}

/* 0 and 8 (int8), 2 and 4 (stored packed by GEMM kernels), 3, 5 and 7 (int8 containers). */
static uint32_t random_weight_bits(void) {
  static const uint32_t widths[] = {0, 8, 4, 4, 2, 2, 3, 5, 7};
  return widths[rnd(sizeof widths / sizeof widths[0])];
}

static void test_conv_gemm_shapes(uint32_t weight_bits) {
  /* 1x1 convolution = GEMM: M (pixels), N (out_c), K (in_c) around every tile size */
  static const uint32_t ms[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 15, 16, 17, 31, 33, 64, 100};
  static const uint32_t ns[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 96, 129};
  static const uint32_t ks[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 300};
  size_t ki = 0;
  for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
      conv_case c = base_case();
      c.in_h = 1;
      c.in_w = ms[mi];
      if (ms[mi] % 4 == 0 && rnd(2)) { /* sometimes as several rows / images */
        c.in_h = 2;
        c.in_w = ms[mi] / 2;
        if (rnd(2)) { c.batch = 2; c.in_h = 1; }
      }
      c.out_c = ns[ni];
      c.in_c = ks[ki++ % (sizeof ks / sizeof ks[0])];
      randomize_numerics(&c);
      c.weight_bits = weight_bits;
      test_conv_case(&c);
    }
  /* every requantization edge on one mid-size GEMM */
  for (int mode = 0; mode < 4; mode++)
    for (int sm = 0; sm < 11; sm++)
      for (int kind = 0; kind < 2; kind++) {
        conv_case c = base_case();
        c.in_w = 19;
        c.in_c = 37;
        c.out_c = 35;
        randomize_numerics(&c);
        c.mult_mode = mode;
        c.shift_mode = sm;
        c.kind = (dyd_requant_kind)kind;
        c.weight_bits = weight_bits;
        test_conv_case(&c);
      }
  /* zero points at the type limits, both signednesses, narrowed clamps */
  for (int zm = 0; zm < 3; zm++)
    for (int sg = 0; sg < 4; sg++)
      for (int narrow = 0; narrow < 2; narrow++) {
        conv_case c = base_case();
        c.in_w = 13;
        c.in_c = 21;
        c.out_c = 18;
        randomize_numerics(&c);
        c.zx_mode = zm;
        c.in_signed = sg & 1;
        c.out_signed = sg >> 1;
        c.narrow = narrow;
        c.weight_bits = weight_bits;
        test_conv_case(&c);
      }
}

static void test_conv_general_shapes(uint32_t weight_bits) {
  static const uint32_t chans[] = {1, 3, 7, 15, 17, 33};
  static const uint32_t kernels[][2] = {{3, 3}, {5, 5}, {1, 1}, {2, 2}, {1, 3}, {3, 1}, {7, 1}, {1, 7}};
  for (size_t ki = 0; ki < sizeof kernels / sizeof kernels[0]; ki++)
    for (uint32_t st = 1; st <= 3; st++)
      for (size_t ci = 0; ci < sizeof chans / sizeof chans[0]; ci++) {
        conv_case c = base_case();
        c.kh = kernels[ki][0];
        c.kw = kernels[ki][1];
        c.sh = st;
        c.sw = rnd(3) == 0 ? 1 + rnd(3) : st;
        c.dh = rnd(4) == 0 ? 2 : 1;
        c.dw = rnd(4) == 0 ? 2 : 1;
        c.in_h = 1 + rnd(9) + (c.kh - 1) * c.dh;
        c.in_w = 1 + rnd(11) + (c.kw - 1) * c.dw;
        c.pt = rnd(c.kh);
        c.pb = rnd(c.kh);
        c.pl = rnd(c.kw);
        c.pr = rnd(c.kw);
        c.in_c = chans[ci];
        c.out_c = chans[(ci + ki + st) % (sizeof chans / sizeof chans[0])];
        if (rnd(3) == 0) c.batch = 2;
        randomize_numerics(&c);
        c.weight_bits = weight_bits;
        test_conv_case(&c);
      }
  /* grouped convolution */
  static const uint32_t groups[] = {2, 3, 4, 8};
  for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++)
    for (int rep = 0; rep < 6; rep++) {
      conv_case c = base_case();
      c.groups = groups[gi];
      c.in_c = groups[gi] * (1 + rnd(9));
      c.out_c = groups[gi] * (1 + rnd(20));
      c.kh = c.kw = rep % 2 ? 3 : 1;
      c.sh = c.sw = 1 + rnd(2);
      c.in_h = 3 + rnd(6);
      c.in_w = 3 + rnd(6);
      c.pt = c.pb = c.pl = c.pr = c.kh / 2;
      if (rep == 4) c.pb = 0; /* asymmetric */
      randomize_numerics(&c);
      c.weight_bits = weight_bits;
      test_conv_case(&c);
    }
}

static void test_conv_depthwise_shapes(uint32_t weight_bits) {
  static const uint32_t chans[] = {1, 3, 7, 15, 16, 17, 31, 32, 33, 64, 65, 100, 128, 144};
  static const uint32_t kernels[][2] = {{3, 3}, {5, 5}, {3, 3}, {5, 5}, {2, 2}, {3, 1}, {7, 7}, {1, 1}};
  for (size_t ki = 0; ki < sizeof kernels / sizeof kernels[0]; ki++)
    for (uint32_t st = 1; st <= 2; st++)
      for (size_t ci = 0; ci < sizeof chans / sizeof chans[0]; ci++) {
        conv_case c = base_case();
        c.kh = kernels[ki][0];
        c.kw = kernels[ki][1];
        c.sh = c.sw = st;
        if (ki == 2 || ki == 3) c.dh = c.dw = 2;
        c.in_h = c.kh + rnd(8);
        c.in_w = c.kw + rnd(12);
        c.pt = c.pb = c.kh / 2;
        c.pl = c.pr = c.kw / 2;
        if (rnd(3) == 0) { c.pt = rnd(c.kh); c.pr = rnd(c.kw); } /* asymmetric */
        c.in_c = c.out_c = c.groups = chans[ci];
        if (rnd(4) == 0) c.batch = 2;
        randomize_numerics(&c);
        c.weight_bits = weight_bits;
        test_conv_case(&c);
      }
  /* wide rows: the interior columns run as one stepped kernel call (conv-op.c) */
  static const uint32_t wide_chans[] = {3, 16, 32, 33, 64, 100, 144};
  for (size_t ci = 0; ci < sizeof wide_chans / sizeof wide_chans[0]; ci++)
    for (int rep = 0; rep < 4; rep++) {
      conv_case c = base_case();
      c.kh = c.kw = rep % 2 ? 5 : 3;
      c.sh = c.sw = 1 + (uint32_t)(rep / 2);
      c.in_h = c.kh + rnd(3);
      c.in_w = 40 + rnd(60);
      c.pt = c.pb = c.pl = c.pr = c.kh / 2;
      if (rnd(3) == 0) { c.pt = rnd(c.kh); c.pl = rnd(c.kw); }
      c.in_c = c.out_c = c.groups = wide_chans[ci];
      randomize_numerics(&c);
      c.weight_bits = weight_bits;
      test_conv_case(&c);
    }
  /* split rows, more rows than columns: one run covers the edge columns of many rows,
   * in calls of at most out_w rows (conv-op.c) */
  for (int rep = 0; rep < 6; rep++) {
    conv_case c = base_case();
    c.kh = c.kw = rep % 2 ? 5 : 3;
    c.sh = c.sw = 1 + (uint32_t)(rep / 4);
    c.in_w = 14 + rnd(6);
    c.in_h = 2 * c.in_w + rnd(20);
    c.pt = c.pb = c.pl = c.pr = c.kh / 2;
    c.in_c = c.out_c = c.groups = 1 + rnd(8);
    if (rnd(2)) c.batch = 2;
    randomize_numerics(&c);
    c.weight_bits = weight_bits;
    test_conv_case(&c);
  }
  /* a window larger than the low-bit stack buffer on some ISAs (17x17, 292 slots x 64
   * channels on AVX-512): int8 there, low-bit elsewhere */
  for (int rep = 0; rep < 2; rep++) {
    conv_case c = base_case();
    c.kh = c.kw = 17;
    c.in_h = c.in_w = 17 + rnd(3);
    c.pt = c.pb = c.pl = c.pr = rnd(2) ? 8 : 0;
    c.in_c = c.out_c = c.groups = rep ? 70 : 5;
    randomize_numerics(&c);
    c.weight_bits = weight_bits;
    test_conv_case(&c);
  }
  /* channel multiplier 2 (served by the general path) */
  for (int rep = 0; rep < 6; rep++) {
    conv_case c = base_case();
    c.in_c = c.groups = 1 + rnd(20);
    c.out_c = 2 * c.in_c;
    c.kh = c.kw = 3;
    c.sh = c.sw = 1 + rnd(2);
    c.in_h = c.in_w = 4 + rnd(5);
    c.pt = c.pb = c.pl = c.pr = 1;
    randomize_numerics(&c);
    c.weight_bits = weight_bits;
    test_conv_case(&c);
  }
}

/* Shifts below 33 (the x86 fast stage pre-shifts the accumulator, requant-avx512.h),
 * realistic and at the overflow bound of the pre-shift (set_near_bound), on both sides
 * of it; GEMM (8-row tiles, single rows, im2col) and depthwise (per pixel, stepped
 * column runs, 32-channel blocks), u8 and s8. */
static void test_conv_preshift(uint32_t weight_bits) {
  static const uint32_t ms[] = {1, 3, 8, 17, 64};
  static const uint32_t ns[] = {5, 16, 32, 33, 64, 100};
  static const uint32_t ks[] = {1, 4, 16, 40, 300};
  for (int nb = 0; nb <= 2; nb++)
    for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
      for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
        conv_case c = base_case();
        c.in_w = ms[mi];
        c.out_c = ns[ni];
        c.in_c = ks[(mi + ni + (size_t)nb) % (sizeof ks / sizeof ks[0])];
        randomize_numerics(&c);
        c.kind = DYD_REQUANT_DYADIC;
        c.per_channel = 1;
        c.in_signed = (int)(ni & 1);
        c.shift_mode = nb ? 0 : rnd(3) ? 9 : 10;
        c.near_bound = nb;
        if (nb) c.zx_mode = 1 + (int)rnd(2), c.zero_channel = 0, c.narrow = 0;
        c.weight_bits = weight_bits;
        test_conv_case(&c);
      }
  for (int nb = 0; nb <= 2; nb++) /* im2col */
    for (int rep = 0; rep < 4; rep++) {
      conv_case c = base_case();
      c.kh = c.kw = 3;
      c.in_h = 4 + rnd(4);
      c.in_w = 5 + rnd(6);
      c.pt = c.pb = c.pl = c.pr = 1;
      c.in_c = 1 + rnd(20);
      c.out_c = 1 + rnd(70);
      randomize_numerics(&c);
      c.kind = DYD_REQUANT_DYADIC;
      c.per_channel = 1;
      c.in_signed = rep & 1;
      c.shift_mode = nb ? 0 : 9;
      c.near_bound = nb;
      if (nb) c.zx_mode = 1 + (int)rnd(2), c.zero_channel = 0, c.narrow = 0;
      c.weight_bits = weight_bits;
      test_conv_case(&c);
    }
  static const uint32_t chans[] = {7, 16, 32, 33, 64, 100, 144};
  for (int nb = 0; nb <= 2; nb++)
    for (size_t ci = 0; ci < sizeof chans / sizeof chans[0]; ci++)
      for (int rep = 0; rep < 4; rep++) {
        conv_case c = base_case();
        c.kh = c.kw = rep % 2 ? 5 : 3;
        c.sh = c.sw = 1 + (uint32_t)(rep / 2);
        c.in_h = c.kh + rnd(4);
        c.in_w = rnd(2) ? 40 + rnd(30) : c.kw + rnd(8); /* split rows (column runs) or not */
        c.pt = c.pb = c.pl = c.pr = c.kh / 2;
        c.in_c = c.out_c = c.groups = chans[ci];
        randomize_numerics(&c);
        c.kind = DYD_REQUANT_DYADIC;
        c.per_channel = 1;
        c.in_signed = (int)((ci + (size_t)rep) & 1);
        c.shift_mode = nb ? 0 : rnd(3) ? 9 : 10;
        c.near_bound = nb;
        if (nb) c.zx_mode = 1 + (int)rnd(2), c.zero_channel = 0, c.narrow = 0;
        c.weight_bits = weight_bits;
        test_conv_case(&c);
      }
}

static void test_conv_random(int count) {
  for (int i = 0; i < count; i++) {
    conv_case c = base_case();
    const int kind = (int)rnd(3); /* 0 gemm, 1 general, 2 depthwise */
    c.kh = kind == 0 ? 1 : 1 + rnd(5);
    c.kw = kind == 0 ? 1 : 1 + rnd(5);
    if (kind) {
      c.sh = 1 + rnd(3);
      c.sw = 1 + rnd(3);
      c.dh = 1 + rnd(2);
      c.dw = 1 + rnd(2);
      c.pt = rnd(c.kh);
      c.pb = rnd(c.kh);
      c.pl = rnd(c.kw);
      c.pr = rnd(c.kw);
    }
    c.in_h = 1 + rnd(7) + (c.kh - 1) * c.dh;
    c.in_w = 1 + rnd(9) + (c.kw - 1) * c.dw;
    c.batch = 1 + rnd(2);
    if (kind == 2) {
      c.in_c = c.out_c = c.groups = 1 + rnd(70);
    } else {
      c.groups = rnd(4) == 0 ? 1 + rnd(3) : 1;
      c.in_c = c.groups * (1 + rnd(kind == 0 ? 140 : 40));
      c.out_c = c.groups * (1 + rnd(70));
    }
    randomize_numerics(&c);
    c.weight_bits = random_weight_bits();
    test_conv_case(&c);
  }
}

/* ---- the oracle conv against a second, independent formulation ------------------------- */

/* Pads the input into a dense array first, accumulates in double in a different
 * loop order, and requantizes with double arithmetic (parameters chosen so that
 * every step is exact). */
static void test_conv_oracle(void) {
  for (int rep = 0; rep < 40; rep++) {
    conv_case c = base_case();
    c.kh = 1 + rnd(4);
    c.kw = 1 + rnd(4);
    c.sh = 1 + rnd(3);
    c.sw = 1 + rnd(3);
    c.dh = 1 + rnd(2);
    c.dw = 1 + rnd(2);
    c.pt = rnd(c.kh);
    c.pb = rnd(c.kh);
    c.pl = rnd(c.kw);
    c.pr = rnd(c.kw);
    c.in_h = 1 + rnd(6) + (c.kh - 1) * c.dh;
    c.in_w = 1 + rnd(6) + (c.kw - 1) * c.dw;
    c.groups = 1 + rnd(3);
    c.in_c = c.groups * (1 + rnd(5));
    c.out_c = c.groups * (1 + rnd(5));
    c.batch = 1 + rnd(2);
    randomize_numerics(&c);
    c.mult_mode = 0;
    c.shift_mode = 0;
    conv_setup s;
    if (!make_conv(&c, &s)) {
      free_conv(&s);
      continue;
    }
    /* small multipliers keep acc * m exact in double */
    for (size_t i = 0; i < c.out_c; i++) {
      s.mult[i] >>= 12;
      s.shift[i] = s.shift[i] > 12 ? s.shift[i] - 12 : 1;
    }
    const dyd_conv_geometry *g = &s.d.geometry;
    const uint32_t ph = c.in_h + c.pt + c.pb + c.sh * c.kh * c.dh, pw = c.in_w + c.pl + c.pr + c.sw * c.kw * c.dw;
    int32_t *padded = malloc(sizeof(int32_t) * c.batch * ph * pw * c.in_c);
    uint8_t *in = malloc(s.in_bytes), *want = malloc(s.out_bytes);
    fill_random(in, s.in_bytes);
    memset(want, 0xA5, s.out_bytes);
    for (uint32_t n = 0; n < c.batch; n++)
      for (uint32_t y = 0; y < ph; y++)
        for (uint32_t x = 0; x < pw; x++)
          for (uint32_t ch = 0; ch < c.in_c; ch++) {
            const int64_t iy = (int64_t)y - c.pt, ix = (int64_t)x - c.pl;
            int32_t v = s.d.input_zero_point;
            if (iy >= 0 && iy < c.in_h && ix >= 0 && ix < c.in_w) {
              const uint8_t raw = in[((n * c.in_h + iy) * c.in_w + ix) * g->in_pixel_stride + ch];
              v = c.in_signed ? (int8_t)raw : raw;
            }
            padded[((n * ph + y) * pw + x) * c.in_c + ch] = v;
          }
    const uint32_t icpg = c.in_c / c.groups, ocpg = c.out_c / c.groups;
    const dyd_requant *rq = &s.d.requant;
    for (uint32_t n = 0; n < c.batch; n++)
      for (uint32_t oc = 0; oc < c.out_c; oc++)
        for (uint32_t oy = 0; oy < g->out_h; oy++)
          for (uint32_t ox = 0; ox < g->out_w; ox++) {
            double acc = s.d.bias ? s.d.bias[oc] : 0;
            for (uint32_t ic = 0; ic < icpg; ic++)
              for (uint32_t kx = 0; kx < c.kw; kx++)
                for (uint32_t ky = 0; ky < c.kh; ky++) {
                  const int32_t x = padded[((n * ph + oy * c.sh + ky * c.dh) * pw + ox * c.sw + kx * c.dw) * c.in_c +
                                           (oc / ocpg) * icpg + ic];
                  acc += (double)(x - s.d.input_zero_point) * s.w[((oc * c.kh + ky) * c.kw + kx) * icpg + ic];
                }
            const size_t pi = rq->per_channel ? oc : 0;
            acc = (double)(int32_t)(uint32_t)(int64_t)acc; /* int32 accumulation wraps */
            double y;
            if (rq->kind == DYD_REQUANT_DYADIC) {
              y = floor(acc * rq->multiplier[pi] / ldexp(1.0, rq->shift[pi]) + 0.5);
            } else {
              y = nearbyint((double)(float)((double)(float)acc * (double)rq->scale[pi]));
            }
            y += rq->zero_point;
            if (y < rq->qmin) y = rq->qmin;
            if (y > rq->qmax) y = rq->qmax;
            want[((n * g->out_h + oy) * g->out_w + ox) * g->out_pixel_stride + oc] = (uint8_t)(int32_t)y;
          }
    uint8_t *got = malloc(s.out_bytes);
    memset(got, 0xA5, s.out_bytes);
    dyd_ref_conv(&s.d, in, got);
    char desc[256];
    describe_conv(&c, desc, sizeof desc);
    check(memcmp(got, want, s.out_bytes) == 0, "oracle conv %s differs from the naive formula", desc);
    free(got);
    free(padded);
    free(in);
    free(want);
    free_conv(&s);
  }
}

/* ---- descriptor validation ------------------------------------------------------------- */

static void expect_reject(const dyd_conv_desc *d, const char *what) {
  char err[256] = "";
  dyd_conv_op *op = dyd_conv_create(d, err, sizeof err);
  check(op == NULL && err[0] != '\0', "create accepted %s", what);
  if (verbose && op == NULL) printf("ok rejected %s: %s\n", what, err);
  dyd_conv_destroy(op);
}

static void test_conv_validation(void) {
  conv_case c = base_case();
  c.in_h = c.in_w = 8;
  c.in_c = 4;
  c.out_c = 6;
  c.kh = c.kw = 3;
  c.pt = c.pb = c.pl = c.pr = 1;
  c.groups = 2;
  conv_setup s;
  make_conv(&c, &s);
  const dyd_conv_desc good = s.d;
  char err[256];
  dyd_conv_op *op = dyd_conv_create(&good, err, sizeof err);
  check(op != NULL, "valid descriptor rejected: %s", err);
  check(op && strncmp(dyd_conv_kernel_name(op), "dyd_", 4) == 0, "kernel name");
  check(op && dyd_conv_packed_size(op) > 0, "packed size");
  dyd_conv_destroy(op);
  dyd_conv_desc d = good;
  d.geometry.in_c = 0;
  expect_reject(&d, "zero channels");
  d = good;
  d.geometry.groups = 3;
  expect_reject(&d, "groups not dividing channels");
  d = good;
  d.geometry.groups = 0;
  expect_reject(&d, "zero groups");
  d = good;
  d.geometry.out_h += 3;
  expect_reject(&d, "output too tall");
  d = good;
  d.geometry.out_w -= 2;
  expect_reject(&d, "output too narrow");
  d = good;
  d.geometry.in_pixel_stride = 3;
  expect_reject(&d, "input pixel stride below channels");
  d = good;
  d.geometry.out_pixel_stride = 5;
  expect_reject(&d, "output pixel stride below channels");
  d = good;
  d.geometry.stride_h = 0;
  expect_reject(&d, "zero stride");
  d = good;
  d.geometry.dilation_w = 0;
  expect_reject(&d, "zero dilation");
  d = good;
  d.input_zero_point = 256;
  expect_reject(&d, "input zero point out of range");
  d = good;
  d.requant.qmin = 10;
  d.requant.qmax = 5;
  expect_reject(&d, "empty clamp");
  d = good;
  d.requant.kind = DYD_REQUANT_DYADIC;
  d.requant.per_channel = 0;
  int32_t bad_shift = 128, mult = 1 << 30;
  d.requant.shift = &bad_shift;
  d.requant.multiplier = &mult;
  expect_reject(&d, "shift 128");
  bad_shift = 0;
  expect_reject(&d, "shift 0");
  d = good;
  d.weights = NULL;
  expect_reject(&d, "missing weights");
  /* K * 255 * 128 beyond int32 */
  d = good;
  d.geometry.in_c = d.geometry.groups * 30000;
  d.geometry.in_pixel_stride = d.geometry.in_c;
  expect_reject(&d, "K overflowing int32");
  /* weight_bits: 0 and 2-8; below 8 every weight in [-2^(b-1), 2^(b-1) - 1] */
  d = good;
  d.weight_bits = 8;
  op = dyd_conv_create(&d, err, sizeof err);
  check(op != NULL, "weight_bits 8 rejected: %s", err);
  dyd_conv_destroy(op);
  const uint32_t bad_bits[] = {1, 9, 16, 32};
  for (size_t i = 0; i < sizeof bad_bits / sizeof bad_bits[0]; i++) {
    d.weight_bits = bad_bits[i];
    expect_reject(&d, "unsupported weight_bits");
  }
  const size_t nw = (size_t)c.out_c * c.kh * c.kw * (c.in_c / c.groups);
  int8_t *wl = malloc(nw);
  for (uint32_t bits = 2; bits <= 7; bits++) {
    const int lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
    for (size_t i = 0; i < nw; i++) wl[i] = (int8_t)rnd_range(lo, hi);
    wl[0] = (int8_t)lo;
    wl[1] = (int8_t)hi;
    d = good;
    d.weights = wl;
    d.weight_bits = bits;
    op = dyd_conv_create(&d, err, sizeof err);
    check(op != NULL, "weight_bits %u with weights in [%d, %d] rejected: %s", bits, lo, hi, err);
    dyd_conv_destroy(op);
    char range[32];
    snprintf(range, sizeof range, "[%d, %d]", lo, hi);
    const int outside[] = {lo - 1, hi + 1, 127, -128};
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
      const size_t at = nw - 1 - rnd((uint32_t)nw / 2);
      const int8_t keep = wl[at];
      wl[at] = (int8_t)outside[i];
      err[0] = '\0';
      op = dyd_conv_create(&d, err, sizeof err);
      char value[16];
      snprintf(value, sizeof value, "weight %d ", outside[i]);
      check(op == NULL && strstr(err, range) != NULL && strstr(err, value) != NULL &&
                strchr(err, '\n') == NULL,
            "weight_bits %u accepted weight %d, or no one-line error naming it: %s", bits,
            outside[i], err);
      if (verbose && op == NULL) printf("ok rejected: %s\n", err);
      dyd_conv_destroy(op);
      wl[at] = keep;
    }
  }
  free(wl);
  free_conv(&s);
}

/* ---- element-wise --------------------------------------------------------------------------- */

static void test_binary(void) {
  static const size_t sizes[] = {1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 255, 1000};
  for (int rep = 0; rep < 160; rep++) {
    dyd_binary_params p;
    memset(&p, 0, sizeof p);
    const int sg = (int)rnd(2);
    p.a_signed = p.b_signed = p.y_signed = sg;
    if (rep % 16 == 15) p.y_signed = !sg; /* mixed signedness */
    p.kind = rnd(3) == 0 ? DYD_REQUANT_FP32 : DYD_REQUANT_DYADIC;
    const int32_t tmin = sg ? -128 : 0, tmax = sg ? 127 : 255;
    const int32_t ymin = p.y_signed ? -128 : 0, ymax = p.y_signed ? 127 : 255;
    const int zm = (int)rnd(4);
    p.a_zero_point = zm == 1 ? tmin : zm == 2 ? tmax : rnd_range(tmin, tmax);
    p.b_zero_point = zm == 1 ? tmax : zm == 2 ? tmin : rnd_range(tmin, tmax);
    p.y_zero_point = rnd_range(ymin, ymax);
    p.qmin = ymin;
    p.qmax = ymax;
    if (rnd(5) == 0) p.qmin = p.y_zero_point;
    const int edge = (int)rnd(7);
    p.shift = edge == 1 ? 1 : edge == 2 ? 31 : edge == 3 ? 62 : edge == 6 ? 63 + (int)rnd(40) : rnd_range(14, 48);
    p.a_mul = edge == 4 ? 0x7fffffff : edge == 5 ? 0 : (int32_t)(rnd64() & 0x7fffffff) >> rnd(12);
    p.b_mul = edge == 4 ? 1 << 30 : (int32_t)(rnd64() & 0x7fffffff) >> rnd(12);
    if (p.shift < 31) { /* keep some outputs unsaturated */
      p.a_mul >>= (31 - p.shift) > 20 ? 20 : 31 - p.shift;
      p.b_mul >>= (31 - p.shift) > 20 ? 20 : 31 - p.shift;
    }
    p.a_scale = ldexpf((float)rnd(1 << 20) / (float)(1 << 20), (int)rnd(4) - 2);
    p.b_scale = ldexpf((float)rnd(1 << 20) / (float)(1 << 20), (int)rnd(4) - 2);
    p.y_scale = ldexpf(1.0f + (float)rnd(1 << 20) / (float)(1 << 20), (int)rnd(3) - 1);
    if (edge == 5) { /* ties */
      p.a_scale = 0.5f;
      p.y_scale = 1.0f;
    }
    const size_t n = sizes[rep % (sizeof sizes / sizeof sizes[0])];
    const size_t a_inc = rep % 5 == 3 ? 0 : 1, b_inc = rep % 5 == 4 ? 0 : 1;
    guarded a = galloc(a_inc ? n : 1), b = galloc(b_inc ? n : 1), want = galloc(n), got = galloc(n);
    fill_random(a.p, a_inc ? n : 1);
    fill_random(b.p, b_inc ? n : 1);
    for (int op = 0; op < 2; op++) {
      p.a_mul = op == 1 && p.kind == DYD_REQUANT_DYADIC && p.shift < 20 ? p.a_mul >> 8 : p.a_mul;
      if (op == 0) dyd_ref_qadd(&p, a.p, a_inc, b.p, b_inc, want.p, n);
      else dyd_ref_qmul(&p, a.p, a_inc, b.p, b_inc, want.p, n);
      for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
        if (!isa_available(all_isas[i])) continue;
        memset(got.p, 0x5A, n);
        if (op == 0) dyd_qadd_run_for_isa(all_isas[i], &p, a.p, a_inc, b.p, b_inc, got.p, n);
        else dyd_qmul_run_for_isa(all_isas[i], &p, a.p, a_inc, b.p, b_inc, got.p, n);
        size_t bad = 0, first = 0;
        for (size_t j = 0; j < n; j++)
          if (got.p[j] != want.p[j] && bad++ == 0) first = j;
        check(bad == 0, "%s rep %d n %zu inc %zu/%zu %s %s [%s]: %zu differ, first %zu (got %d want %d)",
              op ? "qmul" : "qadd", rep, n, a_inc, b_inc, sg ? "s8" : "u8",
              p.kind == DYD_REQUANT_DYADIC ? "dyadic" : "fp32", dyd_isa_name(all_isas[i]), bad, first,
              bad ? got.p[first] : 0, bad ? want.p[first] : 0);
      }
    }
    gfree(a);
    gfree(b);
    gfree(want);
    gfree(got);
  }
  /* the reference add against a direct formula */
  {
    dyd_binary_params p;
    memset(&p, 0, sizeof p);
    p.kind = DYD_REQUANT_DYADIC;
    p.a_zero_point = 3;
    p.b_zero_point = 250;
    p.y_zero_point = 128;
    p.qmin = 0;
    p.qmax = 255;
    p.a_mul = 3 << 20;
    p.b_mul = 5 << 19;
    p.shift = 22;
    uint8_t a[256], b[256], y[256];
    for (int i = 0; i < 256; i++) { a[i] = (uint8_t)i; b[i] = (uint8_t)(255 - i); }
    dyd_ref_qadd(&p, a, 1, b, 1, y, 256);
    int bad = 0;
    for (int i = 0; i < 256; i++) {
      const double v = floor(((double)(i - 3) * 0.75 + (double)(255 - i - 250) * 0.625) + 0.5) + 128;
      const int want = v < 0 ? 0 : v > 255 ? 255 : (int)v;
      bad += y[i] != want;
    }
    check(bad == 0, "oracle qadd differs from the direct formula at %d points", bad);
  }
}

static void test_lut(void) {
  static const size_t sizes[] = {0, 1, 15, 16, 17, 63, 64, 65, 95, 256, 1000, 4097};
  uint8_t table[256];
  fill_random(table, 256);
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    const size_t n = sizes[si];
    guarded x = galloc(n + 1), want = galloc(n + 1), got = galloc(n + 1);
    fill_random(x.p, n);
    if (n == 256)
      for (size_t c = 0; c < n; c++) x.p[c] = (uint8_t)(255 - c); /* every code */
    dyd_ref_lut(table, x.p, want.p, n);
    for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
      if (!isa_available(all_isas[i])) continue;
      memset(got.p, 0, n + 1);
      dyd_lut_run_for_isa(all_isas[i], table, x.p, got.p, n);
      check(memcmp(got.p, want.p, n) == 0 && got.p[n] == 0, "lut n %zu [%s]", n, dyd_isa_name(all_isas[i]));
    }
    gfree(x);
    gfree(want);
    gfree(got);
  }
}

/* ---- pooling --------------------------------------------------------------------------------- */

static void test_pool_case(dyd_conv_geometry g, int in_signed, int out_signed, int include_pad,
                           dyd_requant_kind kind) {
  const size_t window = (size_t)g.kernel_h * g.kernel_w;
  const size_t in_bytes = (size_t)g.batch * g.in_h * g.in_w * g.in_pixel_stride;
  const size_t out_bytes = (size_t)g.batch * g.out_h * g.out_w * g.out_pixel_stride;
  guarded in = galloc(in_bytes), want = galloc(out_bytes), got = galloc(out_bytes);
  fill_random(in.p, in_bytes);
  char desc[160];
  snprintf(desc, sizeof desc, "n%u %ux%ux%u k%ux%u s%u,%u p%u,%u -> %ux%u %s->%s%s %s", g.batch, g.in_h,
           g.in_w, g.in_c, g.kernel_h, g.kernel_w, g.stride_h, g.stride_w, g.pad_top, g.pad_left, g.out_h,
           g.out_w, in_signed ? "s8" : "u8", out_signed ? "s8" : "u8", include_pad ? " incl-pad" : "",
           kind == DYD_REQUANT_DYADIC ? "dyadic" : "fp32");
  /* average: one requantization per divisor, 1/count folded into each */
  dyd_requant *rqs = calloc(window, sizeof *rqs);
  int32_t *mult = calloc(window, sizeof *mult), *shift = calloc(window, sizeof *shift);
  float *scale = calloc(window, sizeof *scale);
  const int32_t omin = out_signed ? -128 : 0, omax = out_signed ? 127 : 255;
  const int32_t zy = rnd_range(omin, omax);
  const double ratio = 0.5 + (double)rnd(1000) / 1000.0;
  for (size_t cnt = 1; cnt <= window; cnt++) {
    int e;
    const double m = frexp(ratio / (double)cnt, &e);
    mult[cnt - 1] = (int32_t)(m * 2147483648.0);
    shift[cnt - 1] = 31 - e;
    scale[cnt - 1] = (float)(ratio / (double)cnt);
    rqs[cnt - 1] = (dyd_requant){kind, 0, &mult[cnt - 1], &shift[cnt - 1], &scale[cnt - 1], zy, omin, omax};
  }
  dyd_avgpool_desc ad = {g, in_signed, out_signed, rnd_range(in_signed ? -128 : 0, in_signed ? 127 : 255),
                         include_pad, rqs};
  memset(want.p, 0xA5, out_bytes);
  dyd_ref_avgpool(&ad, in.p, want.p);
  dyd_maxpool_desc md = {g, in_signed};
  guarded mwant = galloc(out_bytes);
  memset(mwant.p, 0xA5, out_bytes);
  dyd_ref_maxpool(&md, in.p, mwant.p);
  for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
    if (!isa_available(all_isas[i])) continue;
    char err[256] = "";
    dyd_avgpool_op *ap = dyd_avgpool_create_for_isa(&ad, all_isas[i], err, sizeof err);
    check(ap != NULL, "avgpool %s: create failed: %s", desc, err);
    if (ap) {
      memset(got.p, 0xA5, out_bytes);
      const size_t tiles = dyd_avgpool_tile_count(ap), half = tiles / 2;
      dyd_avgpool_run(ap, in.p, got.p, half, tiles - half);
      dyd_avgpool_run(ap, in.p, got.p, 0, half);
      check(memcmp(got.p, want.p, out_bytes) == 0, "avgpool %s [%s] %s", desc, dyd_isa_name(all_isas[i]),
            dyd_avgpool_kernel_name(ap));
      dyd_avgpool_destroy(ap);
    }
    dyd_maxpool_op *mp = dyd_maxpool_create_for_isa(&md, all_isas[i], err, sizeof err);
    check(mp != NULL, "maxpool %s: create failed: %s", desc, err);
    if (mp) {
      memset(got.p, 0xA5, out_bytes);
      dyd_maxpool_run(mp, in.p, got.p, 0, dyd_maxpool_tile_count(mp));
      check(memcmp(got.p, mwant.p, out_bytes) == 0, "maxpool %s [%s] %s", desc, dyd_isa_name(all_isas[i]),
            dyd_maxpool_kernel_name(mp));
      dyd_maxpool_destroy(mp);
    }
  }
  free(rqs);
  free(mult);
  free(shift);
  free(scale);
  gfree(in);
  gfree(want);
  gfree(got);
  gfree(mwant);
}

/* Max pooling with dilations and the channel counts of the few-channel row path
 * (16-64, including counts that are not multiples of 16). */
static void test_maxpool_dilated(void) {
  static const uint32_t chans[] = {16, 24, 48, 64};
  for (int rep = 0; rep < 24; rep++) {
    dyd_conv_geometry g;
    memset(&g, 0, sizeof g);
    g.batch = 1 + rnd(2);
    g.in_c = g.out_c = chans[rep % 4];
    g.in_pixel_stride = g.in_c + (rep % 3 == 0 ? 3 : 0);
    g.out_pixel_stride = g.in_c + (rep % 5 == 0 ? 2 : 0);
    g.groups = 1;
    g.dilation_h = 1 + rnd(3);
    g.dilation_w = 1 + rnd(3);
    g.kernel_h = 1 + rnd(3);
    g.kernel_w = 1 + rnd(3);
    g.stride_h = 1 + rnd(2);
    g.stride_w = 1 + rnd(3);
    g.in_h = (g.kernel_h - 1) * g.dilation_h + 1 + rnd(6);
    g.in_w = (g.kernel_w - 1) * g.dilation_w + 1 + rnd(12);
    g.pad_top = rnd(g.kernel_h);
    g.pad_left = rnd(g.kernel_w);
    g.out_h = out_dim(g.in_h, g.kernel_h, g.stride_h, g.dilation_h, g.pad_top, 0);
    g.out_w = out_dim(g.in_w, g.kernel_w, g.stride_w, g.dilation_w, g.pad_left, 0);
    const int in_signed = (int)rnd(2);
    const size_t in_bytes = (size_t)g.batch * g.in_h * g.in_w * g.in_pixel_stride;
    const size_t out_bytes = (size_t)g.batch * g.out_h * g.out_w * g.out_pixel_stride;
    guarded in = galloc(in_bytes), want = galloc(out_bytes), got = galloc(out_bytes);
    fill_random(in.p, in_bytes);
    dyd_maxpool_desc md = {g, in_signed};
    memset(want.p, 0xA5, out_bytes);
    dyd_ref_maxpool(&md, in.p, want.p);
    for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
      if (!isa_available(all_isas[i])) continue;
      char err[256] = "";
      dyd_maxpool_op *mp = dyd_maxpool_create_for_isa(&md, all_isas[i], err, sizeof err);
      check(mp != NULL, "dilated maxpool: create failed: %s", err);
      if (mp == NULL) continue;
      memset(got.p, 0xA5, out_bytes);
      dyd_maxpool_run(mp, in.p, got.p, 0, dyd_maxpool_tile_count(mp));
      check(memcmp(got.p, want.p, out_bytes) == 0,
            "maxpool n%u %ux%ux%u k%ux%u s%u,%u d%u,%u p%u,%u %s [%s]", g.batch, g.in_h, g.in_w, g.in_c,
            g.kernel_h, g.kernel_w, g.stride_h, g.stride_w, g.dilation_h, g.dilation_w, g.pad_top, g.pad_left,
            in_signed ? "s8" : "u8", dyd_isa_name(all_isas[i]));
      dyd_maxpool_destroy(mp);
    }
    gfree(in), gfree(want), gfree(got);
  }
}

static void test_pooling(void) {
  static const uint32_t chans[] = {1, 3, 7, 16, 17, 33, 64, 100, 600};
  for (int rep = 0; rep < 60; rep++) {
    dyd_conv_geometry g;
    memset(&g, 0, sizeof g);
    g.batch = 1 + rnd(2);
    g.in_c = g.out_c = chans[rep % (sizeof chans / sizeof chans[0])];
    g.in_pixel_stride = g.in_c + (rnd(3) == 0 ? rnd(5) : 0);
    g.out_pixel_stride = g.in_c + (rnd(3) == 0 ? rnd(5) : 0);
    g.groups = 1;
    g.dilation_h = g.dilation_w = 1;
    if (rep % 6 == 0) { /* global */
      g.in_h = 1 + rnd(9);
      g.in_w = 1 + rnd(9);
      g.kernel_h = g.in_h;
      g.kernel_w = g.in_w;
      g.stride_h = g.stride_w = 1;
      g.out_h = g.out_w = 1;
    } else {
      g.kernel_h = 1 + rnd(4);
      g.kernel_w = 1 + rnd(4);
      g.stride_h = 1 + rnd(3);
      g.stride_w = 1 + rnd(3);
      g.in_h = g.kernel_h + rnd(8);
      g.in_w = g.kernel_w + rnd(8);
      g.pad_top = rnd(g.kernel_h);
      g.pad_left = rnd(g.kernel_w);
      const uint32_t pb = rnd(g.kernel_h), pr = rnd(g.kernel_w);
      g.out_h = out_dim(g.in_h, g.kernel_h, g.stride_h, 1, g.pad_top, pb);
      g.out_w = out_dim(g.in_w, g.kernel_w, g.stride_w, 1, g.pad_left, pr);
    }
    test_pool_case(g, (int)rnd(2), (int)rnd(2), (int)rnd(2), rnd(3) == 0 ? DYD_REQUANT_FP32 : DYD_REQUANT_DYADIC);
  }
  test_maxpool_dilated();
  /* a large global pool (more taps than one gather chunk) */
  dyd_conv_geometry g = {1, 14, 14, 40, 1, 1, 40, 14, 14, 1, 1, 1, 1, 0, 0, 1, 40, 40};
  test_pool_case(g, 0, 0, 0, DYD_REQUANT_DYADIC);
  test_pool_case(g, 1, 1, 0, DYD_REQUANT_FP32);
}

/* ---- FP8 E4M3FN ------------------------------------------------------------------------------ */

static uint32_t bits_of(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

static float float_of(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* Compares n codes with onnx's; one check per table, the first mismatch in the message. */
static void check_fp8_codes(const char *what, const uint32_t *x, const uint8_t *got,
                            const uint8_t *want, size_t n) {
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < n; i++)
    if (got[i] != want[i] && bad++ == 0) first = i;
  check(bad == 0, "fp8 %s: %zu of %zu differ from onnx; first x = 0x%08X (%g): got 0x%02X want 0x%02X",
        what, bad, n, bad ? x[first] : 0u, bad ? (double)float_of(x[first]) : 0.0,
        bad ? got[first] : 0, bad ? want[first] : 0);
  if (verbose) printf("fp8 %s: %zu cases\n", what, n);
}

/* The graph-input forms (flat and NCHW -> NHWC, vectorised where the ISA allows)
 * give exactly the scalar conversion's codes, specials and out-of-range values
 * included, for both saturate flags. */
static void test_fp8_quantize_input(void) {
  static const float specials[] = {0.0f, -0.0f, 464.0f, -464.1f, 1e30f, -1e-30f, 1e-3f, 448.0f};
  for (int trial = 0; trial < 40; trial++) {
    const size_t channels = 1 + rnd(5), plane = 1 + rnd(70), n = channels * plane;
    const float scale = (float)(rnd(2) ? 0.01 + rnd(100) * 0.003 : 1.0 / (1 + rnd(7)));
    const int saturate = (int)rnd(2);
    float *x = malloc(n * sizeof *x);
    uint8_t *flat = malloc(n), *hwc = malloc(n);
    for (size_t i = 0; i < n; i++) {
      const uint32_t bits = (uint32_t)rnd64();
      float v;
      memcpy(&v, &bits, sizeof v);
      x[i] = rnd(4) == 0 ? specials[rnd(8)] * scale : rnd(3) == 0 ? v : (float)((double)rnd_range(-4000, 4000) / 7.0) * scale;
    }
    x[rnd((uint32_t)n)] = NAN;
    dyd_fp8_quantize_f32(x, flat, n, scale, saturate);
    const size_t first = rnd((uint32_t)plane), count = plane - first;
    memset(hwc, 0xA5, n);
    dyd_fp8_quantize_f32_to_nhwc(x, hwc, channels, plane, first, count, scale, saturate);
    size_t bad = 0;
    for (size_t c = 0; c < channels; c++)
      for (size_t p = 0; p < plane; p++) {
        const uint8_t want = dyd_fp8_e4m3_from_f32(x[c * plane + p] / scale, saturate);
        bad += flat[c * plane + p] != want;
        bad += hwc[p * channels + c] != (p >= first ? want : 0xA5);
      }
    check(bad == 0, "fp8 input quantize: %zu of %zu codes differ (channels %zu plane %zu saturate %d)", bad,
          2 * n, channels, plane, saturate);
    free(x), free(flat), free(hwc);
  }
}

/* The vector encodes (and their division by the scale, done with a reciprocal) against
 * the scalar QuantizeLinear on a sweep of float32 bit patterns and on every rounding
 * boundary between two codes and its neighbours, for scales of several magnitudes. */
static void test_fp8_vector_encode(void) {
#if defined(__x86_64__)
  const uint64_t stride = 97;
#else
  const uint64_t stride = 65521; /* the vector forms are x86; this checks the scalar path */
#endif
  static const float scales[] = {1.0f, 0.0173f, 3.1e-5f, 2.5e4f, 1e-30f, 7e30f, 0.7071068f, 1e-39f};
  const size_t cap = 1u << 16;
  float *x = malloc(cap * sizeof *x);
  uint8_t *want = malloc(cap), *got = malloc(cap);
  size_t bad = 0, count = 0;
  for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++) {
    const float scale = scales[k];
    uint64_t u = 0;
    int boundaries = 1;
    while (u <= 0xFFFFFFFFu) {
      size_t n = 0;
      if (boundaries) { /* midpoints between codes (and past 448), scaled, with neighbours */
        for (int c = 0; c < 0x7E; c++) {
          const float mid = (dyd_fp8_e4m3_to_f32((uint8_t)c) + dyd_fp8_e4m3_to_f32((uint8_t)(c + 1))) / 2;
          uint32_t m = bits_of(mid * scale);
          for (uint32_t d = 0; d < 5; d++) {
            x[n++] = float_of(m + d - 2);
            x[n++] = -float_of(m + d - 2);
          }
        }
        x[n++] = 464.0f * scale, x[n++] = 480.0f * scale, x[n++] = -0.0f, x[n++] = NAN;
        boundaries = 0;
      } else {
        for (; n < cap && u <= 0xFFFFFFFFu; u += stride) x[n++] = float_of((uint32_t)u);
      }
      for (size_t i = 0; i < n; i++) want[i] = dyd_fp8_e4m3_from_f32(x[i] / scale, 1);
      for (dyd_isa isa = DYD_ISA_SCALAR; isa <= DYD_ISA_AVX512VNNI; isa++) {
        if (dyd_isa_supported(isa) != isa) continue;
        dyd_fp8_quantize_f32_for_isa(isa, x, got, n, scale, 1);
        for (size_t i = 0; i < n; i++) {
          if (got[i] != want[i] && bad++ < 5)
            printf("FAIL fp8 vector encode %s: %a / %a -> 0x%02x, want 0x%02x\n", dyd_isa_name(isa),
                   (double)x[i], (double)scale, got[i], want[i]);
        }
        count += n;
      }
    }
  }
  check(bad == 0, "fp8 vector encode: %zu of %zu codes differ from the scalar QuantizeLinear", bad, count);
  if (verbose) printf("fp8 vector encode: %zu codes\n", count);
  free(x), free(want), free(got);
}

static void test_fp8(void) {
  enum {
    NENC = sizeof fp8_ref_enc_x / sizeof fp8_ref_enc_x[0],
    NQ = sizeof fp8_ref_q_x / sizeof fp8_ref_q_x[0],
    NSCALES = sizeof fp8_ref_scales / sizeof fp8_ref_scales[0],
  };

  /* Every code: decodes to onnx's bit pattern (NaN included) and re-encodes to itself
   * with either saturate flag (NaN keeps its sign, so the NaN codes too). */
  size_t bad_dec = 0, bad_rt = 0;
  for (int c = 0; c < 256; c++) {
    const float v = dyd_fp8_e4m3_to_f32((uint8_t)c);
    if (bits_of(v) != fp8_ref_decode[c]) {
      bad_dec++;
      printf("FAIL fp8 decode 0x%02X: got 0x%08X want 0x%08X\n", c, bits_of(v), fp8_ref_decode[c]);
    }
    for (int sat = 0; sat <= 1; sat++)
      if (dyd_fp8_e4m3_from_f32(v, sat) != c) {
        bad_rt++;
        printf("FAIL fp8 round trip 0x%02X saturate %d: got 0x%02X\n", c, sat,
               dyd_fp8_e4m3_from_f32(v, sat));
      }
  }
  check(bad_dec == 0, "fp8 decode: %zu of 256 codes differ from onnx", bad_dec);
  check(bad_rt == 0, "fp8 round trip: %zu of 512 differ", bad_rt);

  /* Cast float -> FP8: ties, their neighbours, the overflow boundary, specials, random. */
  static uint8_t got[NENC > NQ ? NENC : NQ], arr[(NENC > NQ ? NENC : NQ) + 1];
  static float xf[NENC > NQ ? NENC : NQ]; /* the reference inputs as floats (memcpy: no aliasing cast) */
  memcpy(xf, fp8_ref_enc_x, sizeof fp8_ref_enc_x);
  for (int sat = 0; sat <= 1; sat++) {
    const uint8_t *want = sat ? fp8_ref_enc_sat : fp8_ref_enc_nosat;
    for (size_t i = 0; i < NENC; i++) got[i] = dyd_fp8_e4m3_from_f32(float_of(fp8_ref_enc_x[i]), sat);
    check_fp8_codes(sat ? "Cast saturate=1" : "Cast saturate=0", fp8_ref_enc_x, got, want, NENC);
    /* array form with scale 1 is the scalar form */
    dyd_fp8_e4m3_from_f32_array(xf, arr, NENC, 1.0f, sat);
    check(memcmp(arr, got, NENC) == 0, "fp8 array encode (scale 1, saturate %d) differs from scalar", sat);
  }

  /* QuantizeLinear: the array form per scale against onnx and against the scalar form
   * of the float32 quotient, with a guard byte after the output. */
  memcpy(xf, fp8_ref_q_x, sizeof fp8_ref_q_x);
  size_t off = 0;
  for (size_t k = 0; k < NSCALES; k++) {
    const float scale = float_of(fp8_ref_scales[k]);
    const size_t n = fp8_ref_q_len[k];
    for (int sat = 0; sat <= 1; sat++) {
      const uint8_t *want = (sat ? fp8_ref_q_sat : fp8_ref_q_nosat) + off;
      memset(arr, 0xA5, n + 1);
      dyd_fp8_e4m3_from_f32_array(xf + off, arr, n, scale, sat);
      char what[64];
      snprintf(what, sizeof what, "QuantizeLinear scale %g saturate=%d", (double)scale, sat);
      check_fp8_codes(what, fp8_ref_q_x + off, arr, want, n);
      check(arr[n] == 0xA5, "fp8 %s: wrote past the end", what);
      size_t bad = 0;
      for (size_t i = 0; i < n; i++)
        bad += arr[i] != dyd_fp8_e4m3_from_f32(xf[off + i] / scale, sat);
      check(bad == 0, "fp8 %s: array form differs from scalar at %zu", what, bad);
    }
    off += n;
  }
  check(off == NQ, "fp8 QuantizeLinear reference lengths add up");

  /* DequantizeLinear: code * scale in float32. NaN signs after a multiply are the
   * hardware's business, so a NaN only has to stay NaN. */
  uint8_t codes[257];
  for (int c = 0; c < 256; c++) codes[c] = (uint8_t)c;
  float deq[257];
  for (size_t k = 0; k < NSCALES; k++) {
    const float scale = float_of(fp8_ref_scales[k]);
    deq[256] = -1.0f;
    dyd_fp8_e4m3_to_f32_array(codes, deq, 256, scale);
    size_t bad = 0, bad_scalar = 0;
    for (int c = 0; c < 256; c++) {
      const uint32_t want = fp8_ref_dq[k * 256 + (size_t)c];
      bad += isnan(float_of(want)) ? !isnan(deq[c]) : bits_of(deq[c]) != want;
      const float s = dyd_fp8_e4m3_to_f32((uint8_t)c) * scale;
      bad_scalar += isnan(s) ? !isnan(deq[c]) : bits_of(deq[c]) != bits_of(s);
    }
    check(bad == 0 && deq[256] == -1.0f, "fp8 DequantizeLinear scale %g: %zu of 256 differ from onnx",
          (double)scale, bad);
    check(bad_scalar == 0, "fp8 DequantizeLinear scale %g: array differs from scalar at %zu",
          (double)scale, bad_scalar);
  }

  /* A sweep over float32 magnitudes (every 1009th pattern below the overflow boundary,
   * every 65521st above), checked against the rules spelled out independently: the
   * nearest code, ties to the even code, (448, 464] -> 448, beyond -> 448 or NaN. */
  float grid[128]; /* grid[0x7F] = 480 stands in for the NaN slot when rounding */
  for (int c = 0; c < 127; c++) grid[c] = dyd_fp8_e4m3_to_f32((uint8_t)c);
  grid[127] = 480.0f;
  size_t bad = 0, count = 0;
  for (uint64_t u = 0; u <= 0x7F800000u; u += u < 0x43E80100u ? 1009 : 65521) {
    const float x = float_of((uint32_t)u);
    int c = 0; /* largest code with grid[c] <= x */
    int lo = 0, hi = 127;
    while (lo <= hi) {
      const int mid = (lo + hi) / 2;
      if (grid[mid] <= x) { c = mid; lo = mid + 1; }
      else hi = mid - 1;
    }
    int want = c;
    if (c < 127 && grid[c] != x) {
      const double dl = (double)x - grid[c], dh = (double)grid[c + 1] - x;
      if (dh < dl || (dh == dl && (c & 1))) want = c + 1;
    }
    for (int sat = 0; sat <= 1; sat++) {
      const int w = want <= 0x7E ? want : sat ? 0x7E : 0x7F;
      bad += dyd_fp8_e4m3_from_f32(x, sat) != w;
      bad += dyd_fp8_e4m3_from_f32(-x, sat) != (w | 0x80);
      count += 2;
    }
  }
  check(bad == 0, "fp8 sweep: %zu of %zu encodings break the rounding rules", bad, count);
  if (verbose) printf("fp8 sweep: %zu encodings\n", count);
}

/* ---- FP8 compute (W4A8) ------------------------------------------------------------------ */

/* Codes ranked by value (+0 and -0 share a rank; NaN codes -1): "adjacent" means ranks
 * one apart. */
static int f8_rank[256];
static void f8_init_ranks(void) {
  for (int c = 0; c < 256; c++) {
    const int mag = c & 0x7F;
    f8_rank[c] = mag == 0x7F ? -1000 : (c & 0x80) ? 126 - mag : 126 + mag;
  }
}

static uint8_t f8_random_code(void) { /* any finite code */
  uint8_t c;
  do c = (uint8_t)rnd64(); while ((c & 0x7F) == 0x7F);
  return c;
}

typedef struct {
  uint32_t batch, in_h, in_w, in_c, out_c, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, groups;
  uint32_t in_extra, out_extra;
  uint32_t group_size;
  int output_fp8;
  int clamp;      /* 0 none, 1 ReLU, 2 ReLU6-like, 3 a narrow band around 0 */
  int tables;     /* 0 any finite codes, 1 DPQ-like q * step (zero, subnormals), 2 small/subnormal only */
  int inputs;     /* 0 any finite codes, 1 small magnitudes (subnormals, zeros) */
  int saturate;   /* output scale small enough that many outputs hit +-448 */
  int no_bias;
} f8_case;

typedef struct {
  unsigned long outputs, exact, adjacent, floats, fail_cases;
  double worst; /* largest |error| / tolerance among float outputs */
} f8_stats;
static f8_stats f8s;

static void describe_f8(const f8_case *c, char *buf, size_t len) {
  snprintf(buf, len, "n%u %ux%ux%u->%u k%ux%u s%u,%u d%u,%u p%u,%u,%u,%u g%u x+%u y+%u gs%u %s clamp%d tab%d in%d%s%s",
           c->batch, c->in_h, c->in_w, c->in_c, c->out_c, c->kh, c->kw, c->sh, c->sw, c->dh, c->dw, c->pt,
           c->pl, c->pb, c->pr, c->groups, c->in_extra, c->out_extra, c->group_size,
           c->output_fp8 ? "fp8" : "f32", c->clamp, c->tables, c->inputs, c->saturate ? " sat" : "",
           c->no_bias ? " nobias" : "");
}

static void test_fp8conv_case(const f8_case *c) {
  dyd_fp8conv_desc d;
  memset(&d, 0, sizeof d);
  dyd_conv_geometry *g = &d.geometry;
  *g = (dyd_conv_geometry){c->batch, c->in_h, c->in_w, c->in_c, 0, 0, c->out_c, c->kh, c->kw,
                           c->sh, c->sw, c->dh, c->dw, c->pt, c->pl, c->groups,
                           c->in_c + c->in_extra, c->out_c + c->out_extra};
  g->out_h = out_dim(c->in_h, c->kh, c->sh, c->dh, c->pt, c->pb);
  g->out_w = out_dim(c->in_w, c->kw, c->sw, c->dw, c->pl, c->pr);
  if (!g->out_h || !g->out_w) return;
  char desc[256];
  describe_f8(c, desc, sizeof desc);
  const size_t icpg = c->in_c / c->groups, ocpg = c->out_c / c->groups;
  const size_t taps = (size_t)c->kh * c->kw, k = taps * icpg;
  const size_t ngroups = c->group_size ? (icpg + c->group_size - 1) / c->group_size : 1;
  const size_t tpo = c->group_size ? taps * ngroups : 1, ntables = tpo * c->out_c;
  int8_t *w = malloc(k * c->out_c);
  uint8_t *tables = malloc(ntables * 16);
  float *cs = malloc(c->out_c * sizeof(float)), *bias = malloc(c->out_c * sizeof(float));
  for (size_t i = 0; i < k * c->out_c; i++) w[i] = (int8_t)rnd_range(-8, 7);
  for (size_t t = 0; t < ntables; t++) {
    uint8_t *tab = tables + t * 16;
    if (c->tables == 0) {
      for (int i = 0; i < 16; i++) tab[i] = f8_random_code();
    } else {
      /* q * step for a step around 2^-9 .. 2^4: zero at q = 0, subnormals for small steps */
      const float step = ldexpf(1.0f + (float)rnd(8) / 8.0f, c->tables == 2 ? -9 - (int)rnd(3) : -9 + (int)rnd(14));
      for (int i = 0; i < 16; i++) tab[i] = dyd_fp8_e4m3_from_f32((float)(i - 8) * step, 1);
    }
  }
  const float input_scale = ldexpf(0.5f + (float)rnd(1000) / 1000.0f, (int)rnd(6) - 3);
  for (size_t oc = 0; oc < c->out_c; oc++) {
    cs[oc] = ldexpf(0.5f + (float)rnd(1000) / 1000.0f, (int)rnd(6) - 3) * (rnd(8) == 0 ? -1.0f : 1.0f);
    bias[oc] = (float)((double)(int32_t)rnd64() / 2147483648.0) * 4.0f;
  }
  d.input_scale = input_scale;
  d.weights = w;
  d.group_size = c->group_size;
  d.tables = tables;
  d.channel_scale = cs;
  d.bias = c->no_bias ? NULL : bias;
  d.output_fp8 = c->output_fp8;
  const size_t in_bytes = (size_t)c->batch * c->in_h * c->in_w * g->in_pixel_stride;
  const size_t outs = (size_t)c->batch * g->out_h * g->out_w * g->out_pixel_stride;
  const size_t ob = c->output_fp8 ? 1 : 4;
  guarded in = galloc(in_bytes);
  for (size_t i = 0; i < in_bytes; i++) {
    in.p[i] = f8_random_code();
    if (c->inputs == 1) in.p[i] = (uint8_t)((in.p[i] & 0x80) | rnd(20)); /* zeros, subnormals, tiny normals */
  }
  /* exact V and S per output, in double, loops in another order than the oracle's */
  double *V = calloc(outs, sizeof(double)), *S = calloc(outs, sizeof(double));
  double typical = 0;
  for (size_t n = 0; n < c->batch; n++)
    for (size_t oc = 0; oc < c->out_c; oc++)
      for (size_t ic = 0; ic < icpg; ic++)
        for (size_t t = 0; t < taps; t++) {
          const size_t ky = t / c->kw, kx = t % c->kw, grp = oc / ocpg;
          const size_t ti = c->group_size ? t * ngroups + ic / c->group_size : 0;
          const double wv = dyd_fp8_e4m3_to_f32(tables[(oc * tpo + ti) * 16 + (size_t)(w[oc * k + t * icpg + ic] + 8)]);
          for (size_t oy = 0; oy < g->out_h; oy++)
            for (size_t ox = 0; ox < g->out_w; ox++) {
              const int64_t iy = (int64_t)(oy * c->sh + ky * c->dh) - c->pt, ix = (int64_t)(ox * c->sw + kx * c->dw) - c->pl;
              if (iy < 0 || iy >= c->in_h || ix < 0 || ix >= c->in_w) continue;
              const double xv = dyd_fp8_e4m3_to_f32(in.p[((n * c->in_h + (size_t)iy) * c->in_w + (size_t)ix) * g->in_pixel_stride + grp * icpg + ic]);
              const size_t o = ((n * g->out_h + oy) * g->out_w + ox) * g->out_pixel_stride + oc;
              V[o] += xv * wv;
              S[o] += fabs(xv * wv);
            }
        }
  size_t count = 0;
  for (size_t n = 0; n < c->batch * g->out_h * g->out_w; n++)
    for (size_t oc = 0; oc < c->out_c; oc++) {
      const size_t o = n * g->out_pixel_stride + oc;
      V[o] = V[o] * ((double)input_scale * (double)cs[oc]) + (c->no_bias ? 0.0 : (double)bias[oc]);
      typical += fabs(V[o]);
      count++;
    }
  typical = count ? typical / (double)count : 1;
  if (typical < 1e-30) typical = 1;
  const float lims[4][2] = {{-INFINITY, INFINITY}, {0, INFINITY}, {0, (float)(typical * 0.7)},
                            {(float)(-typical * 0.2), (float)(typical * 0.3)}};
  d.out_min = lims[c->clamp][0];
  d.out_max = lims[c->clamp][1];
  d.output_scale = (float)(typical / (c->saturate ? 4.0 : 16.0 + rnd(200)));
  for (size_t n = 0; n < c->batch * g->out_h * g->out_w; n++)
    for (size_t oc = 0; oc < c->out_c; oc++) {
      double *v = &V[n * g->out_pixel_stride + oc];
      if (*v < d.out_min) *v = d.out_min;
      if (*v > d.out_max) *v = d.out_max;
    }
  /* the oracle against the exact values */
  guarded want = galloc(outs * ob), got = galloc(outs * ob);
  memset(want.p, 0xA5, outs * ob);
  dyd_ref_fp8conv(&d, in.p, want.p);
  size_t bad = 0;
  for (size_t n = 0; n < c->batch * g->out_h * g->out_w; n++)
    for (size_t oc = 0; oc < c->out_c; oc++) {
      const size_t o = n * g->out_pixel_stride + oc;
      if (c->output_fp8) {
        bad += want.p[o] != dyd_ref_fp8_e4m3_from_f64(V[o] / (double)d.output_scale);
      } else {
        float f;
        memcpy(&f, want.p + o * 4, 4);
        bad += f != (float)V[o];
      }
    }
  check(bad == 0, "fp8 oracle %s: %zu outputs differ from the direct double formula", desc, bad);
  for (size_t ii = 0; ii < sizeof all_isas / sizeof all_isas[0]; ii++) {
    for (size_t v = 0; v < dyd_fp8conv_variant_count(all_isas[ii]); v++) {
      char err[256] = "";
      dyd_fp8conv_op *op = dyd_fp8conv_create_variant(&d, all_isas[ii], v, err, sizeof err);
      if (op == NULL) {
        check(false, "fp8conv %s [%s/%zu]: create failed: %s", desc, dyd_isa_name(all_isas[ii]), v, err);
        continue;
      }
      const char *name = dyd_fp8conv_kernel_name(op);
      /* stored bytes: at least half a byte per weight plus 16 per table; depthwise ops
       * store each weight's E4M3 code (a byte) instead */
      const size_t wb = dyd_fp8conv_packed_weight_bytes(op);
      const bool depthwise = d.geometry.groups == d.geometry.in_c && d.geometry.in_c == d.geometry.out_c;
      check(wb >= (depthwise ? k * c->out_c : (k * c->out_c + 1) / 2 + ntables * 16),
            "fp8conv %s %s: %zu weight bytes", desc, name, wb);
      memset(got.p, 0xA5, outs * ob);
      const size_t tiles = dyd_fp8conv_tile_count(op), ws_size = dyd_fp8conv_workspace_size(op);
      guarded ws = galloc(ws_size ? ws_size : 1);
      /* tiles in two orders and chunks: they must be independent */
      const size_t half = rnd((uint32_t)tiles + 1);
      dyd_fp8conv_run(op, in.p, got.p, half, tiles - half, ws.p);
      for (size_t t = 0; t < half; t++) dyd_fp8conv_run(op, in.p, got.p, t, 1, ws.p);
      gfree(ws);
      size_t fails = 0, first = 0, exact = 0, adjacent = 0;
      double worst = 0;
      for (size_t n = 0; n < c->batch * g->out_h * g->out_w; n++)
        for (size_t oc = 0; oc < g->out_pixel_stride; oc++) {
          const size_t o = n * g->out_pixel_stride + oc;
          if (oc >= c->out_c) { /* canary between pixels */
            for (size_t i = 0; i < ob; i++) fails += got.p[o * ob + i] != 0xA5;
            continue;
          }
          const double s = fabs((double)(float)(input_scale * cs[oc]));
          const double tol = s * S[o] * (double)(k + 1) * 0x1p-24 + fabs(V[o]) * 0x1p-24;
          bool ok;
          if (c->output_fp8) {
            const uint8_t gc = got.p[o], wc = want.p[o];
            const double y = V[o] / (double)d.output_scale;
            const double toly = tol / fabs((double)d.output_scale) + fabs(y) * 0x1p-24;
            ok = f8_rank[gc] == f8_rank[wc];
            if (ok) {
              exact++;
            } else if (abs(f8_rank[gc] - f8_rank[wc]) == 1) {
              const double mid = ((double)dyd_fp8_e4m3_to_f32(gc) + dyd_fp8_e4m3_to_f32(wc)) / 2;
              ok = fabs(mid - y) <= toly;
              adjacent += ok;
            }
          } else {
            float f;
            memcpy(&f, got.p + o * 4, 4);
            const double e = fabs((double)f - V[o]);
            ok = e <= tol;
            if (tol > 0 && e / tol > worst) worst = e / tol;
            exact += (double)f == (double)(float)V[o];
          }
          if (!ok && fails++ == 0) first = o;
        }
      check(fails == 0, "fp8conv %s [%s] %s: %zu outputs outside the tolerance, first at %zu", desc,
            dyd_isa_name(all_isas[ii]), name, fails, first);
      if (fails) {
        f8s.fail_cases++;
        if (c->output_fp8) {
          printf("  got 0x%02X want 0x%02X (y = %.9g)\n", got.p[first], want.p[first],
                 V[first] / (double)d.output_scale);
        } else {
          float f;
          memcpy(&f, got.p + first * 4, 4);
          printf("  got %.9g want %.9g\n", (double)f, V[first]);
        }
      }
      const size_t nout = (size_t)c->batch * g->out_h * g->out_w * c->out_c;
      f8s.outputs += nout;
      f8s.exact += exact;
      f8s.adjacent += adjacent;
      if (!c->output_fp8) f8s.floats += nout;
      if (worst > f8s.worst) f8s.worst = worst;
      if (verbose) printf("ok fp8conv %s [%s] %s\n", desc, dyd_isa_name(all_isas[ii]), name);
      dyd_fp8conv_destroy(op);
    }
  }
  free(V);
  free(S);
  gfree(in);
  gfree(want);
  gfree(got);
  free(w);
  free(tables);
  free(cs);
  free(bias);
}

static f8_case f8_base(void) {
  f8_case c;
  memset(&c, 0, sizeof c);
  c.batch = c.in_h = c.in_w = c.in_c = c.out_c = 1;
  c.kh = c.kw = c.sh = c.sw = c.dh = c.dw = c.groups = 1;
  return c;
}

static void f8_randomize(f8_case *c) {
  static const uint32_t gss[] = {0, 0, 0, 32, 64, 16, 48, 5};
  c->group_size = gss[rnd(8)];
  c->output_fp8 = rnd(3) != 0;
  c->clamp = (int)rnd(4);
  c->tables = (int)rnd(3);
  c->inputs = rnd(4) == 0;
  c->saturate = rnd(6) == 0;
  c->no_bias = rnd(6) == 0;
  c->in_extra = rnd(4) == 0 ? rnd(9) : 0;
  c->out_extra = rnd(4) == 0 ? rnd(9) : 0;
}

static void test_fp8conv(void) {
  f8_init_ranks();
  memset(&f8s, 0, sizeof f8s);
  /* the double encoder against the float one on every float32 value it can get */
  size_t bad = 0;
  for (uint64_t u = 0; u <= 0x7F800000u; u += 997) {
    const float x = float_of((uint32_t)u);
    bad += dyd_ref_fp8_e4m3_from_f64(x) != dyd_fp8_e4m3_from_f32(x, 1);
    bad += dyd_ref_fp8_e4m3_from_f64(-x) != dyd_fp8_e4m3_from_f32(-x, 1);
  }
  check(bad == 0, "fp8 double encoder differs from the float one at %zu inputs", bad);
  /* GEMM: M, N, K around the tile sizes (MR 4/8, NR 1/2/4, K blocks of 32) */
  static const uint32_t ms[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33};
  static const uint32_t ns[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33};
  static const uint32_t ks[] = {1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 96, 100, 129, 200};
  static const uint32_t gss[] = {0, 32, 64, 16, 0, 48, 7, 0};
  size_t ki = 0;
  for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
      f8_case c = f8_base();
      c.in_w = ms[mi];
      if (ms[mi] % 4 == 0 && rnd(2)) c.in_w /= 2, c.batch = 2;
      c.out_c = ns[ni];
      c.in_c = ks[ki++ % (sizeof ks / sizeof ks[0])];
      f8_randomize(&c);
      c.group_size = gss[(mi + ni) % 8];
      test_fp8conv_case(&c);
    }
  /* group sizes on one shape: 0, 32, 64, partial last groups, larger than K */
  static const uint32_t groups_sizes[] = {0, 32, 64, 1, 16, 24, 40, 96, 200};
  for (size_t i = 0; i < sizeof groups_sizes / sizeof groups_sizes[0]; i++)
    for (int fp8 = 0; fp8 < 2; fp8++) {
      f8_case c = f8_base();
      c.in_w = 11;
      c.in_c = 80;
      c.out_c = 9;
      f8_randomize(&c);
      c.group_size = groups_sizes[i];
      c.output_fp8 = fp8;
      test_fp8conv_case(&c);
      c.kh = c.kw = 3; /* tables per tap */
      c.in_h = 4;
      c.pt = c.pb = c.pl = c.pr = 1;
      c.in_c = 40;
      test_fp8conv_case(&c);
    }
  /* every clamp, table kind, input kind and saturation, both outputs */
  for (int cl = 0; cl < 4; cl++)
    for (int tb = 0; tb < 3; tb++)
      for (int fp8 = 0; fp8 < 2; fp8++) {
        f8_case c = f8_base();
        c.in_w = 9;
        c.in_c = 37;
        c.out_c = 6;
        f8_randomize(&c);
        c.clamp = cl;
        c.tables = tb;
        c.output_fp8 = fp8;
        c.inputs = tb == 2;
        c.saturate = cl == 0 && tb == 0;
        test_fp8conv_case(&c);
      }
  /* both x86 AVX-512 weight layouts around their switch (M < 8: K-lane 8x4c32, M >= 8:
   * pair 8x32c2), short and odd K, half and partial 32-column panels, group sizes that
   * split pairs, and more rows than one tile holds (512) */
  static const uint32_t pm[] = {7, 8, 9, 600};
  static const uint32_t pk[] = {16, 24, 40, 3, 33};
  static const uint32_t pn[] = {16, 40, 32, 1, 64};
  static const uint32_t pg[] = {0, 32, 16, 5, 0};
  for (size_t mi = 0; mi < sizeof pm / sizeof pm[0]; mi++)
    for (size_t i = 0; i < sizeof pk / sizeof pk[0]; i++) {
      f8_case c = f8_base();
      c.in_h = pm[mi] == 600 ? 20 : 1;
      c.in_w = pm[mi] == 600 ? 30 : pm[mi];
      c.in_c = pk[i];
      c.out_c = pn[(i + mi) % 5];
      f8_randomize(&c);
      c.group_size = pg[(i + 2 * mi) % 5];
      test_fp8conv_case(&c);
    }
  /* fully connected, batch 1 and 3 */
  for (int rep = 0; rep < 4; rep++) {
    f8_case c = f8_base();
    c.batch = rep < 2 ? 1 : 3;
    c.in_c = rep % 2 ? 1280 : 333;
    c.out_c = rep % 2 ? 100 : 37;
    f8_randomize(&c);
    c.group_size = rep == 1 ? 64 : rep == 2 ? 32 : 0;
    test_fp8conv_case(&c);
  }
  /* general conv: windows, strides, dilation, padding */
  static const uint32_t chans[] = {1, 3, 7, 17, 33, 40};
  static const uint32_t kernels[][2] = {{3, 3}, {5, 5}, {1, 1}, {2, 2}, {1, 3}, {3, 1}, {7, 1}};
  for (size_t kk = 0; kk < sizeof kernels / sizeof kernels[0]; kk++)
    for (uint32_t st = 1; st <= 3; st++)
      for (size_t ci = 0; ci < sizeof chans / sizeof chans[0]; ci += 1 + (st == 3)) {
        f8_case c = f8_base();
        c.kh = kernels[kk][0];
        c.kw = kernels[kk][1];
        c.sh = st;
        c.sw = rnd(3) == 0 ? 1 + rnd(3) : st;
        c.dh = rnd(4) == 0 ? 2 : 1;
        c.dw = rnd(4) == 0 ? 2 : 1;
        c.in_h = 1 + rnd(7) + (c.kh - 1) * c.dh;
        c.in_w = 1 + rnd(9) + (c.kw - 1) * c.dw;
        c.pt = rnd(c.kh);
        c.pb = rnd(c.kh);
        c.pl = rnd(c.kw);
        c.pr = rnd(c.kw);
        c.in_c = chans[ci];
        c.out_c = chans[(ci + kk + st) % (sizeof chans / sizeof chans[0])];
        if (rnd(3) == 0) c.batch = 2;
        f8_randomize(&c);
        test_fp8conv_case(&c);
      }
  /* grouped (not depthwise), including a channel multiplier of 2 */
  static const uint32_t groups[] = {2, 3, 4, 8};
  for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++)
    for (int rep = 0; rep < 4; rep++) {
      f8_case c = f8_base();
      c.groups = groups[gi];
      c.in_c = groups[gi] * (rep == 3 ? 1 : 1 + rnd(9));
      c.out_c = groups[gi] * (rep == 3 ? 2 : 1 + rnd(12));
      c.kh = c.kw = rep % 2 ? 3 : 1;
      c.sh = c.sw = 1 + rnd(2);
      c.in_h = 3 + rnd(5);
      c.in_w = 3 + rnd(5);
      c.pt = c.pb = c.pl = c.pr = c.kh / 2;
      f8_randomize(&c);
      test_fp8conv_case(&c);
    }
  /* depthwise 3x3 / 5x5, stride 1 and 2, channels around every vector width */
  static const uint32_t dchans[] = {1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 144};
  static const uint32_t dk[][2] = {{3, 3}, {5, 5}, {3, 3}, {2, 2}, {1, 1}, {3, 1}};
  for (size_t kk = 0; kk < sizeof dk / sizeof dk[0]; kk++)
    for (uint32_t st = 1; st <= 2; st++)
      for (size_t ci = 0; ci < sizeof dchans / sizeof dchans[0]; ci++) {
        f8_case c = f8_base();
        c.kh = dk[kk][0];
        c.kw = dk[kk][1];
        c.sh = c.sw = st;
        if (kk == 2) c.dh = c.dw = 2;
        c.in_h = c.kh + rnd(6);
        c.in_w = c.kw + rnd(9);
        c.pt = c.pb = c.kh / 2;
        c.pl = c.pr = c.kw / 2;
        if (rnd(3) == 0) c.pt = rnd(c.kh), c.pr = rnd(c.kw);
        c.in_c = c.out_c = c.groups = dchans[ci];
        if (rnd(4) == 0) c.batch = 2;
        f8_randomize(&c);
        test_fp8conv_case(&c);
      }
  /* wide depthwise rows (several rows per tile, partial row chunks) */
  for (int rep = 0; rep < 4; rep++) {
    f8_case c = f8_base();
    c.kh = c.kw = rep % 2 ? 5 : 3;
    c.sh = c.sw = 1 + (uint32_t)(rep / 2);
    c.in_h = 13;
    c.in_w = 30 + rnd(40);
    c.pt = c.pb = c.pl = c.pr = c.kh / 2;
    c.in_c = c.out_c = c.groups = 24 + 16 * (uint32_t)rep;
    f8_randomize(&c);
    test_fp8conv_case(&c);
  }
  /* random */
  for (int i = 0; i < 120; i++) {
    f8_case c = f8_base();
    const int kind = (int)rnd(3);
    c.kh = kind == 0 ? 1 : 1 + rnd(5);
    c.kw = kind == 0 ? 1 : 1 + rnd(5);
    if (kind) {
      c.sh = 1 + rnd(3);
      c.sw = 1 + rnd(3);
      c.dh = 1 + rnd(2);
      c.dw = 1 + rnd(2);
      c.pt = rnd(c.kh);
      c.pb = rnd(c.kh);
      c.pl = rnd(c.kw);
      c.pr = rnd(c.kw);
    }
    c.in_h = 1 + rnd(6) + (c.kh - 1) * c.dh;
    c.in_w = 1 + rnd(8) + (c.kw - 1) * c.dw;
    c.batch = 1 + rnd(2);
    if (kind == 2) {
      c.in_c = c.out_c = c.groups = 1 + rnd(70);
    } else {
      c.groups = rnd(4) == 0 ? 1 + rnd(3) : 1;
      c.in_c = c.groups * (1 + rnd(kind == 0 ? 140 : 40));
      c.out_c = c.groups * (1 + rnd(40));
    }
    f8_randomize(&c);
    test_fp8conv_case(&c);
  }
  printf("fp8 conv: %lu outputs compared with the oracle (%lu float32): %lu exact (%.2f%%), %lu FP8 "
         "codes adjacent next to a rounding boundary; largest float32 error %.3g of its bound\n",
         f8s.outputs, f8s.floats, f8s.exact, f8s.outputs ? 100.0 * f8s.exact / f8s.outputs : 0.0,
         f8s.adjacent, f8s.worst);
}

static void f8_expect_reject(const dyd_fp8conv_desc *d, const char *what) {
  char err[256] = "";
  dyd_fp8conv_op *op = dyd_fp8conv_create(d, err, sizeof err);
  check(op == NULL && err[0] != '\0', "fp8conv create accepted %s", what);
  if (verbose && op == NULL) printf("ok fp8conv rejected %s: %s\n", what, err);
  dyd_fp8conv_destroy(op);
}

static void test_fp8conv_validation(void) {
  int8_t w[2 * 3 * 3 * 4];
  uint8_t tables[2 * 16];
  float cs[2] = {1, 1}, bias[2] = {0, 0};
  for (size_t i = 0; i < sizeof w; i++) w[i] = (int8_t)rnd_range(-8, 7);
  for (size_t i = 0; i < sizeof tables; i++) tables[i] = f8_random_code();
  dyd_fp8conv_desc good = {{1, 5, 5, 4, 5, 5, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 4, 2}, 0.5f, w, 0, tables,
                           cs, bias, -INFINITY, INFINITY, 1, 0.25f};
  char err[256];
  dyd_fp8conv_op *op = dyd_fp8conv_create(&good, err, sizeof err);
  check(op != NULL, "fp8conv valid descriptor rejected: %s", err);
  check(op && strncmp(dyd_fp8conv_kernel_name(op), "dyd_qf8_qb4w_", 13) == 0, "fp8conv kernel name");
  dyd_fp8conv_destroy(op);
  dyd_fp8conv_desc d = good;
  w[7] = 8;
  f8_expect_reject(&d, "weight 8");
  w[7] = -9;
  f8_expect_reject(&d, "weight -9");
  w[7] = 0;
  tables[5] = 0x7F;
  f8_expect_reject(&d, "NaN table entry");
  tables[5] = 0xFF;
  f8_expect_reject(&d, "-NaN table entry");
  tables[5] = 0;
  d.tables = NULL;
  f8_expect_reject(&d, "no tables");
  d = good;
  d.output_scale = 0;
  f8_expect_reject(&d, "zero output scale");
  d.output_scale = 1e-39f;
  f8_expect_reject(&d, "output scale whose reciprocal overflows");
  d = good;
  d.out_min = 1, d.out_max = 0;
  f8_expect_reject(&d, "empty clamp");
  d = good;
  d.input_scale = NAN;
  f8_expect_reject(&d, "NaN input scale");
  d = good;
  cs[1] = INFINITY;
  f8_expect_reject(&d, "infinite channel scale");
  cs[1] = 1;
  d.geometry.groups = 3;
  f8_expect_reject(&d, "groups not dividing channels");
  d = good;
  d.geometry.out_h = 9;
  f8_expect_reject(&d, "inconsistent output size");
}

static void test_fp8_elementwise(void) {
  static const size_t sizes[] = {0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 1000};
  for (int rep = 0; rep < 60; rep++) {
    dyd_fp8_add_params p;
    p.a_scale = ldexpf(0.5f + (float)rnd(1000) / 1000.0f, (int)rnd(8) - 4);
    p.b_scale = ldexpf(0.5f + (float)rnd(1000) / 1000.0f, (int)rnd(8) - 4) * (rnd(5) == 0 ? -1.0f : 1.0f);
    p.y_scale = ldexpf(0.5f + (float)rnd(1000) / 1000.0f, (int)rnd(8) - 4);
    if (rep % 13 == 12) p.y_scale = 1e-39f; /* a reciprocal that overflows: the scalar division */
    const int cl = (int)rnd(3);
    p.out_min = cl == 0 ? -INFINITY : 0.0f;
    p.out_max = cl == 2 ? 6.0f : INFINITY;
    const size_t n = sizes[rep % (sizeof sizes / sizeof sizes[0])];
    const size_t a_inc = rep % 5 == 3 ? 0 : 1, b_inc = rep % 5 == 4 ? 0 : 1;
    guarded a = galloc((a_inc ? n : 1) + 1), b = galloc((b_inc ? n : 1) + 1), want = galloc(n + 1), got = galloc(n + 1);
    for (size_t i = 0; i <= (a_inc ? n : 1); i++) a.p[i] = f8_random_code();
    for (size_t i = 0; i <= (b_inc ? n : 1); i++) b.p[i] = f8_random_code();
    dyd_ref_fp8_add(&p, a.p, a_inc, b.p, b_inc, want.p, n);
    for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
      if (!isa_available(all_isas[i])) continue;
      memset(got.p, 0x5A, n + 1);
      dyd_fp8_add_run_for_isa(all_isas[i], &p, a.p, a_inc, b.p, b_inc, got.p, n);
      size_t bad = 0;
      for (size_t j = 0; j < n; j++) bad += got.p[j] != want.p[j];
      check(bad == 0 && got.p[n] == 0x5A, "fp8 add rep %d n %zu inc %zu/%zu [%s]: %zu differ", rep, n,
            a_inc, b_inc, dyd_isa_name(all_isas[i]), bad);
    }
    gfree(a), gfree(b), gfree(want), gfree(got);
  }
  /* the oracle add against a hand-checked value: 1.5 * 2 + -0.25 * 4 = 2 -> 2 / 0.5 = 4 (0x48) */
  {
    const dyd_fp8_add_params p = {2.0f, 4.0f, 0.5f, -INFINITY, INFINITY};
    const uint8_t a = dyd_fp8_e4m3_from_f32(1.5f, 1), b = dyd_fp8_e4m3_from_f32(-0.25f, 1);
    uint8_t y = 0;
    dyd_ref_fp8_add(&p, &a, 1, &b, 1, &y, 1);
    check(y == 0x48, "fp8 oracle add: got 0x%02X want 0x48", y);
  }
  /* -0 + -0 clamped at a lower bound of +0 is +0 (0x00) in the oracle and in every kernel,
   * in the vector body (16 lanes) and in the scalar tail (3 more) */
  {
    const dyd_fp8_add_params p = {1.0f, 1.0f, 1.0f, 0.0f, INFINITY};
    uint8_t a[19], b[19], y[19];
    memset(a, 0x80, sizeof a), memset(b, 0x80, sizeof b);
    dyd_ref_fp8_add(&p, a, 1, b, 1, y, 19);
    check(y[0] == 0x00, "fp8 oracle add: -0 clamped at +0 gave 0x%02X", y[0]);
    for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
      if (!isa_available(all_isas[i])) continue;
      memset(y, 0x5A, sizeof y);
      dyd_fp8_add_run_for_isa(all_isas[i], &p, a, 1, b, 1, y, 19);
      size_t bad = 0;
      for (size_t j = 0; j < 19; j++) bad += y[j] != 0x00;
      check(bad == 0, "fp8 add -0 clamped at +0 [%s]: %zu of 19 not 0x00", dyd_isa_name(all_isas[i]), bad);
    }
  }
  for (int rep = 0; rep < 30; rep++) {
    dyd_fp8_avgpool_params p;
    p.batch = 1 + rnd(2);
    p.pixels = 1 + rnd(rep % 3 == 0 ? 200 : 50);
    p.channels = 1 + rnd(rep % 2 ? 300 : 40);
    p.in_pixel_stride = p.channels + (rnd(3) == 0 ? rnd(5) : 0);
    p.input_scale = ldexpf(0.5f + (float)rnd(1000) / 1000.0f, (int)rnd(6) - 3);
    p.output_scale = ldexpf(0.5f + (float)rnd(1000) / 1000.0f, (int)rnd(6) - 3);
    const size_t in_bytes = (size_t)p.batch * p.pixels * p.in_pixel_stride, outs = (size_t)p.batch * p.channels;
    guarded x = galloc(in_bytes), want = galloc(outs + 1), got = galloc(outs + 1);
    for (size_t i = 0; i < in_bytes; i++) x.p[i] = f8_random_code();
    dyd_ref_fp8_global_avgpool(&p, x.p, want.p);
    /* the oracle against double within the float sum's bound: the rounding before
     * the encode is tiny, so codes agree or are adjacent */
    size_t far = 0;
    for (size_t n = 0; n < p.batch; n++)
      for (size_t ch = 0; ch < p.channels; ch++) {
        double sum = 0;
        for (size_t i = 0; i < p.pixels; i++) sum += dyd_fp8_e4m3_to_f32(x.p[(n * p.pixels + i) * p.in_pixel_stride + ch]);
        const uint8_t c = dyd_ref_fp8_e4m3_from_f64(sum / p.pixels * p.input_scale / p.output_scale);
        far += abs(f8_rank[c] - f8_rank[want.p[n * p.channels + ch]]) > 1;
      }
    check(far == 0, "fp8 oracle avgpool: %zu codes more than one step from the double mean", far);
    for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
      if (!isa_available(all_isas[i])) continue;
      memset(got.p, 0x5A, outs + 1);
      dyd_fp8_global_avgpool_run_for_isa(all_isas[i], &p, x.p, got.p);
      check(memcmp(got.p, want.p, outs) == 0 && got.p[outs] == 0x5A, "fp8 global avgpool n%u %u px %u ch [%s]",
            p.batch, p.pixels, p.channels, dyd_isa_name(all_isas[i]));
    }
    gfree(x), gfree(want), gfree(got);
  }
}

/* ---- float32 convolution and GEMM -------------------------------------------------------- */

/* Every kernel against the float64 oracle within the header's bound,
 *   |y - y_ref| <= 2 * (K + 1) * 2^-24 * (sum |x * w| + |bias|),
 * where sum |x * w| + |bias| is the oracle run on absolute values. In `exact` cases
 * inputs and weights are small integers, so every partial sum is exact in float
 * and any order must give the oracle's value bit for bit. */

typedef struct {
  uint32_t batch, in_h, in_w, in_c, out_c, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, groups;
  int no_bias, exact;
  dyd_f32_activation act;
  float act_min, act_max;
} f32_case;

static float f32_value(int exact) {
  if (exact) return (float)rnd_range(-8, 8);
  const float v = (float)((double)(int32_t)(rnd64() >> 32) * ldexp(1.0, -31)); /* [-1, 1) */
  return rnd(16) == 0 ? 0.0f : v;
}

static float *f32_array(size_t n, int exact) {
  float *p = malloc((n ? n : 1) * sizeof *p);
  for (size_t i = 0; i < n; i++) p[i] = f32_value(exact);
  return p;
}

static void describe_f32(const f32_case *c, char *buf, size_t len) {
  char act[64] = "";
  if (c->act == DYD_F32_ACT_CLAMP) snprintf(act, sizeof act, " clamp[%g,%g]", (double)c->act_min, (double)c->act_max);
  if (c->act == DYD_F32_ACT_SILU) snprintf(act, sizeof act, " silu");
  snprintf(buf, len, "f32 n%u %ux%ux%u->%u k%ux%u s%u,%u d%u,%u p%u,%u,%u,%u g%u%s%s%s", c->batch, c->in_h,
           c->in_w, c->in_c, c->out_c, c->kh, c->kw, c->sh, c->sw, c->dh, c->dw, c->pt, c->pl, c->pb, c->pr,
           c->groups, c->no_bias ? " no-bias" : "", c->exact ? " exact" : "", act);
}

/* Compares got with want within the header's bound (0 in exact cases without SiLU);
 * one check per run. With SiLU: 1.1 times the conv's bound B, plus 4 ulp of the
 * result, |y - y_ref| <= 1.1 B + 2^-21 (|y_ref| + 1.1 B) + 2^-147. */
static void check_f32_act(const char *what, const float *got, const float *want, const float *absref,
                          size_t n, double terms, int exact, dyd_f32_activation act) {
  size_t bad = 0, first = 0;
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    const double err = fabs((double)got[i] - (double)want[i]);
    double bound = exact ? 0.0 : 2.0 * terms * ldexp(1.0, -24) * (double)absref[i] * (1 + ldexp(1.0, -20));
    if (act == DYD_F32_ACT_SILU) {
      bound *= 1.1;
      bound += ldexp(1.0, -21) * (fabs((double)want[i]) + bound) + ldexp(1.0, -147);
    }
    if (!(err <= bound) && bad++ == 0) first = i; /* NaN fails */
    if (bound > 0 && err / bound > worst) worst = err / bound;
  }
  check(bad == 0, "%s: %zu of %zu outside the bound, first at %zu (got %.9g want %.9g, |x*w| sum %.9g)",
        what, bad, n, first, bad ? (double)got[first] : 0.0, bad ? (double)want[first] : 0.0,
        bad ? (double)absref[first] : 0.0);
  if (verbose) printf("ok %s (worst error %.3f of the bound)\n", what, worst);
}

static void check_f32(const char *what, const float *got, const float *want, const float *absref,
                      size_t n, double terms, int exact) {
  check_f32_act(what, got, want, absref, n, terms, exact, DYD_F32_ACT_NONE);
}

static void run_f32_tiles(const dyd_f32conv_op *op, const float *in, float *out) {
  const size_t tiles = dyd_f32conv_tile_count(op), ws_size = dyd_f32conv_workspace_size(op);
  guarded ws = galloc(ws_size); /* ends at a page: any alignment the caller may give */
  memset(ws.p, 0xFF, ws_size); /* NaN: stale workspace must never leak into outputs */
  size_t order[4096], chunks = 0, t = 0, starts[4096], counts[4096];
  while (t < tiles) {
    size_t n = 1 + rnd(tiles < 4 ? 1 : (uint32_t)(tiles / 3));
    if (chunks == 4095 || n > tiles - t) n = tiles - t;
    starts[chunks] = t;
    counts[chunks] = n;
    order[chunks] = chunks;
    chunks++;
    t += n;
  }
  for (size_t i = chunks; i > 1; i--) {
    const size_t j = rnd((uint32_t)i), tmp = order[i - 1];
    order[i - 1] = order[j];
    order[j] = tmp;
  }
  for (size_t i = 0; i < chunks; i++)
    dyd_f32conv_run(op, in, out, starts[order[i]], counts[order[i]], ws.p);
  gfree(ws);
}

static void test_f32_case(const f32_case *c) {
  dyd_f32conv_desc d;
  memset(&d, 0, sizeof d);
  dyd_conv_geometry *g = &d.geometry;
  *g = (dyd_conv_geometry){.batch = c->batch, .in_h = c->in_h, .in_w = c->in_w, .in_c = c->in_c,
                           .out_c = c->out_c, .kernel_h = c->kh, .kernel_w = c->kw, .stride_h = c->sh,
                           .stride_w = c->sw, .dilation_h = c->dh, .dilation_w = c->dw,
                           .pad_top = c->pt, .pad_left = c->pl, .groups = c->groups};
  d.activation = c->act;
  d.activation_min = c->act_min;
  d.activation_max = c->act_max;
  g->out_h = out_dim(c->in_h, c->kh, c->sh, c->dh, c->pt, c->pb);
  g->out_w = out_dim(c->in_w, c->kw, c->sw, c->dw, c->pl, c->pr);
  if (!g->out_h || !g->out_w) return;
  char desc[200];
  describe_f32(c, desc, sizeof desc);
  const size_t k = (size_t)c->kh * c->kw * (c->in_c / c->groups);
  const size_t nin = (size_t)c->batch * c->in_c * c->in_h * c->in_w;
  const size_t nout = (size_t)c->batch * c->out_c * g->out_h * g->out_w;
  float *w = f32_array(c->out_c * k, c->exact), *bias = f32_array(c->out_c, c->exact);
  guarded in = galloc(nin * sizeof(float)), got = galloc(nout * sizeof(float));
  float *x = (float *)(void *)in.p, *y = (float *)(void *)got.p;
  for (size_t i = 0; i < nin; i++) x[i] = f32_value(c->exact);
  if (!c->exact && rnd(3) == 0) /* magnitudes that differ by channel */
    for (size_t i = 0; i < nin; i++) x[i] = ldexpf(x[i], (int)((i / (c->in_h * c->in_w)) % 7) - 3);
  d.weights = w;
  d.bias = c->no_bias ? NULL : bias;
  float *want = malloc(nout * sizeof *want), *absref = malloc(nout * sizeof *absref);
  dyd_ref_f32conv(&d, x, want);
  { /* sum |x * w| + |bias| */
    float *ax = malloc(nin * sizeof *ax), *aw = malloc(c->out_c * k * sizeof *aw), *ab = malloc(c->out_c * sizeof *ab);
    for (size_t i = 0; i < nin; i++) ax[i] = fabsf(x[i]);
    for (size_t i = 0; i < c->out_c * k; i++) aw[i] = fabsf(w[i]);
    for (size_t i = 0; i < c->out_c; i++) ab[i] = fabsf(bias[i]);
    dyd_f32conv_desc ad = d;
    ad.activation = DYD_F32_ACT_NONE; /* the conv's bound, before the activation */
    ad.weights = aw;
    ad.bias = c->no_bias ? NULL : ab;
    dyd_ref_f32conv(&ad, ax, absref);
    free(ax), free(aw), free(ab);
  }
  for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
    if (!isa_available(all_isas[i])) continue;
    char err[256] = "";
    dyd_f32conv_op *op = dyd_f32conv_create_for_isa(&d, all_isas[i], err, sizeof err);
    if (op == NULL) {
      check(false, "%s [%s]: create failed: %s", desc, dyd_isa_name(all_isas[i]), err);
      continue;
    }
    const char *name = dyd_f32conv_kernel_name(op);
    const bool dw = c->groups == c->in_c && c->groups == c->out_c;
    check(strncmp(name, "dyd_f32_", 8) == 0 && (strstr(name, "_dwconv_") != NULL) == dw,
          "%s [%s]: kernel %s", desc, dyd_isa_name(all_isas[i]), name);
    for (size_t j = 0; j < nout; j++) y[j] = NAN;
    run_f32_tiles(op, x, y);
    char what[400];
    snprintf(what, sizeof what, "%s [%s] %s", desc, dyd_isa_name(all_isas[i]), name);
    check_f32_act(what, y, want, absref, nout, (double)k + 1, c->exact, c->act);
    dyd_f32conv_destroy(op);
  }
  gfree(in);
  gfree(got);
  free(want), free(absref), free(w), free(bias);
}

static f32_case f32_base(void) {
  f32_case c;
  memset(&c, 0, sizeof c);
  c.batch = c.in_h = c.in_w = c.in_c = c.out_c = 1;
  c.kh = c.kw = c.sh = c.sw = c.dh = c.dw = c.groups = 1;
  c.no_bias = rnd(6) == 0;
  c.exact = rnd(4) == 0;
  /* half the cases with a fused activation: Relu, Relu6, a Clip, SiLU */
  switch (rnd(8)) {
    case 0: c.act = DYD_F32_ACT_CLAMP, c.act_min = 0, c.act_max = INFINITY; break;
    case 1: c.act = DYD_F32_ACT_CLAMP, c.act_min = 0, c.act_max = c.exact ? 6 : 0.25f; break;
    case 2: c.act = DYD_F32_ACT_CLAMP, c.act_min = c.exact ? -3 : -0.125f, c.act_max = c.exact ? 2 : 0.5f; break;
    case 3: case 4: c.act = DYD_F32_ACT_SILU; break;
    default: c.act = DYD_F32_ACT_NONE;
  }
  return c;
}

/* The SiLU every ISA runs, against SiLU in double of the same float input, over
 * every 61st float in [-120, 120] (all binades, the subnormal results below about
 * -87, the underflow to -0 below -103) and special points: within 4 ulp of the
 * result (ulp of a subnormal result: 2^-149). Clamps must be exact. */
static void test_f32_activation_accuracy(void) {
  const size_t cap = 1u << 22;
  float *x = malloc(cap * sizeof *x), *y = malloc(cap * sizeof *y);
  size_t n = 0;
  static const float special[] = {0.0f, -0.0f, 1e-45f, -1e-45f, 1e-38f, -1e-38f, 87.0f, -87.0f, 88.7f,
                                  -88.7f, 103.9f, -103.9f, 110.0f, -110.0f, 200.0f, -200.0f, 1e30f, -1e30f,
                                  3.4e38f, -3.4e38f, 0.3465736f, -0.3465736f, 0.5f, -0.5f};
  for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) x[n++] = special[i];
  for (uint32_t sign = 0; sign < 2; sign++)
    for (uint32_t u = 0; n < cap; u += 61) {
      float v;
      const uint32_t bits = u | sign << 31;
      memcpy(&v, &bits, sizeof v);
      if (!(fabsf(v) <= 120.0f)) break;
      x[n++] = v;
    }
  for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
    if (!isa_available(all_isas[i])) continue;
    memcpy(y, x, n * sizeof *y);
    dyd_f32_activation_for_isa(all_isas[i], DYD_F32_ACT_SILU, 0, 0, 0, 0, y, n);
    double worst = 0;
    size_t bad = 0, first = 0;
    for (size_t j = 0; j < n; j++) {
      const double ref = (double)x[j] / (1.0 + exp(-(double)x[j]));
      int e;
      frexp(ref, &e);
      const double ulp = ldexp(1.0, e - 24 > -149 ? e - 24 : -149);
      const double err = fabs((double)y[j] - ref) / ulp;
      if (err > worst) worst = err;
      if (!(err <= 4.0) && bad++ == 0) first = j;
    }
    check(bad == 0, "silu [%s]: %zu of %zu beyond 4 ulp, first x = %.9g: %.9g, want %.9g", dyd_isa_name(all_isas[i]),
          bad, n, bad ? (double)x[first] : 0.0, bad ? (double)y[first] : 0.0,
          bad ? (double)x[first] / (1.0 + exp(-(double)x[first])) : 0.0);
    if (verbose) printf("ok silu [%s]: worst %.3f ulp over %zu inputs\n", dyd_isa_name(all_isas[i]), worst, n);
    static const float bounds[][2] = {{0, INFINITY}, {0, 6}, {-1.5f, 0.25f}, {-INFINITY, 3}};
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
      const size_t m = n < 100003 ? n : 100003; /* odd: a vector tail */
      memcpy(y, x, m * sizeof *y);
      dyd_f32_activation_for_isa(all_isas[i], DYD_F32_ACT_CLAMP, bounds[b][0], bounds[b][1], 0, 0, y, m);
      size_t wrong = 0;
      for (size_t j = 0; j < m; j++) wrong += y[j] != fminf(fmaxf(x[j], bounds[b][0]), bounds[b][1]);
      check(wrong == 0, "clamp [%g, %g] [%s]: %zu wrong", (double)bounds[b][0], (double)bounds[b][1],
            dyd_isa_name(all_isas[i]), wrong);
    }
    /* LeakyRelu then a clamp, and HardSigmoid(y) * y: the same float steps as the unfused
     * layers (a rounded multiply, then a rounded add), so equal bit for bit */
    {
      const size_t m = n < 100003 ? n : 100003;
      static const float leaky[][3] = {{0.2f, 0, INFINITY}, {0.01f, -INFINITY, INFINITY}, {0.1f, -2, 0.5f}};
      for (size_t b = 0; b < sizeof leaky / sizeof leaky[0]; b++) {
        memcpy(y, x, m * sizeof *y);
        dyd_f32_activation_for_isa(all_isas[i], DYD_F32_ACT_LEAKY_CLAMP, leaky[b][1], leaky[b][2], leaky[b][0], 0, y, m);
        size_t wrong = 0;
        for (size_t j = 0; j < m; j++) {
          const float l = x[j] >= 0 ? x[j] : x[j] * leaky[b][0];
          wrong += y[j] != fminf(fmaxf(l, leaky[b][1]), leaky[b][2]);
        }
        check(wrong == 0, "leaky clamp %g [%s]: %zu wrong", (double)leaky[b][0], dyd_isa_name(all_isas[i]), wrong);
      }
      static const float hs[][2] = {{1.0f / 6, 0.5f}, {0.2f, 0.5f}};
      for (size_t b = 0; b < sizeof hs / sizeof hs[0]; b++) {
        memcpy(y, x, m * sizeof *y);
        dyd_f32_activation_for_isa(all_isas[i], DYD_F32_ACT_HARDSWISH, 0, 0, hs[b][0], hs[b][1], y, m);
        size_t wrong = 0;
        for (size_t j = 0; j < m; j++) {
          volatile float t = hs[b][0] * x[j];
          t = t + hs[b][1];
          const float g = fmaxf(fminf(t, 1), 0);
          wrong += y[j] != x[j] * g;
        }
        check(wrong == 0, "hardswish %g %g [%s]: %zu wrong", (double)hs[b][0], (double)hs[b][1], dyd_isa_name(all_isas[i]),
              wrong);
      }
    }
    const float nan_in = NAN; /* NaN stays NaN through SiLU */
    float v = nan_in;
    dyd_f32_activation_for_isa(all_isas[i], DYD_F32_ACT_SILU, 0, 0, 0, 0, &v, 1);
    check(isnan(v), "silu(NaN) [%s] = %g", dyd_isa_name(all_isas[i]), (double)v);
  }
  free(x), free(y);
}

static void test_f32_gemm_shapes(void) {
  /* 1x1: M = out_c, N = pixels, K = in_c around every MR (4, 6, 8) and NR (4, 8, 16, 32) */
  static const uint32_t ms[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 16, 17, 24, 25, 33};
  static const uint32_t ns[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 96, 129, 1100};
  static const uint32_t ks[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 300, 1200};
  size_t ki = 0;
  for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
      f32_case c = f32_base();
      c.in_w = ns[ni];
      if (ns[ni] % 4 == 0 && rnd(2)) { /* as several rows, or images */
        c.in_h = 2;
        c.in_w = ns[ni] / 2;
        if (rnd(2)) { c.batch = 2; c.in_h = 1; }
      }
      c.out_c = ms[mi];
      c.in_c = ks[ki++ % (sizeof ks / sizeof ks[0])];
      if (ns[ni] > 1000 && c.in_c > 300) c.in_c = 40;
      test_f32_case(&c);
    }
}

static void test_f32_general_shapes(void) {
  static const uint32_t chans[] = {1, 3, 7, 8, 17, 33};
  static const uint32_t kernels[][2] = {{3, 3}, {5, 5}, {1, 1}, {2, 2}, {1, 3}, {3, 1}, {7, 1}, {1, 7}};
  for (size_t ki = 0; ki < sizeof kernels / sizeof kernels[0]; ki++)
    for (uint32_t st = 1; st <= 3; st++)
      for (size_t ci = 0; ci < sizeof chans / sizeof chans[0]; ci++) {
        f32_case c = f32_base();
        c.kh = kernels[ki][0];
        c.kw = kernels[ki][1];
        c.sh = st;
        c.sw = rnd(3) == 0 ? 1 + rnd(3) : st;
        c.dh = rnd(4) == 0 ? 2 : 1;
        c.dw = rnd(4) == 0 ? 2 : 1;
        c.in_h = 1 + rnd(9) + (c.kh - 1) * c.dh;
        c.in_w = 1 + rnd(40) + (c.kw - 1) * c.dw;
        c.pt = rnd(c.kh);
        c.pb = rnd(c.kh);
        c.pl = rnd(c.kw);
        c.pr = rnd(c.kw);
        c.in_c = chans[ci];
        c.out_c = chans[(ci + ki + st) % (sizeof chans / sizeof chans[0])];
        if (rnd(3) == 0) c.batch = 2;
        test_f32_case(&c);
      }
  /* the stem's shape family (3 -> 32, 3x3/2, padding only after), at a size with several tiles */
  {
    f32_case c = f32_base();
    c.in_h = c.in_w = 66;
    c.in_c = 3;
    c.out_c = 32;
    c.kh = c.kw = 3;
    c.sh = c.sw = 2;
    c.pb = c.pr = 1;
    test_f32_case(&c);
  }
  /* planes that the direct path splits into several row tiles (more phase-plane
   * floats than its budget), stride 1 and 2, with strips crossing row ends */
  for (int rep = 0; rep < 2; rep++) {
    f32_case c = f32_base();
    c.in_h = c.in_w = rep ? 70 : 48;
    c.in_c = rep ? 24 : 40;
    c.out_c = rep ? 9 : 16;
    c.kh = c.kw = 3;
    c.sh = c.sw = rep ? 2 : 1;
    c.pt = c.pl = c.pb = c.pr = 1;
    test_f32_case(&c);
  }
  static const uint32_t groups[] = {2, 3, 4, 8};
  for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++)
    for (int rep = 0; rep < 6; rep++) {
      f32_case c = f32_base();
      c.groups = groups[gi];
      c.in_c = groups[gi] * (1 + rnd(9));
      c.out_c = groups[gi] * (1 + rnd(20));
      c.kh = c.kw = rep % 2 ? 3 : 1;
      c.sh = c.sw = 1 + rnd(2);
      c.in_h = 3 + rnd(6);
      c.in_w = 3 + rnd(20);
      c.pt = c.pb = c.pl = c.pr = c.kh / 2;
      if (rep == 4) c.pb = 0; /* asymmetric */
      if (rnd(3) == 0) c.batch = 2;
      test_f32_case(&c);
    }
}

static void test_f32_depthwise_shapes(void) {
  static const uint32_t chans[] = {1, 3, 8, 17, 33};
  static const uint32_t kernels[][2] = {{3, 3}, {5, 5}, {3, 3}, {5, 5}, {2, 2}, {3, 1}, {7, 7}, {1, 1}};
  for (size_t ki = 0; ki < sizeof kernels / sizeof kernels[0]; ki++)
    for (uint32_t st = 1; st <= 3; st++)
      for (size_t ci = 0; ci < sizeof chans / sizeof chans[0]; ci++) {
        f32_case c = f32_base();
        c.kh = kernels[ki][0];
        c.kw = kernels[ki][1];
        c.sh = c.sw = st;
        if (st == 3) c.sw = 1 + rnd(2); /* unequal strides */
        if (ki == 2 || ki == 3) c.dh = c.dw = 2;
        c.in_h = c.kh + rnd(8);
        c.in_w = c.kw + rnd(70); /* output rows around every vector width */
        if (rnd(2)) c.in_w += 48 * st; /* wide rows at every stride: the row-by-row path */
        c.pt = c.pb = c.kh / 2;
        c.pl = c.pr = c.kw / 2;
        if (rnd(3) == 0) { c.pt = rnd(c.kh); c.pr = rnd(c.kw); } /* asymmetric */
        c.in_c = c.out_c = c.groups = chans[ci];
        if (rnd(4) == 0) c.batch = 2;
        test_f32_case(&c);
      }
  /* the network's depthwise family: 3x3 and 5x5, stride 1 and 2, its paddings */
  for (int rep = 0; rep < 8; rep++) {
    f32_case c = f32_base();
    c.kh = c.kw = rep % 2 ? 5 : 3;
    c.sh = c.sw = 1 + (uint32_t)(rep / 2 % 2);
    c.in_h = c.in_w = rep < 4 ? 14 : 28 + rnd(9);
    c.pt = c.pl = c.sh == 1 ? c.kh / 2 : c.kh / 2 - 1;
    c.pb = c.pr = c.kh / 2;
    c.in_c = c.out_c = c.groups = 5 + rnd(12);
    test_f32_case(&c);
  }
  /* channel multiplier 2 (the GEMM path with groups) */
  for (int rep = 0; rep < 6; rep++) {
    f32_case c = f32_base();
    c.in_c = c.groups = 1 + rnd(20);
    c.out_c = 2 * c.in_c;
    c.kh = c.kw = 3;
    c.sh = c.sw = 1 + rnd(2);
    c.in_h = c.in_w = 4 + rnd(5);
    c.pt = c.pb = c.pl = c.pr = 1;
    test_f32_case(&c);
  }
}

static void test_f32_random(int count) {
  for (int i = 0; i < count; i++) {
    f32_case c = f32_base();
    const int kind = (int)rnd(3); /* 0 gemm, 1 general, 2 depthwise */
    c.kh = kind == 0 ? 1 : 1 + rnd(5);
    c.kw = kind == 0 ? 1 : 1 + rnd(5);
    if (kind) {
      c.sh = 1 + rnd(3);
      c.sw = 1 + rnd(3);
      c.dh = 1 + rnd(2);
      c.dw = 1 + rnd(2);
      c.pt = rnd(c.kh);
      c.pb = rnd(c.kh);
      c.pl = rnd(c.kw);
      c.pr = rnd(c.kw);
    }
    c.in_h = 1 + rnd(7) + (c.kh - 1) * c.dh;
    c.in_w = 1 + rnd(40) + (c.kw - 1) * c.dw;
    c.batch = 1 + rnd(2);
    if (kind == 2) {
      c.in_c = c.out_c = c.groups = 1 + rnd(40);
    } else {
      c.groups = rnd(4) == 0 ? 1 + rnd(3) : 1;
      c.in_c = c.groups * (1 + rnd(kind == 0 ? 140 : 40));
      c.out_c = c.groups * (1 + rnd(70));
    }
    test_f32_case(&c);
  }
}

/* dyd_f32_gemm: C = A B or A B^T with row strides above the minimum; C's padding
 * columns must survive. */
static void test_f32_gemm_api(void) {
  static const uint32_t sizes[] = {1, 2, 3, 5, 8, 9, 16, 17, 31, 33, 64, 65, 127, 129, 200};
  for (int rep = 0; rep < 120; rep++) {
    const size_t m = sizes[rnd(15)], n = sizes[rnd(15)], k = rep % 10 == 9 ? 0 : sizes[rnd(15)] + (rep % 7 == 0 ? 300 : 0);
    const int trans = (int)rnd(2), exact = rnd(4) == 0;
    const size_t lda = k + rnd(3), ldb = (trans ? k : n) + rnd(3), ldc = n + rnd(3);
    const size_t brows = trans ? n : k;
    float *a = f32_array(m * lda, exact), *b = f32_array(brows * ldb, exact);
    double *want = malloc((m * n + 1) * sizeof *want);
    float *wantf = malloc((m * n + 1) * sizeof *wantf), *absf = malloc((m * n + 1) * sizeof *absf);
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < n; j++) {
        double s = 0, sa = 0;
        for (size_t p = 0; p < k; p++) {
          const double t = (double)a[i * lda + p] * (trans ? b[j * ldb + p] : b[p * ldb + j]);
          s += t;
          sa += fabs(t);
        }
        wantf[i * n + j] = (float)s;
        absf[i * n + j] = (float)sa;
      }
    guarded cg = galloc(m * ldc * sizeof(float));
    float *c = (float *)(void *)cg.p;
    float *got = malloc((m * n + 1) * sizeof *got);
    for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
      if (!isa_available(all_isas[i])) continue;
      for (size_t j = 0; j < m * ldc; j++) c[j] = -7.0f; /* padding columns stay -7 */
      dyd_f32_gemm_for_isa(all_isas[i], m, n, k, a, lda, b, ldb, trans, c, ldc);
      size_t pad_bad = 0;
      for (size_t r = 0; r < m; r++) {
        for (size_t j = 0; j < n; j++) got[r * n + j] = c[r * ldc + j];
        for (size_t j = n; j < ldc; j++) pad_bad += c[r * ldc + j] != -7.0f;
      }
      char what[200];
      snprintf(what, sizeof what, "f32 gemm %zux%zux%zu%s lda %zu ldb %zu ldc %zu%s [%s] %s", m, n, k,
               trans ? " B^T" : "", lda, ldb, ldc, exact ? " exact" : "", dyd_isa_name(all_isas[i]),
               dyd_f32_gemm_kernel_name(all_isas[i]));
      check_f32(what, got, wantf, absf, m * n, (double)k + 1, exact);
      check(pad_bad == 0, "%s: wrote %zu floats between rows", what, pad_bad);
    }
    gfree(cg);
    free(a), free(b), free(want), free(wantf), free(absf), free(got);
  }
}

/* ---- dyd_f32gemm: the packed-B GEMM operator ------------------------------------------- */

/* The oracle: y[i][j] = act(sum_p a[i][p] b[p][j] + bias[j]) in double, rounded once;
 * absref[i][j] = sum_p |a[i][p] b[p][j]| + |bias[j]|, the scale of the error bound. */
static void ref_f32gemm(size_t m, const float *a, size_t lda, const dyd_f32gemm_desc *d, float *want,
                        float *absref) {
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < d->n; j++) {
      double s = d->bias ? d->bias[j] : 0.0, sa = d->bias ? fabs((double)d->bias[j]) : 0.0;
      for (size_t p = 0; p < d->k; p++) {
        const double t = (double)a[i * lda + p] * d->b[p * d->n + j];
        s += t;
        sa += fabs(t);
      }
      if (d->activation == DYD_F32_ACT_CLAMP) s = fmin(fmax(s, (double)d->activation_min), (double)d->activation_max);
      if (d->activation == DYD_F32_ACT_SILU) s = s / (1.0 + exp(-s));
      want[i * d->n + j] = (float)s;
      absref[i * d->n + j] = (float)sa;
    }
}

/* Random shapes around the transformer sizes and the tile edges, row strides above
 * the minimum (the floats between rows of Y must survive), A and Y ending at a guard
 * page, bias or none, every activation; tiles run one at a time in reverse order
 * with a NaN-filled workspace at an odd address. */
static void test_f32gemm_op(void) {
  static const size_t ms[] = {1, 3, 11, 22, 64, 130};
  static const size_t ks[] = {1, 7, 384, 1000};
  static const size_t ns[] = {1, 5, 33, 384, 1536};
  size_t ni = 0;
  for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
      const size_t m = ms[mi], k = ks[ki];
      size_t n = ns[ni++ % (sizeof ns / sizeof ns[0])];
      while (m * k * n > 12000000) n = n == 1536 ? 384 : 33; /* keep the oracle short */
      f32_case c = f32_base(); /* bias, exactness and activation drawn as for the conv */
      const size_t lda = k + (rnd(2) ? rnd(5) : 0), ldy = n + (rnd(2) ? rnd(5) : 0);
      const size_t a_len = (m - 1) * lda + k, y_len = (m - 1) * ldy + n;
      float *b = f32_array(k * n, c.exact), *bias = f32_array(n, c.exact);
      guarded ag = galloc(a_len * sizeof(float)), yg = galloc(y_len * sizeof(float));
      float *a = (float *)(void *)ag.p, *y = (float *)(void *)yg.p;
      for (size_t i = 0; i < a_len; i++) a[i] = f32_value(c.exact);
      const dyd_f32gemm_desc d = {k, n, b, c.no_bias ? NULL : bias, c.act, c.act_min, c.act_max, 0, 0};
      float *want = malloc(m * n * sizeof *want), *absref = malloc(m * n * sizeof *absref);
      float *got = malloc(m * n * sizeof *got);
      ref_f32gemm(m, a, lda, &d, want, absref);
      char act[64] = "";
      if (c.act == DYD_F32_ACT_CLAMP) snprintf(act, sizeof act, " clamp[%g,%g]", (double)c.act_min, (double)c.act_max);
      if (c.act == DYD_F32_ACT_SILU) snprintf(act, sizeof act, " silu");
      for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++) {
        if (!isa_available(all_isas[i])) continue;
        char err[256] = "", what[400];
        dyd_f32gemm_op *op = dyd_f32gemm_create_for_isa(&d, all_isas[i], err, sizeof err);
        snprintf(what, sizeof what, "f32gemm m%zu k%zu n%zu lda %zu ldy %zu%s%s%s [%s] %s", m, k, n, lda, ldy,
                 c.no_bias ? " no-bias" : "", c.exact ? " exact" : "", act, dyd_isa_name(all_isas[i]),
                 op ? dyd_f32gemm_kernel_name(op) : "none");
        if (op == NULL) {
          check(false, "%s: create failed: %s", what, err);
          continue;
        }
        check(strncmp(dyd_f32gemm_kernel_name(op), "dyd_f32_gemm_ukernel_", 21) == 0, "%s: kernel name", what);
        const size_t tiles = dyd_f32gemm_tile_count(op, m), ws_size = dyd_f32gemm_workspace_size(op, m);
        check(tiles > 0 && dyd_f32gemm_tile_count(op, 0) == 0, "%s: %zu tiles", what, tiles);
        guarded wg = galloc(ws_size + 1);
        memset(wg.p, 0xFF, ws_size + 1); /* NaN: stale workspace must never leak into outputs */
        for (size_t j = 0; j < y_len; j++) y[j] = -7.0f; /* padding columns stay -7, outputs are overwritten */
        for (size_t t = tiles; t-- > 0;) dyd_f32gemm_run(op, m, a, lda, y, ldy, t, 1, wg.p + 1);
        size_t pad_bad = 0;
        for (size_t r = 0; r < m; r++) {
          for (size_t j = 0; j < n; j++) got[r * n + j] = y[r * ldy + j];
          for (size_t j = n; j < ldy && r + 1 < m; j++) pad_bad += y[r * ldy + j] != -7.0f;
        }
        check_f32_act(what, got, want, absref, m * n, (double)k + 1, c.exact, c.act);
        check(pad_bad == 0, "%s: wrote %zu floats between rows", what, pad_bad);
        /* all tiles in one call (the packed rows shared between tiles) give the same floats */
        for (size_t j = 0; j < y_len; j++) y[j] = NAN;
        dyd_f32gemm_run(op, m, a, lda, y, ldy, 0, tiles, wg.p + 1);
        size_t diff = 0;
        for (size_t r = 0; r < m; r++)
          for (size_t j = 0; j < n; j++) diff += memcmp(&got[r * n + j], &y[r * ldy + j], sizeof(float)) != 0;
        check(diff == 0, "%s: %zu outputs differ between one call and tile by tile", what, diff);
        gfree(wg);
        dyd_f32gemm_destroy(op);
      }
      gfree(ag), gfree(yg);
      free(b), free(bias), free(want), free(absref), free(got);
    }
  /* validation: one-line reasons */
  float b1[4] = {0};
  const dyd_f32gemm_desc good = {2, 2, b1, NULL, DYD_F32_ACT_NONE, 0, 0, 0, 0};
  struct { dyd_f32gemm_desc d; const char *what; } bad[6];
  for (int i = 0; i < 6; i++) bad[i].d = good;
  bad[0].d.k = 0, bad[0].what = "k = 0";
  bad[1].d.n = 0, bad[1].what = "n = 0";
  bad[2].d.b = NULL, bad[2].what = "no B";
  bad[3].d.activation = (dyd_f32_activation)5, bad[3].what = "unknown activation";
  bad[4].d.activation = DYD_F32_ACT_CLAMP, bad[4].d.activation_min = 1, bad[4].what = "clamp min above max";
  bad[5].d.activation = DYD_F32_ACT_CLAMP, bad[5].d.activation_max = NAN, bad[5].what = "NaN clamp bound";
  char err[256];
  dyd_f32gemm_op *op = dyd_f32gemm_create(&good, err, sizeof err);
  check(op != NULL, "f32gemm valid descriptor rejected: %s", err);
  dyd_f32gemm_destroy(op);
  for (int i = 0; i < 6; i++) {
    err[0] = '\0';
    op = dyd_f32gemm_create(&bad[i].d, err, sizeof err);
    check(op == NULL && err[0] != '\0' && strchr(err, '\n') == NULL, "f32gemm create accepted %s", bad[i].what);
    dyd_f32gemm_destroy(op);
  }
}

/* The oracle against a second formulation (padded input, another loop order), and
 * descriptor validation. */
static void test_f32_oracle_and_validation(void) {
  for (int rep = 0; rep < 30; rep++) {
    f32_case c = f32_base();
    c.kh = 1 + rnd(4), c.kw = 1 + rnd(4), c.sh = 1 + rnd(3), c.sw = 1 + rnd(3);
    c.dh = 1 + rnd(2), c.dw = 1 + rnd(2);
    c.pt = rnd(c.kh), c.pb = rnd(c.kh), c.pl = rnd(c.kw), c.pr = rnd(c.kw);
    c.in_h = 1 + rnd(6) + (c.kh - 1) * c.dh;
    c.in_w = 1 + rnd(6) + (c.kw - 1) * c.dw;
    c.groups = 1 + rnd(3);
    c.in_c = c.groups * (1 + rnd(4));
    c.out_c = c.groups * (1 + rnd(4));
    c.batch = 1 + rnd(2);
    c.exact = 1; /* integer values: both formulations are exact */
    const uint32_t oh = out_dim(c.in_h, c.kh, c.sh, c.dh, c.pt, c.pb), ow = out_dim(c.in_w, c.kw, c.sw, c.dw, c.pl, c.pr);
    if (!oh || !ow) continue;
    const size_t icpg = c.in_c / c.groups, ocpg = c.out_c / c.groups, k = icpg * c.kh * c.kw;
    const size_t nin = (size_t)c.batch * c.in_c * c.in_h * c.in_w, nout = (size_t)c.batch * c.out_c * oh * ow;
    float *x = f32_array(nin, 1), *w = f32_array(c.out_c * k, 1), *bias = f32_array(c.out_c, 1);
    dyd_f32conv_desc d = {{c.batch, c.in_h, c.in_w, c.in_c, oh, ow, c.out_c, c.kh, c.kw, c.sh, c.sw, c.dh, c.dw,
                           c.pt, c.pl, c.groups, 0, 0}, w, c.no_bias ? NULL : bias, DYD_F32_ACT_NONE, 0, 0, 0, 0};
    float *got = malloc(nout * sizeof *got), *want = malloc(nout * sizeof *want);
    dyd_ref_f32conv(&d, x, got);
    const uint32_t ph = c.in_h + c.pt + c.pb + c.sh * c.kh * c.dh, pw = c.in_w + c.pl + c.pr + c.sw * c.kw * c.dw;
    double *pad = calloc((size_t)c.batch * c.in_c * ph * pw, sizeof *pad);
    for (size_t n = 0; n < c.batch; n++)
      for (size_t ch = 0; ch < c.in_c; ch++)
        for (size_t iy = 0; iy < c.in_h; iy++)
          for (size_t ix = 0; ix < c.in_w; ix++)
            pad[((n * c.in_c + ch) * ph + iy + c.pt) * pw + ix + c.pl] = x[((n * c.in_c + ch) * c.in_h + iy) * c.in_w + ix];
    for (size_t n = 0; n < c.batch; n++)
      for (size_t oc = 0; oc < c.out_c; oc++)
        for (size_t oy = 0; oy < oh; oy++)
          for (size_t ox = 0; ox < ow; ox++) {
            double acc = 0;
            for (size_t kx = 0; kx < c.kw; kx++)
              for (size_t ky = 0; ky < c.kh; ky++)
                for (size_t ic = 0; ic < icpg; ic++)
                  acc += pad[((n * c.in_c + (oc / ocpg) * icpg + ic) * ph + oy * c.sh + ky * c.dh) * pw + ox * c.sw + kx * c.dw] *
                         w[((oc * icpg + ic) * c.kh + ky) * c.kw + kx];
            want[((n * c.out_c + oc) * oh + oy) * ow + ox] = (float)(acc + (c.no_bias ? 0.0 : bias[oc]));
          }
    char desc[200];
    describe_f32(&c, desc, sizeof desc);
    check(memcmp(got, want, nout * sizeof *got) == 0, "oracle %s differs from the padded formulation", desc);
    free(x), free(w), free(bias), free(got), free(want), free(pad);
  }
  float w[2 * 3 * 3 * 3] = {0};
  const dyd_f32conv_desc good = {{1, 8, 8, 4, 8, 8, 2, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0, 0}, w, NULL,
                                 DYD_F32_ACT_NONE, 0, 0, 0, 0};
  char err[256];
  dyd_f32conv_op *op = dyd_f32conv_create(&good, err, sizeof err);
  check(op != NULL && dyd_f32conv_tile_count(op) > 0, "f32 valid descriptor rejected: %s", err);
  dyd_f32conv_destroy(op);
  struct { dyd_f32conv_desc d; const char *what; } bad[11];
  for (int i = 0; i < 11; i++) bad[i].d = good;
  bad[0].d.geometry.in_c = 0, bad[0].what = "zero channels";
  bad[1].d.geometry.groups = 3, bad[1].what = "groups not dividing channels";
  bad[2].d.geometry.out_h = 11, bad[2].what = "output too tall";
  bad[3].d.geometry.out_w = 5, bad[3].what = "output too narrow";
  bad[4].d.geometry.stride_w = 0, bad[4].what = "zero stride";
  bad[5].d.geometry.dilation_h = 0, bad[5].what = "zero dilation";
  bad[6].d.weights = NULL, bad[6].what = "missing weights";
  bad[7].d.geometry.groups = 0, bad[7].what = "zero groups";
  bad[8].d.activation = (dyd_f32_activation)5, bad[8].what = "unknown activation";
  bad[9].d.activation = DYD_F32_ACT_CLAMP, bad[9].d.activation_min = 1, bad[9].d.activation_max = 0,
  bad[9].what = "clamp min above max";
  bad[10].d.activation = DYD_F32_ACT_CLAMP, bad[10].d.activation_min = NAN, bad[10].d.activation_max = 0,
  bad[10].what = "NaN clamp bound";
  for (int i = 0; i < 11; i++) {
    err[0] = '\0';
    op = dyd_f32conv_create(&bad[i].d, err, sizeof err);
    check(op == NULL && err[0] != '\0', "f32 create accepted %s", bad[i].what);
    dyd_f32conv_destroy(op);
  }
}

/* ---- integer GEMM with a float output (dynamic quantization) ----------------------------- */

typedef struct {
  size_t m, k, n, lda, ldy;
  int32_t za;
  int zb_mode;  /* 0: NULL, 1: all zero, 2: random, 3: all 127 (extreme), 4: all -128 */
  int a_mode;   /* 0: random, 1: all 255, 2: all 0 */
  int b_mode;   /* 0: random, 1: all -128, 2: all 127 */
  int bias;
} qg_case;

static void describe_qg(const qg_case *c, char *buf, size_t len) {
  snprintf(buf, len, "qgemm m %zu k %zu n %zu lda %zu ldy %zu za %d zb %d a %d b %d%s", c->m, c->k, c->n, c->lda,
           c->ldy, (int)c->za, c->zb_mode, c->a_mode, c->b_mode, c->bias ? " bias" : "");
}

/* runs the op's tiles for m rows as random chunks in random order (reverse = 1: one
 * tile per call, last first); out = 0 int32, 1 float32 */
static void run_qg_tiles(const dyd_qgemm_op *op, const qg_case *c, const uint8_t *a, const float *scale,
                         const float *bias, void *y, int out, int reverse) {
  const size_t tiles = dyd_qgemm_tile_count(op, c->m), ws_size = dyd_qgemm_workspace_size(op, c->m);
  guarded ws = galloc(ws_size); /* ends at a page: any alignment */
  memset(ws.p, 0xFF, ws_size);
  size_t t = 0;
  while (t < tiles) {
    size_t n = reverse ? 1 : 1 + rnd((uint32_t)(tiles < 3 ? 1 : tiles / 2));
    if (n > tiles - t) n = tiles - t;
    const size_t start = reverse ? tiles - t - n : t;
    if (out) dyd_qgemm_run_f32(op, c->m, a, c->lda, c->za, scale, bias, y, c->ldy, start, n, ws.p);
    else dyd_qgemm_run_s32(op, c->m, a, c->lda, c->za, y, c->ldy, start, n, ws.p);
    t += n;
  }
  gfree(ws);
}

static void test_qgemm_case(const qg_case *c) {
  char what[200];
  describe_qg(c, what, sizeof what);
  const size_t m = c->m, k = c->k, n = c->n;
  guarded ag = galloc(m * c->lda); /* the last row ends at a page: reads past k fault */
  uint8_t *a = ag.p;
  int8_t *b = malloc(k * n);
  int32_t *zb = malloc(n * sizeof *zb), *want_s = malloc(m * n * sizeof *want_s);
  float *scale = malloc(n * sizeof *scale), *bias = malloc(n * sizeof *bias), *want_f = malloc(m * n * sizeof *want_f);
  fill_random(a, m * c->lda);
  for (size_t i = 0; i < m; i++)
    for (size_t p = 0; p < k; p++)
      if (c->a_mode) a[i * c->lda + p] = c->a_mode == 1 ? 255 : 0;
  for (size_t i = 0; i < k * n; i++) b[i] = c->b_mode == 0 ? (int8_t)rnd64() : c->b_mode == 1 ? -128 : 127;
  for (size_t j = 0; j < n; j++) {
    zb[j] = c->zb_mode == 2 ? rnd_range(-128, 127) : c->zb_mode == 3 ? 127 : c->zb_mode == 4 ? -128 : 0;
    /* scales of the size dynamic quantization gives (and a few negative, one zero) */
    scale[j] = (float)((double)(1 + rnd(1u << 20)) * 0x1p-30) * (rnd(8) == 0 ? -1.0f : 1.0f);
    if (rnd(50) == 0) scale[j] = 0.0f;
    bias[j] = (float)rnd_range(-(1 << 20), 1 << 20) * 0x1p-18f;
  }
  /* the reference: int64 sums (which must fit int32), then one float multiply and one add */
  bool fits = true;
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < n; j++) {
      int64_t s = 0;
      for (size_t p = 0; p < k; p++) s += (int64_t)(a[i * c->lda + p] - c->za) * (b[p * n + j] - zb[j]);
      fits &= s >= INT32_MIN && s <= INT32_MAX;
      want_s[i * n + j] = (int32_t)s;
      volatile float prod = (float)(int32_t)s * scale[j]; /* rounded here: no fused multiply-add */
      want_f[i * n + j] = c->bias ? prod + bias[j] : prod;
    }
  check(fits, "%s: reference sum outside int32", what);
  const dyd_qgemm_desc d = {k, n, b, c->zb_mode ? zb : NULL};
  guarded yg = galloc(m * c->ldy * sizeof(float));
  for (size_t r = 0; r < sizeof all_isas / sizeof all_isas[0]; r++) {
    if (!isa_available(all_isas[r])) continue;
    char err[200] = "";
    dyd_qgemm_op *op = dyd_qgemm_create_for_isa(&d, all_isas[r], err, sizeof err);
    check(op != NULL, "%s [%s]: create failed: %s", what, dyd_isa_name(all_isas[r]), err);
    if (op == NULL) continue;
    const char *name = dyd_qgemm_kernel_name(op);
    check(dyd_qgemm_tile_count(op, 0) == 0 && (m == 0 || dyd_qgemm_tile_count(op, m) > 0), "%s %s: tile count",
          what, name);
    for (int pass = 0; pass < 4; pass++) { /* float random chunks, float one tile at a time in reverse, int32 x2 */
      const int out = pass < 2, reverse = pass % 2;
      memset(yg.p, 0x5A, m * c->ldy * sizeof(float)); /* columns past n must keep it */
      run_qg_tiles(op, c, a, scale, c->bias ? bias : NULL, yg.p, out, reverse);
      size_t bad = 0, pad_bad = 0, first = 0;
      for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
          const void *got = yg.p + (i * c->ldy + j) * 4;
          const void *want = out ? (const void *)&want_f[i * n + j] : (const void *)&want_s[i * n + j];
          if (memcmp(got, want, 4) != 0 && bad++ == 0) first = i * n + j;
        }
        for (size_t j = n; j < c->ldy; j++) pad_bad += yg.p[(i * c->ldy + j) * 4] != 0x5A;
      }
      if (bad) {
        const size_t i = first / n, j = first % n;
        float gf;
        int32_t gs;
        memcpy(&gf, yg.p + (i * c->ldy + j) * 4, 4);
        memcpy(&gs, yg.p + (i * c->ldy + j) * 4, 4);
        check(false, "%s %s %s%s: %zu wrong, first [%zu][%zu] got %.9g / %d want %.9g / %d", what, name,
              out ? "f32" : "s32", reverse ? " reverse tiles" : "", bad, i, j, (double)gf, (int)gs,
              (double)want_f[first], (int)want_s[first]);
      } else {
        check(true, "%s", what);
      }
      check(pad_bad == 0, "%s %s: wrote %zu bytes between rows", what, name, pad_bad);
    }
    dyd_qgemm_destroy(op);
  }
  gfree(yg), gfree(ag);
  free(b), free(zb), free(want_s), free(scale), free(bias), free(want_f);
}

static void test_qgemm(void) {
  static const size_t ms[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 16, 22, 33, 64, 65, 71, 128, 130};
  static const size_t ks[] = {1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 33, 64, 100, 384, 385, 771};
  static const size_t ns[] = {1, 3, 4, 8, 15, 16, 17, 24, 31, 32, 33, 47, 64, 65, 100, 384};
  const size_t nm = sizeof ms / sizeof ms[0], nk = sizeof ks / sizeof ks[0], nn = sizeof ns / sizeof ns[0];
  for (int rep = 0; rep < 70; rep++) {
    qg_case c = {ms[rnd((uint32_t)nm)], ks[rnd((uint32_t)nk)], ns[rnd((uint32_t)nn)], 0, 0, 0, 0, 0, 0, 0};
    if (rep < 6) c.m = 1; /* batch-1 rows: the one-row kernels */
    c.lda = c.k + (rnd(2) ? rnd(9) : 0);
    c.ldy = c.n + (rnd(2) ? rnd(9) : 0);
    c.za = rnd(4) == 0 ? 0 : rnd_range(0, 255);
    c.zb_mode = (int)rnd(3);
    c.bias = (int)rnd(2);
    test_qgemm_case(&c);
  }
  /* the extreme sums, at the largest k create accepts (2^31 / (255 * 256) = 32896) */
  static const struct { int a, b, zb; int32_t za; } ext[] = {
      {1, 1, 0, 0},    /* 255 * -128 per product: the hardware dot's worst case */
      {1, 1, 3, 0},    /* 255 * (-128 - 127): the largest |acc| */
      {2, 2, 4, 255},  /* (0 - 255) * (127 + 128) */
      {1, 2, 4, 0},    /* 255 * 255 */
  };
  for (size_t e = 0; e < sizeof ext / sizeof ext[0]; e++) {
    qg_case c = {3 + e, 32896 - e, 17 + 16 * e, 0, 0, ext[e].za, ext[e].zb, ext[e].a, ext[e].b, (int)(e % 2)};
    c.lda = c.k + e, c.ldy = c.n + 1;
    test_qgemm_case(&c);
  }
}

static void qg_expect_reject(const dyd_qgemm_desc *d, const char *what) {
  char err[200] = "";
  dyd_qgemm_op *op = dyd_qgemm_create(d, err, sizeof err);
  check(op == NULL && err[0] != '\0' && strchr(err, '\n') == NULL, "qgemm create accepted %s", what);
  dyd_qgemm_destroy(op);
}

static void test_qgemm_validation(void) {
  int8_t b[64] = {0};
  int32_t zb[8] = {0};
  qg_expect_reject(&(dyd_qgemm_desc){0, 8, b, NULL}, "k = 0");
  qg_expect_reject(&(dyd_qgemm_desc){8, 0, b, NULL}, "n = 0");
  qg_expect_reject(&(dyd_qgemm_desc){8, 8, NULL, NULL}, "b NULL");
  qg_expect_reject(&(dyd_qgemm_desc){32897, 8, b, NULL}, "k = 32897");
  zb[5] = 128;
  qg_expect_reject(&(dyd_qgemm_desc){8, 8, b, zb}, "b_zero_point 128");
  zb[5] = -129;
  qg_expect_reject(&(dyd_qgemm_desc){8, 8, b, zb}, "b_zero_point -129");
  qg_expect_reject(NULL, "no descriptor");
  zb[5] = -128;
  dyd_qgemm_op *op = dyd_qgemm_create(&(dyd_qgemm_desc){8, 8, b, zb}, NULL, 0);
  check(op != NULL && dyd_qgemm_packed_size(op) >= 64, "qgemm create rejected a valid descriptor");
  dyd_qgemm_destroy(op);
}

/* ---- dispatch ---------------------------------------------------------------------------------- */

static void test_dispatch(void) {
  const dyd_isa detected = dyd_detected_isa(), active = dyd_active_isa();
  check(isa_available(detected), "detected ISA %s is not available to itself", dyd_isa_name(detected));
  check(isa_available(active), "active ISA %s not available", dyd_isa_name(active));
  check(dyd_isa_supported((dyd_isa)99) == detected, "unknown ISA value not capped");
  check(isa_available(DYD_ISA_SCALAR), "scalar always available");
  check(strcmp(dyd_isa_name((dyd_isa)99), "unknown") == 0, "name of unknown ISA");
}

/* ---- the registry ------------------------------------------------------------------------ */

/* Every row is selectable at its own level wherever the CPU runs it. */
static void test_registry_rows(void) {
  for (int f = 0; f < DYD_FAMILY_COUNT; f++) {
    const size_t n = dyd_registry_row_count((dyd_family)f);
    check(n > 0, "family %s has no rows", dyd_family_name((dyd_family)f));
    const dyd_kernel_row last = dyd_registry_row((dyd_family)f, n - 1);
    check(last.needs == 0 && last.level == DYD_ISA_SCALAR, "family %s does not end with a scalar row",
          dyd_family_name((dyd_family)f));
    for (size_t i = 0; i < n; i++) {
      const dyd_kernel_row r = dyd_registry_row((dyd_family)f, i);
      if (!dyd_registry_runnable((dyd_family)f, i) || dyd_isa_supported(r.level) != r.level) continue;
      check((r.needs & ~dyd_isa_features(r.level)) == 0, "row %s needs features outside its level %s", r.name,
            dyd_isa_name(r.level));
    }
  }
}

/* The tests that exercise each family's rows. */
static void run_family_tests(dyd_family f) {
  static const uint32_t widths[] = {8, 7, 4, 3, 2};
  switch (f) {
    case DYD_FAMILY_GEMM:
      for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        test_conv_gemm_shapes(widths[i]);
        test_conv_general_shapes(widths[i]);
        test_conv_preshift(widths[i]);
      }
      test_conv_random(100);
      break;
    case DYD_FAMILY_DWCONV:
      for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) test_conv_depthwise_shapes(widths[i]);
      break;
    case DYD_FAMILY_MISC:
      test_binary();
      test_lut();
      test_pooling();
      break;
    case DYD_FAMILY_FP8:
      test_fp8conv();
      test_fp8_elementwise();
      break;
    case DYD_FAMILY_F32:
      test_f32_activation_accuracy();
      test_f32_gemm_shapes();
      test_f32_general_shapes();
      test_f32_depthwise_shapes();
      test_f32_random(50);
      test_f32_gemm_api();
      test_f32gemm_op();
      break;
    case DYD_FAMILY_QGEMM:
      test_qgemm();
      break;
    default: break;
  }
}

/* A row that selection never reached on this CPU (e.g. the plain AVX2 GEMM where
 * AVX-VNNI is present) is forced and its family's tests run again; afterwards every
 * row the CPU runs must have been chosen. */
static void test_every_row_exercised(void) {
  for (int f = 0; f < DYD_FAMILY_COUNT; f++) {
    for (size_t i = 0; i < dyd_registry_row_count((dyd_family)f); i++) {
      if (!dyd_registry_runnable((dyd_family)f, i) || dyd_registry_hits((dyd_family)f, i) > 0) continue;
      printf("forcing %s row %s\n", dyd_family_name((dyd_family)f), dyd_registry_row((dyd_family)f, i).name);
      dyd_registry_force((dyd_family)f, (long)i);
      run_family_tests((dyd_family)f);
      dyd_registry_force((dyd_family)f, -1);
    }
    for (size_t i = 0; i < dyd_registry_row_count((dyd_family)f); i++) {
      const dyd_kernel_row r = dyd_registry_row((dyd_family)f, i);
      if (!dyd_registry_runnable((dyd_family)f, i)) continue;
      check(dyd_registry_hits((dyd_family)f, i) > 0, "row %s of %s was never exercised", r.name,
            dyd_family_name((dyd_family)f));
      if (verbose) printf("  %s/%s: chosen %lu times\n", dyd_family_name((dyd_family)f), r.name,
                          dyd_registry_hits((dyd_family)f, i));
    }
  }
}

int main(int argc, char **argv) {
  uint64_t seed = 0x5eed;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0) verbose = 1;
    else seed = strtoull(argv[i], NULL, 0);
  }
  rng_state = seed;
  printf("detected %s, active %s, seed %llu; testing:", dyd_isa_name(dyd_detected_isa()),
         dyd_isa_name(dyd_active_isa()), (unsigned long long)seed);
  for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++)
    if (isa_available(all_isas[i])) printf(" %s", dyd_isa_name(all_isas[i]));
  printf("; fp8 kernels:");
  for (size_t i = 0; i < sizeof all_isas / sizeof all_isas[0]; i++)
    for (size_t v = 0; v < dyd_fp8conv_variant_count(all_isas[i]); v++) {
      static const int8_t w1[2] = {0, 0};
      static const uint8_t t1[16];
      static const float one = 1;
      const dyd_fp8conv_desc d1 = {{1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 2, 1}, 1, w1, 0, t1,
                                   &one, NULL, -INFINITY, INFINITY, 0, 1};
      dyd_fp8conv_op *op = dyd_fp8conv_create_variant(&d1, all_isas[i], v, NULL, 0);
      if (op) printf(" %s", strrchr(dyd_fp8conv_kernel_name(op), '_') + 1);
      dyd_fp8conv_destroy(op);
    }
  printf("\n");
  fflush(stdout);
  test_dispatch();
  test_requant_oracle();
  test_requantize_array();
  test_softmax_rows();
  test_conv_oracle();
  test_conv_validation();
  static const uint32_t widths[] = {8, 7, 4, 3, 2};
  for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
    test_conv_gemm_shapes(widths[i]);
    test_conv_general_shapes(widths[i]);
    test_conv_depthwise_shapes(widths[i]);
    test_conv_preshift(widths[i]);
  }
  test_conv_random(300);
  test_binary();
  test_lut();
  test_pooling();
  test_fp8();
  test_fp8_quantize_input();
  test_fp8_vector_encode();
  test_fp8conv_validation();
  test_fp8conv();
  test_fp8_elementwise();
  test_f32_oracle_and_validation();
  test_f32_activation_accuracy();
  test_f32_gemm_shapes();
  test_f32_general_shapes();
  test_f32_depthwise_shapes();
  test_f32_random(200);
  test_f32_gemm_api();
  test_qgemm_validation();
  test_qgemm();
  test_f32gemm_op();
  test_registry_rows();
  test_every_row_exercised();
  printf("%lu passed, %lu failed\n", passed, failed);
  return failed ? 1 : 0;
}

#endif /* !SWIFT_PACKAGE */
