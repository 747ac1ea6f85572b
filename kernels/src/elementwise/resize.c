/*
 * Separable linear/cubic resize of 8-bit codes over the two spatial axes of
 * [outer][h][w][inner] (NHWC: outer = N, inner = C; NCHW: outer = N*C, inner = 1), in
 * integers: each axis' taps carry integer weights, the two sums are exact in wrapping
 * int32, and one rounding shift ends them. Integer addition is associative, so the
 * result equals the axis-by-axis definition whatever the order; here each output row
 * first sums its input rows into a row buffer (the h pass), then each output pixel sums
 * that buffer's pixels (the w pass), so nothing larger than a row is held.
 *
 * Upsampling (out_h >= in_h, at most RESIZE_SLOTS taps per output row) goes the other
 * way round: each input row is resized along w once into a slot of out_w * inner sums
 * (rows are kept while the output rows still read them), and an output row combines
 * two to four slots element by element. The w pass then runs on in_h rows instead of
 * out_h, and the per-pixel work is a contiguous, vectorisable loop: a 10x10 map
 * upsampled to 320x320 (U-Net side outputs) does 10 w passes instead of 320.
 *
 * Kernel names: dyd_x8_resize_2d__scalar, dyd_x8_resize_2d__avx2 (the same loops
 * compiled for AVX2: the baseline x86-64 has no 32-bit vector multiply).
 */
#include "../common.h"

#define RESIZE_BODY                                                                                          \
  const size_t row_len = in_w * inner;                                                                      \
  const int32_t lo = is_signed ? -128 : 0, hi = is_signed ? 127 : 255;                                       \
  const uint32_t half = shift == 0 ? 0u : 1u << (shift - 1);                                                 \
  for (size_t o = 0; o < outer; o++) {                                                                       \
    const uint8_t *xo = x + o * in_h * row_len;                                                              \
    uint8_t *yo = y + o * out_h * out_w * inner;                                                              \
    for (size_t j = 0; j < out_h; j++) {                                                                     \
      for (size_t i = 0; i < row_len; i++) row[i] = 0;                                                       \
      for (uint32_t k = h->start[j]; k < h->start[j + 1]; k++) {                                            \
        const int32_t wt = h->weight[k];                                                                     \
        const uint8_t *src = xo + (size_t)h->index[k] * row_len;                                             \
        if (is_signed)                                                                                       \
          for (size_t i = 0; i < row_len; i++) row[i] += wt * (int32_t)(int8_t)src[i];                      \
        else                                                                                                 \
          for (size_t i = 0; i < row_len; i++) row[i] += wt * (int32_t)src[i];                               \
      }                                                                                                      \
      uint8_t *dst = yo + j * out_w * inner;                                                                 \
      for (size_t jj = 0; jj < out_w; jj++, dst += inner) {                                                  \
        for (size_t c = 0; c < inner; c++) acc[c] = 0;                                                       \
        for (uint32_t k = w->start[jj]; k < w->start[jj + 1]; k++) {                                        \
          const int32_t wt = w->weight[k];                                                                   \
          const int32_t *src = row + (size_t)w->index[k] * inner;                                            \
          for (size_t c = 0; c < inner; c++) acc[c] = (int32_t)((uint32_t)acc[c] + (uint32_t)wt * (uint32_t)src[c]); \
        }                                                                                                    \
        for (size_t c = 0; c < inner; c++) {                                                                 \
          const int32_t v = (int32_t)((uint32_t)acc[c] + half) >> shift;                                     \
          dst[c] = (uint8_t)(v < lo ? lo : (v > hi ? hi : v));                                               \
        }                                                                                                    \
      }                                                                                                      \
    }                                                                                                        \
  }

#define RESIZE_SLOTS 4

/* One input row resized along w into `out` (out_w * inner wrapping int32 sums). */
#define RESIZE_W_ROW(src, out)                                                                                \
  for (size_t jj = 0; jj < out_w; jj++) {                                                                     \
    int32_t *o_ = (out) + jj * inner;                                                                         \
    for (size_t c = 0; c < inner; c++) o_[c] = 0;                                                             \
    for (uint32_t k = w->start[jj]; k < w->start[jj + 1]; k++) {                                              \
      const uint32_t wt = (uint32_t)w->weight[k];                                                             \
      const uint8_t *s_ = (src) + (size_t)w->index[k] * inner;                                                \
      if (is_signed)                                                                                          \
        for (size_t c = 0; c < inner; c++) o_[c] = (int32_t)((uint32_t)o_[c] + wt * (uint32_t)(int32_t)(int8_t)s_[c]); \
      else                                                                                                    \
        for (size_t c = 0; c < inner; c++) o_[c] = (int32_t)((uint32_t)o_[c] + wt * (uint32_t)s_[c]);          \
    }                                                                                                         \
  }

#define RESIZE_ROWS_FIRST_BODY                                                                               \
  const size_t in_len = in_w * inner, out_len = out_w * inner;                                               \
  const int32_t lo = is_signed ? -128 : 0, hi = is_signed ? 127 : 255;                                       \
  const uint32_t half = shift == 0 ? 0u : 1u << (shift - 1);                                                 \
  for (size_t o = 0; o < outer; o++) {                                                                       \
    const uint8_t *xo = x + o * in_h * in_len;                                                               \
    uint8_t *yo = y + o * out_h * out_len;                                                                   \
    int64_t tag[RESIZE_SLOTS];                                                                               \
    for (int s = 0; s < RESIZE_SLOTS; s++) tag[s] = -1;                                                      \
    for (size_t j = 0; j < out_h; j++) {                                                                     \
      const uint32_t k0 = h->start[j], n = h->start[j + 1] - k0;                                            \
      const int32_t *src[RESIZE_SLOTS];                                                                      \
      uint32_t wt[RESIZE_SLOTS];                                                                             \
      for (uint32_t t = 0; t < n; t++) {                                                                     \
        const uint32_t r = h->index[k0 + t];                                                                 \
        int s = 0;                                                                                           \
        while (s < RESIZE_SLOTS && tag[s] != (int64_t)r) s++;                                                \
        if (s == RESIZE_SLOTS) { /* a slot that this output row does not read */                            \
          for (s = 0; s < RESIZE_SLOTS; s++) {                                                               \
            bool used = false;                                                                               \
            for (uint32_t u = 0; u < n; u++) used = used || tag[s] == (int64_t)h->index[k0 + u];            \
            if (!used) break;                                                                                \
          }                                                                                                  \
          RESIZE_W_ROW(xo + (size_t)r * in_len, slots + (size_t)s * out_len)                                 \
          tag[s] = r;                                                                                        \
        }                                                                                                    \
        src[t] = slots + (size_t)s * out_len;                                                                \
        wt[t] = (uint32_t)h->weight[k0 + t];                                                                 \
      }                                                                                                      \
      uint8_t *dst = yo + j * out_len;                                                                       \
      if (n == 2) {                                                                                          \
        const int32_t *s0 = src[0], *s1 = src[1];                                                            \
        const uint32_t w0 = wt[0], w1 = wt[1];                                                               \
        for (size_t i = 0; i < out_len; i++) {                                                               \
          const int32_t v = (int32_t)(w0 * (uint32_t)s0[i] + w1 * (uint32_t)s1[i] + half) >> shift;         \
          dst[i] = (uint8_t)(v < lo ? lo : (v > hi ? hi : v));                                               \
        }                                                                                                    \
      } else {                                                                                               \
        for (size_t i = 0; i < out_len; i++) {                                                               \
          uint32_t a = half;                                                                                 \
          for (uint32_t t = 0; t < n; t++) a += wt[t] * (uint32_t)src[t][i];                                 \
          const int32_t v = (int32_t)a >> shift;                                                             \
          dst[i] = (uint8_t)(v < lo ? lo : (v > hi ? hi : v));                                               \
        }                                                                                                    \
      }                                                                                                      \
    }                                                                                                        \
  }

#define RESIZE_ROWS_FIRST_ARGS                                                                               \
  const uint8_t *x, uint8_t *y, int is_signed, size_t outer, size_t in_h, size_t in_w, size_t inner,         \
      size_t out_h, size_t out_w, const dyd_resize_taps *h, const dyd_resize_taps *w, uint32_t shift,         \
      int32_t *slots

static void resize_rows_first_scalar(RESIZE_ROWS_FIRST_ARGS) { RESIZE_ROWS_FIRST_BODY }

#define RESIZE_ARGS                                                                                          \
  const uint8_t *x, uint8_t *y, int is_signed, size_t outer, size_t in_h, size_t in_w, size_t inner,         \
      size_t out_h, size_t out_w, const dyd_resize_taps *h, const dyd_resize_taps *w, uint32_t shift,         \
      int32_t *row, int32_t *acc

static void resize_scalar(RESIZE_ARGS) { RESIZE_BODY }

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void resize_avx2(RESIZE_ARGS) { RESIZE_BODY }
__attribute__((target("avx2"))) static void resize_rows_first_avx2(RESIZE_ROWS_FIRST_ARGS) {
  RESIZE_ROWS_FIRST_BODY
}
#endif

/* Whether the rows-first order applies: upsampling along h (or none), few taps per row. */
static bool rows_first(size_t in_h, size_t out_h, const dyd_resize_taps *h) {
  if (out_h < in_h) return false;
  for (size_t j = 0; j < out_h; j++)
    if (h->start[j + 1] - h->start[j] > RESIZE_SLOTS) return false;
  return true;
}

const char *dyd_resize_x8_2d_kernel_name(void) {
#if defined(__x86_64__)
  if (dyd_active_isa() >= DYD_ISA_AVX2) return "dyd_x8_resize_2d__avx2";
#endif
  return "dyd_x8_resize_2d__scalar";
}

size_t dyd_resize_x8_2d_workspace_size(size_t in_w, size_t out_w, size_t inner) {
  return DYD_MAX(in_w * inner + inner, RESIZE_SLOTS * out_w * inner) * sizeof(int32_t);
}

void dyd_resize_x8_2d(const uint8_t *x, uint8_t *y, int is_signed, size_t outer, size_t in_h, size_t in_w,
                      size_t inner, size_t out_h, size_t out_w, const dyd_resize_taps *h, const dyd_resize_taps *w,
                      uint32_t shift, void *workspace) {
  if (rows_first(in_h, out_h, h)) {
#if defined(__x86_64__)
    if (dyd_active_isa() >= DYD_ISA_AVX2) {
      resize_rows_first_avx2(x, y, is_signed, outer, in_h, in_w, inner, out_h, out_w, h, w, shift, workspace);
      return;
    }
#endif
    resize_rows_first_scalar(x, y, is_signed, outer, in_h, in_w, inner, out_h, out_w, h, w, shift, workspace);
    return;
  }
  int32_t *row = workspace, *acc = row + in_w * inner;
#if defined(__x86_64__)
  if (dyd_active_isa() >= DYD_ISA_AVX2) {
    resize_avx2(x, y, is_signed, outer, in_h, in_w, inner, out_h, out_w, h, w, shift, row, acc);
    return;
  }
#endif
  resize_scalar(x, y, is_signed, outer, in_h, in_w, inner, out_h, out_w, h, w, shift, row, acc);
}

/*
 * The same separable resize on float32 with float weights, in the order the
 * axis-by-axis definition adds (the h axis' taps into a zeroed row, in tap order,
 * then the w axis' taps into a zeroed pixel), with no fused multiply-adds, so each
 * output equals the definition's bit for bit on every ISA.
 *
 * Kernel names: dyd_f32_resize_2d__scalar, dyd_f32_resize_2d__avx2, dyd_f32_resize_2d__avx512
 * (the same loops compiled for wider vectors; they vectorise along the row and along
 * `inner`).
 */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define F32_RESIZE_BODY                                                                                      \
  const size_t row_len = in_w * inner;                                                                      \
  int two_taps = 1;                                                                                          \
  for (size_t jj = 0; jj <= out_w; jj++) two_taps &= w->start[jj] == 2 * jj;                                 \
  for (size_t o = 0; o < outer; o++) {                                                                       \
    const float *xo = x + o * in_h * row_len;                                                                \
    float *yo = y + o * out_h * out_w * inner;                                                                \
    for (size_t j = 0; j < out_h; j++) {                                                                     \
      for (size_t i = 0; i < row_len; i++) row[i] = 0.0f;                                                    \
      for (uint32_t k = h->start[j]; k < h->start[j + 1]; k++) {                                            \
        const float wt = h->weight[k];                                                                       \
        const float *restrict src = xo + (size_t)h->index[k] * row_len;                                      \
        for (size_t i = 0; i < row_len; i++) row[i] += wt * src[i];                                          \
      }                                                                                                      \
      float *dst = yo + j * out_w * inner;                                                                   \
      if (inner == 1 && two_taps) {                                                                          \
        /* Linear taps (two per output, in order): a loop without an inner one, so it \
         * vectorises with gathers. */                                                                       \
        const uint32_t *restrict wi = w->index;                                                              \
        const float *restrict wv = w->weight;                                                                \
        for (size_t jj = 0; jj < out_w; jj++) {                                                              \
          float acc = 0.0f;                                                                                  \
          acc += wv[2 * jj] * row[wi[2 * jj]];                                                               \
          acc += wv[2 * jj + 1] * row[wi[2 * jj + 1]];                                                       \
          dst[jj] = acc;                                                                                     \
        }                                                                                                    \
        continue;                                                                                            \
      }                                                                                                      \
      if (inner == 1) {                                                                                      \
        for (size_t jj = 0; jj < out_w; jj++) {                                                              \
          float acc = 0.0f;                                                                                  \
          for (uint32_t k = w->start[jj]; k < w->start[jj + 1]; k++) acc += w->weight[k] * row[w->index[k]]; \
          dst[jj] = acc;                                                                                     \
        }                                                                                                    \
        continue;                                                                                            \
      }                                                                                                      \
      for (size_t jj = 0; jj < out_w; jj++, dst += inner) {                                                  \
        for (size_t c = 0; c < inner; c++) dst[c] = 0.0f;                                                    \
        for (uint32_t k = w->start[jj]; k < w->start[jj + 1]; k++) {                                        \
          const float wt = w->weight[k];                                                                     \
          const float *restrict src = row + (size_t)w->index[k] * inner;                                     \
          for (size_t c = 0; c < inner; c++) dst[c] += wt * src[c];                                          \
        }                                                                                                    \
      }                                                                                                      \
    }                                                                                                        \
  }

#define F32_RESIZE_ARGS                                                                                      \
  const float *x, float *y, size_t outer, size_t in_h, size_t in_w, size_t inner, size_t out_h, size_t out_w, \
      const dyd_resize_taps_f32 *h, const dyd_resize_taps_f32 *w, float *restrict row

static void f32_resize_scalar(F32_RESIZE_ARGS) { F32_RESIZE_BODY }

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void f32_resize_avx2(F32_RESIZE_ARGS) { F32_RESIZE_BODY }
__attribute__((target("avx512f"))) static void f32_resize_avx512(F32_RESIZE_ARGS) { F32_RESIZE_BODY }
#endif

const char *dyd_resize_f32_2d_kernel_name(void) {
#if defined(__x86_64__)
  if (dyd_active_isa() >= DYD_ISA_AVX512VNNI) return "dyd_f32_resize_2d__avx512";
  if (dyd_active_isa() >= DYD_ISA_AVX2) return "dyd_f32_resize_2d__avx2";
#endif
  return "dyd_f32_resize_2d__scalar";
}

size_t dyd_resize_f32_2d_workspace_size(size_t in_w, size_t inner) { return in_w * inner * sizeof(float); }

void dyd_resize_f32_2d(const float *x, float *y, size_t outer, size_t in_h, size_t in_w, size_t inner, size_t out_h,
                       size_t out_w, const dyd_resize_taps_f32 *h, const dyd_resize_taps_f32 *w, void *workspace) {
  float *row = workspace;
#if defined(__x86_64__)
  if (dyd_active_isa() >= DYD_ISA_AVX512VNNI) {
    f32_resize_avx512(x, y, outer, in_h, in_w, inner, out_h, out_w, h, w, row);
    return;
  }
  if (dyd_active_isa() >= DYD_ISA_AVX2) {
    f32_resize_avx2(x, y, outer, in_h, in_w, inner, out_h, out_w, h, w, row);
    return;
  }
#endif
  f32_resize_scalar(x, y, outer, in_h, in_w, inner, out_h, out_w, h, w, row);
}
