/*
 * CPU feature detection, done once per process and cached, then capped by the
 * DYADIC_ISA environment variable. Levels are ordered within an architecture
 * (x86: scalar < avx2 < avx512vnni; AArch64: scalar < neon < neondot < i8mm); a
 * requested level is honoured only up to what was detected, and a name that is
 * unknown or belongs to the other architecture leaves the detected level.
 */
#include "common.h"

#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#elif defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

/* ASCII case-insensitive equality (strcasecmp is POSIX, not C11). */
static int same_name(const char *a, const char *b) {
  for (;; a++, b++) {
    char x = *a, y = *b;
    if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
    if (x != y) return 0;
    if (x == '\0') return 1;
  }
}

static const char *const isa_names[] = {"scalar", "avx2", "avx512vnni", "neon", "neondot", "i8mm"};

const char *dyd_isa_name(dyd_isa isa) {
  return (unsigned)isa < sizeof isa_names / sizeof isa_names[0] ? isa_names[isa] : "unknown";
}

int dyd_isa_level(dyd_isa isa) {
  switch (isa) {
    case DYD_ISA_SCALAR: return 0;
#if defined(__x86_64__)
    case DYD_ISA_AVX2: return 1;
    case DYD_ISA_AVX512VNNI: return 2;
#elif defined(__aarch64__)
    case DYD_ISA_NEON: return 1;
    case DYD_ISA_NEONDOT: return 2;
    case DYD_ISA_I8MM: return 3;
#endif
    default: return -1;
  }
}

/* ---- feature detection ---------------------------------------------------------------- */

#if defined(__x86_64__)
static uint64_t read_xcr0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

/* AVX512_BF16 is CPUID.(7,1):EAX[5]. Hypervisors may hide the bit on CPUs that execute
 * the instruction; DYADIC_ASSUME_AVX512BF16=1 asserts support and =0 denies it. A library
 * inside an app must not fork or catch SIGILL to find out. */
static bool detect_bf16(unsigned leaf7_1_eax) {
  const char *env = getenv("DYADIC_ASSUME_AVX512BF16");
  if (env != NULL && (env[0] == '0' || env[0] == '1')) return env[0] == '1';
  return (leaf7_1_eax >> 5) & 1;
}

/* AVX-VNNI is CPUID.(7,1):EAX[4]. Some hypervisors hide the bit on CPUs that execute
 * the instructions; DYADIC_ASSUME_AVXVNNI=1 asserts support (used by the test scripts
 * after a probe). */
static dyd_features detect(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
  if (!osxsave || !avx || !fma) return 0; /* the AVX2 kernels use FMA too */
  const uint64_t xcr0 = read_xcr0();
  if ((xcr0 & 0x6) != 0x6) return 0; /* OS saves XMM and YMM state */
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  if (!((b >> 5) & 1)) return 0;
  dyd_features f = DYD_FEATURE_AVX2 | (f16c ? DYD_FEATURE_F16C : 0);
  const int avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
  const int vnni = (c >> 11) & 1;
  unsigned eax71 = 0, t;
  if (!__get_cpuid_count(7, 1, &eax71, &t, &t, &t)) eax71 = 0;
  const char *env = getenv("DYADIC_ASSUME_AVXVNNI");
  if (((eax71 >> 4) & 1) || (env != NULL && env[0] == '1')) f |= DYD_FEATURE_AVXVNNI;
  /* ZMM state: opmask, upper halves of ZMM0-15, ZMM16-31. */
  if (avx512f && avx512bw && avx512vl && vnni && (xcr0 & 0xE6) == 0xE6) {
    f |= DYD_FEATURE_AVX512VNNI;
    if (detect_bf16(eax71)) f |= DYD_FEATURE_AVX512BF16;
    if ((c >> 1) & 1) f |= DYD_FEATURE_AVX512VBMI;
  }
  return f;
}
#elif defined(__aarch64__) && defined(__linux__)
static dyd_features detect(void) {
  const unsigned long hwcap = getauxval(AT_HWCAP), hwcap2 = getauxval(AT_HWCAP2);
  dyd_features f = DYD_FEATURE_NEON; /* Advanced SIMD is mandatory on AArch64 */
  if ((hwcap >> 20) & 1) f |= DYD_FEATURE_NEONDOT; /* HWCAP_ASIMDDP */
  if ((hwcap2 >> 13) & 1) f |= DYD_FEATURE_I8MM;   /* HWCAP2_I8MM */
  if ((hwcap >> 23) & 1) f |= DYD_FEATURE_FHM;     /* HWCAP_ASIMDFHM */
  return f;
}
#elif defined(__aarch64__) && defined(__APPLE__)
static int sysctl_flag(const char *name) {
  int value = 0;
  size_t size = sizeof value;
  return sysctlbyname(name, &value, &size, NULL, 0) == 0 && value != 0;
}

static dyd_features detect(void) {
  dyd_features f = DYD_FEATURE_NEON;
  if (sysctl_flag("hw.optional.arm.FEAT_DotProd")) f |= DYD_FEATURE_NEONDOT;
  if (sysctl_flag("hw.optional.arm.FEAT_I8MM")) f |= DYD_FEATURE_I8MM;
  if (sysctl_flag("hw.optional.arm.FEAT_FHM")) f |= DYD_FEATURE_FHM;
  return f;
}
#elif defined(__aarch64__)
static dyd_features detect(void) { return DYD_FEATURE_NEON; }
#else
static dyd_features detect(void) { return 0; }
#endif

/* The features each level may use: its own and those of the levels below. The AVX2
 * level includes AVX-VNNI and F16C (optional within it), the NEON level FHM. */
static dyd_features level_features(dyd_isa isa) {
  switch (isa) {
    case DYD_ISA_AVX2: return DYD_FEATURE_AVX2 | DYD_FEATURE_F16C | DYD_FEATURE_AVXVNNI;
    case DYD_ISA_AVX512VNNI: return level_features(DYD_ISA_AVX2) | DYD_FEATURE_AVX512VNNI | DYD_FEATURE_AVX512BF16 |
                                   DYD_FEATURE_AVX512VBMI;
    case DYD_ISA_NEON: return DYD_FEATURE_NEON | DYD_FEATURE_FHM;
    case DYD_ISA_NEONDOT: return level_features(DYD_ISA_NEON) | DYD_FEATURE_NEONDOT;
    case DYD_ISA_I8MM: return level_features(DYD_ISA_NEONDOT) | DYD_FEATURE_I8MM;
    default: return 0;
  }
}

/* Computed idempotently, so a race only repeats the work. */
static _Atomic int64_t features_cache = -1;
static _Atomic int active_cache = -1;

dyd_features dyd_cpu_features(void) {
  int64_t v = atomic_load_explicit(&features_cache, memory_order_acquire);
  if (v < 0) {
    v = (int64_t)detect();
    atomic_store_explicit(&features_cache, v, memory_order_release);
  }
  return (dyd_features)v;
}

dyd_isa dyd_detected_isa(void) {
  const dyd_features f = dyd_cpu_features();
  if (f & DYD_FEATURE_AVX512VNNI) return DYD_ISA_AVX512VNNI;
  if (f & DYD_FEATURE_AVX2) return DYD_ISA_AVX2;
  if ((f & DYD_FEATURE_I8MM) && (f & DYD_FEATURE_NEONDOT)) return DYD_ISA_I8MM;
  if (f & DYD_FEATURE_NEONDOT) return DYD_ISA_NEONDOT;
  if (f & DYD_FEATURE_NEON) return DYD_ISA_NEON;
  return DYD_ISA_SCALAR;
}

dyd_isa dyd_isa_supported(dyd_isa isa) {
  const dyd_isa detected = dyd_detected_isa();
  const int level = dyd_isa_level(isa);
  if (level < 0 || level > dyd_isa_level(detected)) return detected;
  return isa;
}

dyd_features dyd_isa_features(dyd_isa isa) {
  return dyd_cpu_features() & level_features(dyd_isa_supported(isa));
}

dyd_isa dyd_active_isa(void) {
  int v = atomic_load_explicit(&active_cache, memory_order_acquire);
  if (v < 0) {
    dyd_isa isa = dyd_detected_isa();
    const char *env = getenv("DYADIC_ISA");
    if (env != NULL && *env != '\0') {
      for (int i = 0; i < (int)(sizeof isa_names / sizeof isa_names[0]); i++) {
        if (same_name(env, isa_names[i])) {
          isa = dyd_isa_supported((dyd_isa)i);
          break;
        }
      }
    }
    v = (int)isa;
    atomic_store_explicit(&active_cache, v, memory_order_release);
  }
  return (dyd_isa)v;
}

void dyd_set_error(char *err, size_t err_len, const char *fmt, ...) {
  if (err == NULL || err_len == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}
