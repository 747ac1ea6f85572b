/*
 * Reference float32 convolution: the definition (ONNX Conv, NCHW, OIHW weights)
 * as nested loops, summed in double from the bias, the activation applied in
 * double, rounded to float once, so that it is more accurate than any kernel it
 * judges.
 */
#include "dyadic_kernels.h"

#include <math.h>

/* The activation on the exact-as-double sum, before the one rounding to float. */
static double activate(const dyd_f32conv_desc *d, double v) {
  switch (d->activation) {
    case DYD_F32_ACT_CLAMP: return fmin(fmax(v, (double)d->activation_min), (double)d->activation_max);
    case DYD_F32_ACT_SILU: return v / (1.0 + exp(-v));
    case DYD_F32_ACT_LEAKY_CLAMP:
      return fmin(fmax(v >= 0 ? v : v * d->activation_alpha, (double)d->activation_min), (double)d->activation_max);
    case DYD_F32_ACT_HARDSWISH: return v * fmax(0.0, fmin(1.0, d->activation_alpha * v + d->activation_beta));
    default: return v;
  }
}

void dyd_ref_f32conv(const dyd_f32conv_desc *desc, const float *input, float *output) {
  const dyd_conv_geometry *g = &desc->geometry;
  const size_t icpg = g->in_c / g->groups, ocpg = g->out_c / g->groups;
  const size_t kh = g->kernel_h, kw = g->kernel_w;
  for (size_t n = 0; n < g->batch; n++)
    for (size_t oc = 0; oc < g->out_c; oc++) {
      const size_t grp = oc / ocpg;
      const float *w = desc->weights + oc * icpg * kh * kw;
      for (size_t oy = 0; oy < g->out_h; oy++)
        for (size_t ox = 0; ox < g->out_w; ox++) {
          double acc = desc->bias ? (double)desc->bias[oc] : 0.0;
          for (size_t ic = 0; ic < icpg; ic++) {
            const float *x = input + ((n * g->in_c) + grp * icpg + ic) * g->in_h * g->in_w;
            for (size_t ky = 0; ky < kh; ky++) {
              const int64_t iy = (int64_t)(oy * g->stride_h + ky * g->dilation_h) - g->pad_top;
              if (iy < 0 || iy >= (int64_t)g->in_h) continue;
              for (size_t kx = 0; kx < kw; kx++) {
                const int64_t ix = (int64_t)(ox * g->stride_w + kx * g->dilation_w) - g->pad_left;
                if (ix < 0 || ix >= (int64_t)g->in_w) continue;
                acc += (double)x[iy * g->in_w + ix] * (double)w[(ic * kh + ky) * kw + kx];
              }
            }
          }
          output[((n * g->out_c + oc) * g->out_h + oy) * g->out_w + ox] = (float)activate(desc, acc);
        }
    }
}
