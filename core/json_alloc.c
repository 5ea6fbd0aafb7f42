/* core/json_alloc.c — a per-thread cache of freed small blocks, for cJSON
 * trees.
 *
 * A relayed call parses its body and the upstream's answer into about 90
 * small blocks (nodes, keys, strings) and frees them all when it ends.
 * glibc's per-thread cache keeps 7 blocks of a size; the rest went through
 * malloc's bins and their consolidation: ~20k instructions a call
 * (callgrind), 5-7 % of the throughput at 50 connections. Here freed blocks
 * of up to 1 KB wait on a list per 16-byte class, up to 1 MB per thread.
 *
 * The blocks are ordinary malloc blocks and a block's class comes from
 * malloc_usable_size, so free() and od_jfree may each take the other's
 * blocks: cJSON_Print's output freed with free() stays correct. Under
 * AddressSanitizer there is no cache, so it still sees every use after free. */
#include "json.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define JB_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JB_CACHE 0
#endif
#endif
#ifndef JB_CACHE
#define JB_CACHE 1
#endif

#define JB_CLASSES 64           /* 16, 32, ... 1024 bytes */
#define JB_CAP_BYTES (1u << 20) /* per thread */

typedef struct jb_cache {
    void *head[JB_CLASSES + 1];
    size_t bytes;
    int registered;
} jb_cache;

static _Thread_local jb_cache tc;
static pthread_key_t jb_key;
static pthread_once_t jb_once = PTHREAD_ONCE_INIT;

/* a thread that ends hands its blocks back to malloc */
static void jb_drain(void *arg)
{
    jb_cache *c = arg;
    for (int k = 1; k <= JB_CLASSES; k++)
        while (c->head[k]) {
            void *p = c->head[k];
            c->head[k] = *(void **)p;
            free(p);
        }
    c->bytes = 0;
    c->registered = 0; /* a later destructor's free registers it again */
}

static void jb_key_make(void) { (void)pthread_key_create(&jb_key, jb_drain); }

void *od_jmalloc(size_t n)
{
    size_t k = (n + 15) >> 4;
    if (!JB_CACHE || !k || k > JB_CLASSES)
        return malloc(n);
    void *p = tc.head[k];
    if (p) {
        tc.head[k] = *(void **)p;
        tc.bytes -= k << 4;
        return p;
    }
    return malloc(k << 4); /* the whole class, so it comes back to it */
}

void od_jfree(void *p)
{
    if (!p)
        return;
    size_t k = JB_CACHE ? malloc_usable_size(p) >> 4 : 0;
    if (!k || k > JB_CLASSES || tc.bytes + (k << 4) > JB_CAP_BYTES) {
        free(p);
        return;
    }
    if (!tc.registered) {
        pthread_once(&jb_once, jb_key_make);
        (void)pthread_setspecific(jb_key, &tc);
        tc.registered = 1;
    }
    *(void **)p = tc.head[k];
    tc.head[k] = p;
    tc.bytes += k << 4;
}

void od_json_init(void)
{
    cJSON_Hooks h = {od_jmalloc, od_jfree};
    cJSON_InitHooks(&h);
}
