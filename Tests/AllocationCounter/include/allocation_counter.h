/* Counts the heap allocations made by the calling thread between start and stop,
 * by defining the allocation functions in the test executable (glibc only; they
 * forward to glibc's own entry points). Not built under the sanitizers, which
 * intercept the same functions. */
#ifndef ALLOCATION_COUNTER_H
#define ALLOCATION_COUNTER_H

/* 1 when the counting allocator is linked in and working. */
int allocation_counter_available(void);
/* 1 when this build should have it: glibc, no sanitizer. */
int allocation_counter_expected(void);
/* Counting covers the calling thread only. */
void allocation_counter_start(void);
/* The calling thread's allocations since its last start. */
long allocation_counter_stop(void);

#endif
