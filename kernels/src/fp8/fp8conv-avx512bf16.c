/*
 * FP8 GEMM for AVX-512 BF16: VDPBF16PS multiplies pairs of bfloat16 and adds both
 * products to a float32 lane. Every E4M3 value is exact in bfloat16 and the
 * product of two is exact in float32, so only the additions round, as in the
 * FMA kernels, with twice the products per instruction.
 *
 * 8x4c32: a block's 16 weight bytes of columns j and j + 1 sit side by side, so one
 * VPMOVZXBW gives 32 words; the low nibble plus 16 for the second column (one
 * VPTERNLOG) indexes a 32-word table holding both columns' decoded tables, and
 * VPERMW decodes 32 weights; a shift by 4 does the high nibbles. Each row's 16
 * activations of a half block are broadcast to both 256-bit halves, so one
 * accumulator covers two columns (lanes 0-7 and 8-15 hold their partial sums).
 * Per block: 6 decode instructions and 8 broadcasts for 32 VDPBF16PS. Ops with fewer
 * than DYD_F8_PAIR_MIN_M rows (a batch-1 fully connected layer: each weight is used
 * once, so decoding in registers is the cheapest) run it with exactly their rows;
 * with one or two rows the low and high halves of a block go to separate
 * accumulators, so the VDPBF16PS latency chains are one instruction per block.
 *
 * Ops with more rows use the pair layout's 8x32c2 FP32 kernel of fp8conv-avx512.c:
 * measured on the development machine, VDPBF16PS zmm (32 products) issues about
 * once per 1.0 ns where VFMADD231PS zmm (16 products) issues once per 0.25 ns, so FMA
 * gives twice the products once the weights are decoded outside the inner loop.
 */
#if defined(__x86_64__)

#include "fp8-x86.h"

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")))
#define INLINE DYD_F8_INLINE
#define MR 8
#define NR 4

TARGET static void convert_bf16(const uint8_t *codes, size_t n, void *dst) {
  uint16_t *d = dst;
  for (; n >= 32; n -= 32, codes += 32, d += 32) {
    const __m512 lo = dyd_f8_decode16_avx512(_mm_loadu_si128((const __m128i *)codes));
    const __m512 hi = dyd_f8_decode16_avx512(_mm_loadu_si128((const __m128i *)(codes + 16)));
    _mm512_storeu_si512(d, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
  }
  for (; n; ) {
    const size_t k = DYD_MIN(n, (size_t)16);
    const __mmask16 m = (__mmask16)(k == 16 ? 0xFFFF : (1u << k) - 1);
    const __m256bh h = _mm512_cvtneps_pbh(dyd_f8_decode16_avx512(_mm_maskz_loadu_epi8(m, codes)));
    _mm256_mask_storeu_epi16(d, m, (__m256i)h);
    n -= k, codes += k, d += k;
  }
}

/* the decoded tables of two columns as 32 bfloat16 words */
TARGET INLINE __m512i table_pair(const uint8_t *t0, const uint8_t *t1) {
  const __m512 f0 = dyd_f8_decode16_avx512(_mm_loadu_si128((const __m128i *)t0));
  const __m512 f1 = dyd_f8_decode16_avx512(_mm_loadu_si128((const __m128i *)t1));
  return (__m512i)_mm512_cvtne2ps_pbh(f1, f0);
}

/* rows i < 4 with 128-bit block b = column b (4 partials each) -> lane 4i + b = its sum */
TARGET INLINE __m512 reduce4(__m512 s0, __m512 s1, __m512 s2, __m512 s3) {
  const __m512 z0 = _mm512_add_ps(_mm512_shuffle_ps(s0, s1, 0x44), _mm512_shuffle_ps(s0, s1, 0xEE));
  const __m512 z1 = _mm512_add_ps(_mm512_shuffle_ps(s2, s3, 0x44), _mm512_shuffle_ps(s2, s3, 0xEE));
  const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(z0, z1, 0x88), _mm512_shuffle_ps(z0, z1, 0xDD));
  return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), r);
}

TARGET INLINE void gemm_8x4_body(size_t mrc, size_t mr, size_t nc, size_t kb, const void *a, size_t a_stride,
                            const uint8_t *w, const uint8_t *const *tables, const uint16_t *bt,
                            const float *scale, const float *bias, void *c, size_t c_stride,
                            const dyd_f8_out *p) {
  const uint8_t *ar[MR];
  _Pragma("GCC unroll 8") for (size_t i = 0; i < mrc; i++) ar[i] = (const uint8_t *)a + DYD_MIN(i, mr - 1) * a_stride;
  /* split: with one or two rows, separate accumulators for the high halves */
  const bool split = mrc <= 2;
  __m512 acc[MR * 2], acch[4];
  _Pragma("GCC unroll 16") for (size_t i = 0; i < MR * 2; i++) acc[i] = _mm512_setzero_ps();
  _Pragma("GCC unroll 4") for (size_t i = 0; i < 4; i++) acch[i] = _mm512_setzero_ps();
  size_t cur = bt ? bt[0] : 0;
  __m512i t01 = table_pair(tables[0] + 16 * cur, tables[1] + 16 * cur);
  __m512i t23 = table_pair(tables[2] + 16 * cur, tables[3] + 16 * cur);
  const __m512i second = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(16), 1);
  const __m512i low4 = _mm512_set1_epi16(0x0F);
  for (size_t b = 0; b < kb; b++, w += 64) {
    if (bt && bt[b] != cur) {
      cur = bt[b];
      t01 = table_pair(tables[0] + 16 * cur, tables[1] + 16 * cur);
      t23 = table_pair(tables[2] + 16 * cur, tables[3] + 16 * cur);
    }
    const __m512i x0 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)w));
    const __m512i x1 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(w + 32)));
    /* (x & 15) | second, (x >> 4) | second */
    const __m512bh w0l = (__m512bh)_mm512_permutexvar_epi16(_mm512_ternarylogic_epi32(x0, low4, second, 0xEA), t01);
    const __m512bh w0h = (__m512bh)_mm512_permutexvar_epi16(_mm512_or_si512(_mm512_srli_epi16(x0, 4), second), t01);
    const __m512bh w1l = (__m512bh)_mm512_permutexvar_epi16(_mm512_ternarylogic_epi32(x1, low4, second, 0xEA), t23);
    const __m512bh w1h = (__m512bh)_mm512_permutexvar_epi16(_mm512_or_si512(_mm512_srli_epi16(x1, 4), second), t23);
    _Pragma("GCC unroll 8") for (size_t r = 0; r < mrc; r++) {
      const uint8_t *ab = ar[r] + b * 64;
      const __m512bh al = (__m512bh)_mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)ab));
      const __m512bh ah = (__m512bh)_mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(ab + 32)));
      if (split) {
        acc[2 * r] = _mm512_dpbf16_ps(acc[2 * r], w0l, al);
        acch[2 * r] = _mm512_dpbf16_ps(acch[2 * r], w0h, ah);
        acc[2 * r + 1] = _mm512_dpbf16_ps(acc[2 * r + 1], w1l, al);
        acch[2 * r + 1] = _mm512_dpbf16_ps(acch[2 * r + 1], w1h, ah);
      } else {
        acc[2 * r] = _mm512_dpbf16_ps(_mm512_dpbf16_ps(acc[2 * r], w0l, al), w0h, ah);
        acc[2 * r + 1] = _mm512_dpbf16_ps(_mm512_dpbf16_ps(acc[2 * r + 1], w1l, al), w1h, ah);
      }
    }
  }
  if (split)
    _Pragma("GCC unroll 4") for (size_t i = 0; i < 2 * mrc; i++) acc[i] = _mm512_add_ps(acc[i], acch[i]);
  __m512 s[MR];
  _Pragma("GCC unroll 8") for (size_t r = mrc; r < MR; r++) s[r] = _mm512_setzero_ps();
  _Pragma("GCC unroll 8") for (size_t r = 0; r < mrc; r++) /* blocks: row r, columns 0..3 */
    s[r] = _mm512_add_ps(_mm512_shuffle_f32x4(acc[2 * r], acc[2 * r + 1], 0x88),
                         _mm512_shuffle_f32x4(acc[2 * r], acc[2 * r + 1], 0xDD));
  __m512 sv, bv;
  if (nc == NR) { /* direct vector loads: no store-to-load forwarding stall */
    sv = _mm512_broadcast_f32x4(_mm_loadu_ps(scale));
    bv = _mm512_broadcast_f32x4(_mm_loadu_ps(bias));
  } else {
    const __m128i j = _mm_min_epi32(_mm_setr_epi32(0, 1, 2, 3), _mm_set1_epi32((int)nc - 1));
    sv = _mm512_broadcast_f32x4(_mm_i32gather_ps(scale, j, 4));
    bv = _mm512_broadcast_f32x4(_mm_i32gather_ps(bias, j, 4));
  }
  uint8_t *o = c;
  for (size_t h = 0; h < 2 && 4 * h < mr; h++) { /* rows 4h .. 4h + 3, lane 4 * row + column */
    const __m512 v = dyd_f8_epilogue_avx512(reduce4(s[4 * h], s[4 * h + 1], s[4 * h + 2], s[4 * h + 3]), sv, bv, p);
    const size_t rows = DYD_MIN((size_t)4, mr - 4 * h);
    /* plain stores: a full row of NR outputs, or element by element for a last panel */
    if (p->output_fp8) {
      uint32_t codes[4];
      _mm_storeu_si128((__m128i *)codes, _mm512_cvtepi32_epi8(dyd_f8_encode_avx512(
                                             dyd_f8_div_avx512(v, _mm512_set1_ps(p->output_scale), _mm512_set1_ps(p->output_recip)))));
      for (size_t r = 0; r < rows; r++, o += c_stride) memcpy(o, &codes[r], nc == NR ? 4 : nc);
    } else {
      float out[16];
      _mm512_storeu_ps(out, v);
      for (size_t r = 0; r < rows; r++, o += c_stride)
        memcpy(o, out + 4 * r, nc == NR ? 4 * sizeof(float) : nc * sizeof(float));
    }
  }
}

TARGET static void gemm_8x4(size_t mr, size_t nc, size_t kb, const void *a, size_t a_stride,
                            const uint8_t *w, const uint8_t *const *tables, const uint16_t *bt,
                            const float *scale, const float *bias, void *c, size_t c_stride,
                            const dyd_f8_out *p) {
  switch (mr) { /* exactly the rows there are */
    case 1: gemm_8x4_body(1, mr, nc, kb, a, a_stride, w, tables, bt, scale, bias, c, c_stride, p); break;
    case 2: gemm_8x4_body(2, mr, nc, kb, a, a_stride, w, tables, bt, scale, bias, c, c_stride, p); break;
    case 3: case 4: gemm_8x4_body(4, mr, nc, kb, a, a_stride, w, tables, bt, scale, bias, c, c_stride, p); break;
    default: gemm_8x4_body(8, mr, nc, kb, a, a_stride, w, tables, bt, scale, bias, c, c_stride, p); break;
  }
}

void dyd_f8_pdecode_avx512(const uint8_t *w, const uint8_t *tables, const uint16_t *pt, size_t pairs,
                           size_t nc, float *dst);
void dyd_f8_pgemm_8x32_avx512(size_t mr, size_t nc, size_t pairs, const void *a, size_t a_stride,
                              const float *w, const float *scale, const float *bias, void *c,
                              size_t c_stride, const dyd_f8_out *p);
void dyd_f8_convert_f32_avx512(const uint8_t *codes, size_t n, void *dst);

void dyd_f8_add_avx512(const dyd_fp8_add_params *p, const uint8_t *a, size_t a_inc, const uint8_t *b,
                       size_t b_inc, uint8_t *y, size_t n);
void dyd_f8_gavg_avx2(const dyd_fp8_avgpool_params *p, const uint8_t *x, uint8_t *y);
void dyd_f8_convert_q_avx512(const uint8_t *codes, size_t n, void *dst);
void dyd_f8_convert_w_avx512(const uint8_t *codes, size_t n, void *dst);
void dyd_f8_dw_c64_avx512(size_t pixels, size_t channels, size_t kh, size_t kw, const void *in,
                          size_t in_row, size_t in_col, size_t in_step, const float *w, size_t cb,
                          const float *scale, const float *bias, void *out, size_t out_step,
                          const dyd_f8_out *p);

const dyd_f8_bundle dyd_f8_bundle_avx512bf16 = {
    .isa_suffix = "avx512bf16",
    .mr = MR, .nr = NR, .a_bytes = 2, .convert = convert_bf16, .gemm = gemm_8x4,
    .pdecode = dyd_f8_pdecode_avx512, .pgemm = dyd_f8_pgemm_8x32_avx512, .pmr = 8, .pa_bytes = 4,
    .pconvert = dyd_f8_convert_f32_avx512, .p_suffix = "avx512f",
    .dw_cb = 64, .dw_in_bytes = 4, .dw_w_mult = 256.0f, .dw_convert = dyd_f8_convert_q_avx512,
    .dw_wconvert = dyd_f8_convert_w_avx512,
    .dw = dyd_f8_dw_c64_avx512, .dw_suffix = "avx512f", .add = dyd_f8_add_avx512, .gavg = dyd_f8_gavg_avx2,
    .add_name = "dyd_qf8_vadd_fp32_ukernel__avx512f",
    .gavg_name = "dyd_qf8_gavgpool_fp32_ukernel__avx2"};

#endif
