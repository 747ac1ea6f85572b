/*
 * Vector helpers of the x86 FP8 kernels: E4M3 decode and the saturating encode.
 *
 * Decode: E4M3 and float16 differ in exponent bias by 8, so moving the 7 magnitude
 * bits up by 7 and the sign to bit 15 gives the float16 whose value is exactly
 * e4m3 / 256 (subnormals included: both formats' subnormal steps line up).
 * VCVTPH2PS widens it exactly; one multiply by 256 (exact) restores the value.
 *
 * Encode (saturating, the codes of dyd_fp8_e4m3_from_f32(x, 1)): from 2^-6 up, round
 * the float's mantissa to 3 bits on its bits (ties to even) and rebias the exponent;
 * below 2^-6, where E4M3 steps are 2^-9, add 2^14: the sum's last bit is 2^-9, so the
 * hardware rounds |x| to the subnormal step (ties to even) and the sum's low bits are
 * the code. Then saturate to 448 (0x7E) and give NaN its code.
 *
 * Division by the output scale: x / d from r = 1 / d (rounded once) without VDIVPS,
 * whose throughput on this class of core is about one vector per 10 cycles. With r
 * within half an ulp of 1 / d and q = x * r within an ulp of x / d, e = x - d * q is
 * exact (FMA) and q + e * r rounds to exactly x / d (Markstein's theorem). Lanes whose
 * e is zero, infinite or NaN keep q: q is then already the quotient (including the
 * sign of a zero, which e * r would turn into +0), or x / d overflowed, or x was
 * infinite or NaN. Only quotients in float32's subnormal range (far below the
 * smallest E4M3 step) can differ from the division's, and then not in their code.
 */
#ifndef DYD_FP8_X86_H
#define DYD_FP8_X86_H
#if defined(__x86_64__)

#include "../common.h"

#include <immintrin.h>

#define DYD_F8_AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define DYD_F8_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define DYD_F8_INLINE static inline __attribute__((always_inline))

/* 16 codes (bytes) -> the shifted float16 bits (e4m3 / 256), in 16-bit lanes: the
 * code sign-extended and shifted left by 7 has the sign in bit 15 and the magnitude in
 * bits 13-7; bit 14 (a copy of the sign) is cleared */
DYD_F8_AVX2_TARGET DYD_F8_INLINE __m256i dyd_f8_h16_avx2(__m128i codes) {
  return _mm256_and_si256(_mm256_slli_epi16(_mm256_cvtepi8_epi16(codes), 7),
                          _mm256_set1_epi16((short)0xBFFF));
}

/* 8 codes (low 8 bytes) -> 8 floats, exact */
DYD_F8_AVX2_TARGET DYD_F8_INLINE __m256 dyd_f8_decode8_avx2(__m128i codes) {
  const __m128i h = _mm_and_si128(_mm_slli_epi16(_mm_cvtepi8_epi16(codes), 7), _mm_set1_epi16((short)0xBFFF));
  return _mm256_mul_ps(_mm256_cvtph_ps(h), _mm256_set1_ps(256.0f));
}

DYD_F8_AVX2_TARGET DYD_F8_INLINE __m256i dyd_f8_encode_avx2(__m256 x) {
  const __m256i u = _mm256_castps_si256(x);
  const __m256i a = _mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF));
  const __m256i r = _mm256_sub_epi32(a, _mm256_set1_epi32(120 << 23));
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(r, 20), _mm256_set1_epi32(1));
  const __m256i nrm = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(r, _mm256_set1_epi32(0x7FFFF)), odd), 20);
  const __m256i sub = _mm256_sub_epi32(
      _mm256_castps_si256(_mm256_add_ps(_mm256_castsi256_ps(a), _mm256_set1_ps(16384.0f))),
      _mm256_set1_epi32(0x46800000));
  __m256i code = _mm256_blendv_epi8(nrm, sub, _mm256_cmpgt_epi32(_mm256_set1_epi32(0x3C800000), a));
  code = _mm256_min_epu32(code, _mm256_set1_epi32(0x7E));
  code = _mm256_blendv_epi8(code, _mm256_set1_epi32(0x7F), _mm256_cmpgt_epi32(a, _mm256_set1_epi32(0x7F800000)));
  return _mm256_or_si256(code, _mm256_and_si256(_mm256_srli_epi32(u, 24), _mm256_set1_epi32(0x80)));
}

/* x / d, rounded as a division (see the top), with r = 1 / d */
DYD_F8_AVX2_TARGET DYD_F8_INLINE __m256 dyd_f8_div_avx2(__m256 x, __m256 d, __m256 r) {
  const __m256 q = _mm256_mul_ps(x, r);
  const __m256 e = _mm256_fnmadd_ps(d, q, x);
  const __m256 ae = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), e);
  const __m256 fix = _mm256_and_ps(_mm256_cmp_ps(ae, _mm256_setzero_ps(), _CMP_GT_OQ),
                                   _mm256_cmp_ps(ae, _mm256_set1_ps(__builtin_inff()), _CMP_LT_OQ));
  return _mm256_blendv_ps(q, _mm256_fmadd_ps(e, r, q), fix);
}

/* 8 codes in int32 lanes -> 8 bytes in the low half */
DYD_F8_AVX2_TARGET DYD_F8_INLINE __m128i dyd_f8_pack8_avx2(__m256i codes) {
  const __m128i p = _mm_packus_epi32(_mm256_castsi256_si128(codes), _mm256_extracti128_si256(codes, 1));
  return _mm_packus_epi16(p, p);
}

/* 16 codes -> 16 floats, exact */
DYD_F8_AVX512_TARGET DYD_F8_INLINE __m512 dyd_f8_decode16_avx512(__m128i codes) {
  return _mm512_mul_ps(_mm512_cvtph_ps(dyd_f8_h16_avx2(codes)), _mm512_set1_ps(256.0f));
}

DYD_F8_AVX512_TARGET DYD_F8_INLINE __m512i dyd_f8_encode_avx512(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i a = _mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF));
  const __m512i r = _mm512_sub_epi32(a, _mm512_set1_epi32(120 << 23));
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(r, 20), _mm512_set1_epi32(1));
  __m512i code = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(r, _mm512_set1_epi32(0x7FFFF)), odd), 20);
  const __m512i sub = _mm512_sub_epi32(
      _mm512_castps_si512(_mm512_add_ps(_mm512_castsi512_ps(a), _mm512_set1_ps(16384.0f))),
      _mm512_set1_epi32(0x46800000));
  code = _mm512_mask_blend_epi32(_mm512_cmplt_epi32_mask(a, _mm512_set1_epi32(0x3C800000)), code, sub);
  code = _mm512_min_epu32(code, _mm512_set1_epi32(0x7E));
  code = _mm512_mask_mov_epi32(code, _mm512_cmpgt_epi32_mask(a, _mm512_set1_epi32(0x7F800000)),
                               _mm512_set1_epi32(0x7F));
  return _mm512_ternarylogic_epi32(code, _mm512_srli_epi32(u, 24), _mm512_set1_epi32(0x80), 0xF8);
}

/* x / d, rounded as a division (see the top), with r = 1 / d */
DYD_F8_AVX512_TARGET DYD_F8_INLINE __m512 dyd_f8_div_avx512(__m512 x, __m512 d, __m512 r) {
  const __m512 q = _mm512_mul_ps(x, r);
  const __m512 e = _mm512_fnmadd_ps(d, q, x);
  const __mmask16 fix = (__mmask16)~_mm512_fpclass_ps_mask(e, 0x9F); /* not +-0, +-inf, NaN */
  return _mm512_mask3_fmadd_ps(e, r, q, fix);
}

/* The conv epilogue on 16 accumulators: fma, clamp, then float32 or E4M3 (as int32
 * lanes for the caller to narrow). */
DYD_F8_AVX512_TARGET DYD_F8_INLINE __m512 dyd_f8_epilogue_avx512(__m512 acc, __m512 s, __m512 b,
                                                                 const dyd_f8_out *p) {
  __m512 v = _mm512_fmadd_ps(acc, s, b);
  v = _mm512_max_ps(v, _mm512_set1_ps(p->out_min));
  return _mm512_min_ps(v, _mm512_set1_ps(p->out_max));
}

/* Stores the first n of 16 epilogue results (E4M3 or float32) at out. */
DYD_F8_AVX512_TARGET DYD_F8_INLINE void dyd_f8_store16_avx512(__m512 v, const dyd_f8_out *p, void *out,
                                                              size_t n) {
  const __mmask16 m = (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1);
  if (p->output_fp8) {
    const __m512i c = dyd_f8_encode_avx512(
        dyd_f8_div_avx512(v, _mm512_set1_ps(p->output_scale), _mm512_set1_ps(p->output_recip)));
    _mm_mask_storeu_epi8(out, m, _mm512_cvtepi32_epi8(c));
  } else {
    _mm512_mask_storeu_ps(out, m, v);
  }
}

#endif
#endif
