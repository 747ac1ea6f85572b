/*
 * Portable FP8 kernels: the always-available bundle and the twin of every SIMD
 * one (same packed format, same signatures). Compute format float32.
 */
#include "../common.h"

#define MR 4
#define NR 2

static void convert_f32(const uint8_t *codes, size_t n, void *dst) {
  float *d = dst;
  for (size_t i = 0; i < n; i++) d[i] = dyd_fp8_e4m3_to_f32(codes[i]);
}

static void decode_table(const uint8_t *tab, float t[16]) {
  for (int i = 0; i < 16; i++) t[i] = dyd_fp8_e4m3_to_f32(tab[i]);
}

static void gemm_4x2(size_t mr, size_t nc, size_t kb, const void *a, size_t a_stride,
                     const uint8_t *w, const uint8_t *const *tables, const uint16_t *block_table,
                     const float *scale, const float *bias, void *c, size_t c_stride,
                     const dyd_f8_out *p) {
  float acc[MR][NR] = {{0}};
  float t[NR][16];
  int cur[NR] = {-1, -1};
  for (size_t b = 0; b < kb; b++) {
    const int ti = block_table ? block_table[b] : 0;
    for (size_t j = 0; j < NR; j++) {
      if (ti != cur[j]) decode_table(tables[j] + 16 * (size_t)ti, t[j]), cur[j] = ti;
      const uint8_t *wb = w + (b * NR + j) * 16;
      for (size_t i = 0; i < 16; i++) {
        const float lo = t[j][wb[i] & 15], hi = t[j][wb[i] >> 4];
        for (size_t r = 0; r < mr; r++) {
          const float *ar = (const float *)((const uint8_t *)a + r * a_stride) + b * DYD_F8_KB;
          acc[r][j] += ar[i] * lo;
          acc[r][j] += ar[i + 16] * hi;
        }
      }
    }
  }
  for (size_t r = 0; r < mr; r++)
    for (size_t j = 0; j < nc; j++)
      dyd_f8_store_scalar(acc[r][j], scale[j], bias[j], p, (uint8_t *)c + r * c_stride, j);
}

static void dw_scalar(size_t pixels, size_t channels, size_t kh, size_t kw, const void *in,
                      size_t in_row, size_t in_col, size_t in_step, const float *w, size_t cb,
                      const float *scale, const float *bias, void *out, size_t out_step,
                      const dyd_f8_out *p) {
  for (size_t i = 0; i < pixels; i++) {
    const uint8_t *px = (const uint8_t *)in + i * in_step;
    for (size_t ch = 0; ch < channels; ch++) {
      float acc = 0.0f;
      for (size_t ky = 0; ky < kh; ky++)
        for (size_t kx = 0; kx < kw; kx++)
          acc += ((const float *)(px + ky * in_row + kx * in_col))[ch] * w[(ky * kw + kx) * cb + ch];
      dyd_f8_store_scalar(acc, scale[ch], bias[ch], p, (uint8_t *)out + i * out_step, ch);
    }
  }
}

/* max then min as the SIMD instructions compute them: the bound wins ties, so -0 against
 * a bound of +0 gives +0, as in every kernel */
static float clampf(float v, float lo, float hi) {
  const float t = v > lo ? v : lo;
  return t < hi ? t : hi;
}

void dyd_f8_add_scalar(const dyd_fp8_add_params *p, const uint8_t *a, size_t a_inc,
                       const uint8_t *b, size_t b_inc, uint8_t *y, size_t n);
void dyd_f8_gavg_scalar(const dyd_fp8_avgpool_params *p, const uint8_t *x, uint8_t *y);

void dyd_f8_add_scalar(const dyd_fp8_add_params *p, const uint8_t *a, size_t a_inc,
                       const uint8_t *b, size_t b_inc, uint8_t *y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float ta = dyd_fp8_e4m3_to_f32(a[i * a_inc]) * p->a_scale;
    float tb = dyd_fp8_e4m3_to_f32(b[i * b_inc]) * p->b_scale;
    DYD_FP_BARRIER(ta);
    DYD_FP_BARRIER(tb);
    const float v = clampf(ta + tb, p->out_min, p->out_max);
    y[i] = dyd_f8_encode_sat(v / p->y_scale);
  }
}

void dyd_f8_gavg_scalar(const dyd_fp8_avgpool_params *p, const uint8_t *x, uint8_t *y) {
  for (size_t n = 0; n < p->batch; n++)
    for (size_t ch = 0; ch < p->channels; ch++) {
      float sum = 0.0f;
      for (size_t i = 0; i < p->pixels; i++)
        sum += dyd_fp8_e4m3_to_f32(x[(n * p->pixels + i) * p->in_pixel_stride + ch]);
      float m = sum / (float)p->pixels;
      DYD_FP_BARRIER(m);
      m *= p->input_scale;
      DYD_FP_BARRIER(m);
      y[n * p->channels + ch] = dyd_f8_encode_sat(m / p->output_scale);
    }
}

const dyd_f8_bundle dyd_f8_bundle_scalar = {
    .isa_suffix = "scalar",
    .mr = MR, .nr = NR, .a_bytes = 4, .convert = convert_f32, .gemm = gemm_4x2,
    .dw_cb = 8, .dw_in_bytes = 4, .dw_w_mult = 1.0f, .dw_convert = convert_f32, .dw = dw_scalar,
    .add = dyd_f8_add_scalar, .gavg = dyd_f8_gavg_scalar,
    .add_name = "dyd_qf8_vadd_fp32_ukernel__scalar",
    .gavg_name = "dyd_qf8_gavgpool_fp32_ukernel__scalar"};
