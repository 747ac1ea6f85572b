/*
 * FP8 oracles. The conv accumulates in double straight from the description
 * (no packing, no K' layout); products of E4M3 values are multiples of 2^-18
 * below 2^18, so the double sum is exact for K <= 2^17 and the only roundings
 * are the epilogue's (double) and the final one (to float32, or from the double
 * quotient straight to E4M3, never through float32, which could round twice).
 */
#include "dyadic_kernels.h"

#include <math.h>

uint8_t dyd_ref_fp8_e4m3_from_f64(double x) {
  if (x != x) return signbit(x) ? 0xFF : 0x7F;
  const uint8_t sign = signbit(x) ? 0x80 : 0;
  const double a = fabs(x);
  if (a > 464.0) return sign | 0x7E; /* 464 is the tie between 448 and the NaN slot */
  /* grid spacing: 2^(e - 3) for normals (a >= 2^-6, e = floor(log2 a)), 2^-9 below */
  int e;
  frexp(a, &e); /* a = f * 2^e, f in [0.5, 1): floor(log2 a) = e - 1 */
  const int step = a >= 0x1p-6 ? (e - 1) - 3 : -9;
  const double units = ldexp(a, -step); /* exact */
  /* ties to even, spelled out rather than left to the rounding mode */
  const double fl = floor(units), frac = units - fl;
  const double r = frac > 0.5 || (frac == 0.5 && fmod(fl, 2.0) != 0) ? fl + 1 : fl;
  const double v = ldexp(r, step);
  /* encode the exact E4M3 value v */
  if (v == 0) return sign;
  if (v < 0x1p-6) return sign | (uint8_t)(v * 512.0);
  int ev;
  const double f = frexp(v, &ev); /* v = f * 2^ev, f in [0.5, 1) */
  const int mant = (int)((f * 2.0 - 1.0) * 8.0);
  return sign | (uint8_t)(((ev - 1 + 7) << 3) | mant);
}

void dyd_ref_fp8conv(const dyd_fp8conv_desc *d, const uint8_t *input, void *output) {
  const dyd_conv_geometry *g = &d->geometry;
  const size_t icpg = g->in_c / g->groups, ocpg = g->out_c / g->groups;
  const size_t taps = (size_t)g->kernel_h * g->kernel_w, k = taps * icpg;
  const size_t ngroups = d->group_size ? (icpg + d->group_size - 1) / d->group_size : 1;
  const size_t tables_per_oc = d->group_size ? taps * ngroups : 1;
  for (size_t n = 0; n < g->batch; n++)
    for (size_t oy = 0; oy < g->out_h; oy++)
      for (size_t ox = 0; ox < g->out_w; ox++)
        for (size_t oc = 0; oc < g->out_c; oc++) {
          const size_t grp = oc / ocpg;
          double acc = 0;
          for (size_t ky = 0; ky < g->kernel_h; ky++)
            for (size_t kx = 0; kx < g->kernel_w; kx++) {
              const long iy = (long)(oy * g->stride_h + ky * g->dilation_h) - (long)g->pad_top;
              const long ix = (long)(ox * g->stride_w + kx * g->dilation_w) - (long)g->pad_left;
              if (iy < 0 || iy >= (long)g->in_h || ix < 0 || ix >= (long)g->in_w) continue;
              const uint8_t *px =
                  input + ((n * g->in_h + (size_t)iy) * g->in_w + (size_t)ix) * g->in_pixel_stride +
                  grp * icpg;
              const size_t t = ky * g->kernel_w + kx;
              for (size_t ic = 0; ic < icpg; ic++) {
                const int q = d->weights[oc * k + t * icpg + ic];
                const size_t ti = d->group_size ? t * ngroups + ic / d->group_size : 0;
                const uint8_t wc = d->tables[(oc * tables_per_oc + ti) * 16 + (size_t)(q + 8)];
                acc += (double)dyd_fp8_e4m3_to_f32(px[ic]) * (double)dyd_fp8_e4m3_to_f32(wc);
              }
            }
          double v = acc * ((double)d->input_scale * (double)d->channel_scale[oc]) +
                     (d->bias ? (double)d->bias[oc] : 0.0);
          if (v < d->out_min) v = d->out_min;
          if (v > d->out_max) v = d->out_max;
          const size_t o = ((n * g->out_h + oy) * g->out_w + ox) * g->out_pixel_stride + oc;
          if (d->output_fp8) {
            ((uint8_t *)output)[o] = dyd_ref_fp8_e4m3_from_f64(v / (double)d->output_scale);
          } else {
            ((float *)output)[o] = (float)v;
          }
        }
}

/* The float32 formulas of the header, one operation per statement; `volatile`
 * keeps the compiler from contracting a multiply and an add into an FMA. */
void dyd_ref_fp8_add(const dyd_fp8_add_params *p, const uint8_t *a, size_t a_inc,
                     const uint8_t *b, size_t b_inc, uint8_t *y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    volatile float ta = dyd_fp8_e4m3_to_f32(a[i * a_inc]) * p->a_scale;
    volatile float tb = dyd_fp8_e4m3_to_f32(b[i * b_inc]) * p->b_scale;
    float v = ta + tb;
    if (!(v > p->out_min)) v = p->out_min; /* the bound wins ties: -0 against +0 gives +0 */
    if (!(v < p->out_max)) v = p->out_max;
    y[i] = dyd_fp8_e4m3_from_f32(v / p->y_scale, 1);
  }
}

void dyd_ref_fp8_global_avgpool(const dyd_fp8_avgpool_params *p, const uint8_t *x, uint8_t *y) {
  for (size_t n = 0; n < p->batch; n++)
    for (size_t c = 0; c < p->channels; c++) {
      float sum = 0.0f;
      for (size_t i = 0; i < p->pixels; i++)
        sum += dyd_fp8_e4m3_to_f32(x[(n * p->pixels + i) * p->in_pixel_stride + c]);
      volatile float mean = sum / (float)p->pixels;
      volatile float v = mean * p->input_scale;
      y[n * p->channels + c] = dyd_fp8_e4m3_from_f32(v / p->output_scale, 1);
    }
}
