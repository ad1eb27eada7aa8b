// Counts heap allocations of the process it is preloaded into (LD_PRELOAD), for the benchmarks' allocations per
// request. Every ALLOC_COUNT_INTERVAL_MS (default 200) a background thread rewrites the file named by ALLOC_COUNT_OUT
// with one line: "<allocations> <frees>", totals since the process started. The benchmark reads it before and after
// the measured run. Allocations are malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign (Swift's
// swift_slowAlloc ends in one of them); the counters are relaxed atomics, so the overhead is a few ns per call.
// Build: cc -O2 -shared -fPIC -o alloc_count.so alloc_count.c -lpthread
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static _Atomic unsigned long allocations, frees;

void *malloc(size_t n) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); return __libc_malloc(n); }
void *calloc(size_t c, size_t n) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); return __libc_calloc(c, n); }
void *realloc(void *p, size_t n) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { return memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    void *p = memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
void free(void *p) { if (p) atomic_fetch_add_explicit(&frees, 1, memory_order_relaxed); __libc_free(p); }

static void *writer(void *arg) {
    const char *path = arg;
    const char *interval = getenv("ALLOC_COUNT_INTERVAL_MS");
    useconds_t us = (interval ? atoi(interval) : 200) * 1000;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    for (;;) {
        FILE *f = fopen(tmp, "w");
        if (f) {
            fprintf(f, "%lu %lu\n", atomic_load(&allocations), atomic_load(&frees));
            fclose(f);
            rename(tmp, path);
        }
        usleep(us);
    }
    return NULL;
}

__attribute__((constructor)) static void start(void) {
    const char *path = getenv("ALLOC_COUNT_OUT");
    if (!path || !*path) return;
    pthread_t thread;
    if (pthread_create(&thread, NULL, writer, strdup(path)) == 0) pthread_detach(thread);
}
