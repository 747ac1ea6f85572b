/*
 * CPU feature detection, done once per process and cached, then capped by the
 * DYADIC_ISA environment variable. Levels are ordered within an architecture
 * (x86: scalar < avx2 < avx512vnni; AArch64: scalar < neon < neondot < i8mm); a
 * requested level is honoured only up to what was detected, and a name that is
 * unknown or belongs to the other architecture leaves the detected level.
 */
#if !defined(_DEFAULT_SOURCE) && !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* fork, waitpid */
#endif
#include "common.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/wait.h>
#include <unistd.h>
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

#if defined(__x86_64__)
static uint64_t read_xcr0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

static dyd_isa detect(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return DYD_ISA_SCALAR;
  const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
  if (!osxsave || !avx || !fma) return DYD_ISA_SCALAR; /* the AVX2 level assumes FMA too */
  const uint64_t xcr0 = read_xcr0();
  if ((xcr0 & 0x6) != 0x6) return DYD_ISA_SCALAR; /* OS saves XMM and YMM state */
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return DYD_ISA_SCALAR;
  const int avx2 = (b >> 5) & 1;
  if (!avx2) return DYD_ISA_SCALAR;
  const int avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
  const int vnni = (c >> 11) & 1;
  /* ZMM state: opmask, upper halves of ZMM0-15, ZMM16-31. */
  if (avx512f && avx512bw && avx512vl && vnni && (xcr0 & 0xE6) == 0xE6) return DYD_ISA_AVX512VNNI;
  return DYD_ISA_AVX2;
}
/* AVX-VNNI: CPUID.(7,1):EAX[4], with the OS saving YMM state. Some hypervisors
 * hide the bit on CPUs that execute the instructions; DYADIC_ASSUME_AVXVNNI=1
 * asserts support (used by the test scripts after a probe). */
static bool detect_avxvnni(void) {
  const char *env = getenv("DYADIC_ASSUME_AVXVNNI");
  if (env != NULL && env[0] == '1') return dyd_detected_isa() != DYD_ISA_SCALAR;
  unsigned a, b, c, d;
  if (dyd_detected_isa() == DYD_ISA_SCALAR) return false;
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
  return (a >> 4) & 1;
}
#elif defined(__aarch64__) && defined(__linux__)
static dyd_isa detect(void) {
  const unsigned long hwcap = getauxval(AT_HWCAP), hwcap2 = getauxval(AT_HWCAP2);
  const int asimddp = (hwcap >> 20) & 1; /* HWCAP_ASIMDDP */
  const int i8mm = (hwcap2 >> 13) & 1;   /* HWCAP2_I8MM */
  if (asimddp && i8mm) return DYD_ISA_I8MM;
  if (asimddp) return DYD_ISA_NEONDOT;
  return DYD_ISA_NEON; /* Advanced SIMD is mandatory on AArch64 */
}
#elif defined(__aarch64__) && defined(__APPLE__)
static int sysctl_flag(const char *name) {
  int value = 0;
  size_t size = sizeof value;
  return sysctlbyname(name, &value, &size, NULL, 0) == 0 && value != 0;
}

static dyd_isa detect(void) {
  const int dot = sysctl_flag("hw.optional.arm.FEAT_DotProd");
  if (dot && sysctl_flag("hw.optional.arm.FEAT_I8MM")) return DYD_ISA_I8MM;
  return dot ? DYD_ISA_NEONDOT : DYD_ISA_NEON;
}
#elif defined(__aarch64__)
static dyd_isa detect(void) { return DYD_ISA_NEON; }
#else
static dyd_isa detect(void) { return DYD_ISA_SCALAR; }
#endif

/* Both values are computed idempotently, so a race only repeats the work. */
static _Atomic int detected_cache = -1;
static _Atomic int active_cache = -1;

dyd_isa dyd_detected_isa(void) {
  int v = atomic_load_explicit(&detected_cache, memory_order_acquire);
  if (v < 0) {
    v = (int)detect();
    atomic_store_explicit(&detected_cache, v, memory_order_release);
  }
  return (dyd_isa)v;
}

dyd_isa dyd_isa_supported(dyd_isa isa) {
  const dyd_isa detected = dyd_detected_isa();
  const int level = dyd_isa_level(isa);
  if (level < 0 || level > dyd_isa_level(detected)) return detected;
  return isa;
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

#if defined(__x86_64__)
static _Atomic int avxvnni_cache = -1;

bool dyd_cpu_has_avxvnni(void) {
  int v = atomic_load_explicit(&avxvnni_cache, memory_order_acquire);
  if (v < 0) {
    v = detect_avxvnni() ? 1 : 0;
    atomic_store_explicit(&avxvnni_cache, v, memory_order_release);
  }
  return v != 0;
}
#else
bool dyd_cpu_has_avxvnni(void) { return false; }
#endif

/* ---- optional features of the FP8 bundles ---- */

#if defined(__x86_64__)
/* VDPBF16PS: 1.0 * 1.0 + 1.0 * 1.0 added to 1.0 is 3.0 in every lane. */
__attribute__((target("avx512f,avx512bf16"), noinline)) static int bf16_executes(void) {
  const __m512bh one = (__m512bh)_mm512_set1_epi16(0x3F80);
  const __m512 r = _mm512_dpbf16_ps(_mm512_set1_ps(1.0f), one, one);
  return _mm512_cmpeq_ps_mask(r, _mm512_set1_ps(3.0f)) == 0xFFFF;
}

/* AVX512_BF16 is CPUID.(7,1):EAX[5]. Hypervisors may hide it on CPUs that execute the
 * instruction, so an unreported bit is settled by executing it in a child process:
 * a SIGILL there costs nothing here, and no signal handler of the host is touched.
 * DYADIC_ASSUME_AVX512BF16=0 or 1 skips the probe. */
static bool detect_bf16(void) {
  if (dyd_detected_isa() != DYD_ISA_AVX512VNNI) return false;
  const char *env = getenv("DYADIC_ASSUME_AVX512BF16");
  if (env != NULL && (env[0] == '0' || env[0] == '1')) return env[0] == '1';
  unsigned a, b, c, d;
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 5) & 1)) return true;
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) _exit(bf16_executes() ? 0 : 1);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static bool detect_f16c(void) {
  unsigned a, b, c, d;
  return dyd_detected_isa() != DYD_ISA_SCALAR && __get_cpuid(1, &a, &b, &c, &d) && ((c >> 29) & 1);
}
#endif

#if defined(__aarch64__) && defined(__linux__)
static bool detect_fhm(void) { return (getauxval(AT_HWCAP) >> 23) & 1; /* HWCAP_ASIMDFHM */ }
#elif defined(__aarch64__) && defined(__APPLE__)
static bool detect_fhm(void) { return sysctl_flag("hw.optional.arm.FEAT_FHM"); }
#else
static bool detect_fhm(void) { return false; }
#endif

static _Atomic int f8_feature_cache[4] = {-1, -1, -1, -1};

bool dyd_f8_bundle_usable(const dyd_f8_bundle *b) {
  const int need = b->needs;
  if (need == DYD_F8_NEEDS_NONE) return true;
  int v = atomic_load_explicit(&f8_feature_cache[need], memory_order_acquire);
  if (v < 0) {
    bool ok = false;
#if defined(__x86_64__)
    if (need == DYD_F8_NEEDS_BF16) ok = detect_bf16();
    if (need == DYD_F8_NEEDS_F16C) ok = detect_f16c();
#endif
    if (need == DYD_F8_NEEDS_FHM) ok = detect_fhm();
    v = ok ? 1 : 0;
    atomic_store_explicit(&f8_feature_cache[need], v, memory_order_release);
  }
  return v != 0;
}

void dyd_set_error(char *err, size_t err_len, const char *fmt, ...) {
  if (err == NULL || err_len == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}
