/*
 * Reference average and max pooling over NHWC windows, straight from the
 * descriptors. Average pooling sums (x - z_x) over valid taps and picks the
 * requantization of the position's divisor; max pooling skips padded taps.
 */
#include "dyadic_kernels.h"

static int32_t load_act(const void *base, size_t index, int is_signed) {
  return is_signed ? (int32_t)((const int8_t *)base)[index]
                   : (int32_t)((const uint8_t *)base)[index];
}

static void store_act(void *base, size_t index, int is_signed, int32_t v) {
  if (is_signed) ((int8_t *)base)[index] = (int8_t)v;
  else ((uint8_t *)base)[index] = (uint8_t)v;
}

/* Whether tap (ky, kx) of output pixel (oy, ox) lies inside the input; sets iy/ix. */
static int tap_inside(const dyd_conv_geometry *g, size_t oy, size_t ox, size_t ky, size_t kx,
                      size_t dh, size_t dw, size_t *iy, size_t *ix) {
  const int64_t y = (int64_t)(oy * g->stride_h + ky * dh) - g->pad_top;
  const int64_t x = (int64_t)(ox * g->stride_w + kx * dw) - g->pad_left;
  if (y < 0 || y >= (int64_t)g->in_h || x < 0 || x >= (int64_t)g->in_w) return 0;
  *iy = (size_t)y;
  *ix = (size_t)x;
  return 1;
}

void dyd_ref_avgpool(const dyd_avgpool_desc *desc, const void *input, void *output) {
  const dyd_conv_geometry *g = &desc->geometry;
  const size_t window = (size_t)g->kernel_h * g->kernel_w;
  for (size_t n = 0; n < g->batch; n++)
    for (size_t oy = 0; oy < g->out_h; oy++)
      for (size_t ox = 0; ox < g->out_w; ox++)
        for (size_t c = 0; c < g->in_c; c++) {
          int64_t acc = 0;
          size_t valid = 0;
          for (size_t ky = 0; ky < g->kernel_h; ky++)
            for (size_t kx = 0; kx < g->kernel_w; kx++) {
              size_t iy, ix;
              if (!tap_inside(g, oy, ox, ky, kx, 1, 1, &iy, &ix)) continue;
              size_t pixel = (n * g->in_h + iy) * g->in_w + ix;
              acc += load_act(input, pixel * g->in_pixel_stride + c, desc->input_signed) -
                     desc->input_zero_point;
              valid++;
            }
          const size_t count = desc->count_include_pad ? window : valid;
          const dyd_requant *rq = &desc->requant_by_count[count - 1];
          int32_t y = rq->kind == DYD_REQUANT_DYADIC
                          ? dyd_requantize_dyadic(acc, rq->multiplier[0], rq->shift[0],
                                                  rq->zero_point, rq->qmin, rq->qmax)
                          : dyd_requantize_fp32((int32_t)acc, rq->scale[0], rq->zero_point,
                                                rq->qmin, rq->qmax);
          store_act(output, ((n * g->out_h + oy) * g->out_w + ox) * g->out_pixel_stride + c,
                    desc->output_signed, y);
        }
}

void dyd_ref_maxpool(const dyd_maxpool_desc *desc, const void *input, void *output) {
  const dyd_conv_geometry *g = &desc->geometry;
  const size_t dh = g->dilation_h ? g->dilation_h : 1, dw = g->dilation_w ? g->dilation_w : 1;
  for (size_t n = 0; n < g->batch; n++)
    for (size_t oy = 0; oy < g->out_h; oy++)
      for (size_t ox = 0; ox < g->out_w; ox++)
        for (size_t c = 0; c < g->in_c; c++) {
          int32_t best = INT32_MIN;
          for (size_t ky = 0; ky < g->kernel_h; ky++)
            for (size_t kx = 0; kx < g->kernel_w; kx++) {
              size_t iy, ix;
              if (!tap_inside(g, oy, ox, ky, kx, dh, dw, &iy, &ix)) continue;
              size_t pixel = (n * g->in_h + iy) * g->in_w + ix;
              int32_t v = load_act(input, pixel * g->in_pixel_stride + c, desc->is_signed);
              if (v > best) best = v;
            }
          store_act(output, ((n * g->out_h + oy) * g->out_w + ox) * g->out_pixel_stride + c,
                    desc->is_signed, best);
        }
}
