/*
 * Reference convolution: the definition of the conv family (GEMM, general
 * conv, depthwise) as nested loops straight from dyd_conv_desc, with no packing
 * and no zero-point folding. Accumulation is in int64 so that the oracle itself
 * can never wrap; create() guarantees the true value fits int32.
 */
#include "dyadic_kernels.h"

static int32_t load_act(const void *base, size_t index, int is_signed) {
  return is_signed ? (int32_t)((const int8_t *)base)[index]
                   : (int32_t)((const uint8_t *)base)[index];
}

static int32_t requant_channel(const dyd_requant *rq, size_t c, int64_t acc) {
  size_t i = rq->per_channel ? c : 0;
  if (rq->kind == DYD_REQUANT_DYADIC) {
    return dyd_requantize_dyadic(acc, rq->multiplier[i], rq->shift[i], rq->zero_point,
                                 rq->qmin, rq->qmax);
  }
  return dyd_requantize_fp32((int32_t)acc, rq->scale[i], rq->zero_point, rq->qmin, rq->qmax);
}

void dyd_ref_conv(const dyd_conv_desc *desc, const void *input, void *output) {
  const dyd_conv_geometry *g = &desc->geometry;
  const size_t icpg = g->in_c / g->groups, ocpg = g->out_c / g->groups;
  const int32_t zx = desc->input_zero_point;
  for (size_t n = 0; n < g->batch; n++)
    for (size_t oy = 0; oy < g->out_h; oy++)
      for (size_t ox = 0; ox < g->out_w; ox++)
        for (size_t oc = 0; oc < g->out_c; oc++) {
          const size_t grp = oc / ocpg;
          int64_t acc = desc->bias ? desc->bias[oc] : 0;
          for (size_t ky = 0; ky < g->kernel_h; ky++)
            for (size_t kx = 0; kx < g->kernel_w; kx++) {
              const int64_t iy = (int64_t)(oy * g->stride_h + ky * g->dilation_h) - g->pad_top;
              const int64_t ix = (int64_t)(ox * g->stride_w + kx * g->dilation_w) - g->pad_left;
              const int inside = iy >= 0 && iy < (int64_t)g->in_h && ix >= 0 && ix < (int64_t)g->in_w;
              for (size_t ic = 0; ic < icpg; ic++) {
                int32_t x = zx; /* padding holds a real zero */
                if (inside) {
                  size_t pixel = (n * g->in_h + (size_t)iy) * g->in_w + (size_t)ix;
                  x = load_act(input, pixel * g->in_pixel_stride + grp * icpg + ic,
                               desc->input_signed);
                }
                const int32_t w =
                    desc->weights[((oc * g->kernel_h + ky) * g->kernel_w + kx) * icpg + ic];
                acc += (int64_t)(x - zx) * w;
              }
            }
          /* int32 accumulation wraps modulo 2^32 (see the overflow check in conv-op.c). */
          const int32_t y = requant_channel(&desc->requant, oc, (int32_t)(uint32_t)(uint64_t)acc);
          const size_t o = ((n * g->out_h + oy) * g->out_w + ox) * g->out_pixel_stride + oc;
          if (desc->output_signed) ((int8_t *)output)[o] = (int8_t)y;
          else ((uint8_t *)output)[o] = (uint8_t)y;
        }
}
