#include "allocation_counter.h"

#include <errno.h>
#include <stddef.h>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

#if defined(__linux__) && defined(__GLIBC__) && !defined(SANITIZED)

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *ptr);

/* Per thread: tests run in parallel, so only the thread under test counts. */
static _Thread_local int enabled;
static _Thread_local long count;

static inline void note(void) {
  if (enabled) count++;
}

void *malloc(size_t size) { note(); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { note(); return __libc_calloc(n, size); }
void *realloc(void *ptr, size_t size) { note(); return __libc_realloc(ptr, size); }
void free(void *ptr) { __libc_free(ptr); }
void *memalign(size_t alignment, size_t size) { note(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { note(); return __libc_memalign(alignment, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
  note();
  void *p = __libc_memalign(alignment, size);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}

int allocation_counter_expected(void) { return 1; }

int allocation_counter_available(void) {
  allocation_counter_start();
  void *volatile p = malloc(24);
  free(p);
  return allocation_counter_stop() > 0;
}

void allocation_counter_start(void) {
  count = 0;
  enabled = 1;
}

long allocation_counter_stop(void) {
  enabled = 0;
  return count;
}

#else

int allocation_counter_expected(void) { return 0; }
int allocation_counter_available(void) { return 0; }
void allocation_counter_start(void) {}
long allocation_counter_stop(void) { return 0; }

#endif
