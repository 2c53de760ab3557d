#include "prefetch.h"

#include <pthread.h>
#include <string.h>

enum { SLOT_FREE, SLOT_QUEUED, SLOT_RUNNING, SLOT_READY };

typedef struct {
    int state;
    int stale;              /* request no longer wanted: free the slot when its fetch ends */
    uint64_t g0;
    int n;
    uint64_t order;         /* queue order */
    float *x;
    int32_t *labels;
    int cap;                /* samples the buffers hold */
    int rc;
    Error err;
} Slot;

struct Prefetcher {
    PrefetchFetch fetch;
    void *ctx, *scratch;
    size_t sample_floats;
    Slot slot[2];
    uint64_t next_order;
    int stop;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    pthread_t thread;
};

static void *worker(void *arg) {
    Prefetcher *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        Slot *job = NULL;
        for (int i = 0; i < 2; i++)
            if (p->slot[i].state == SLOT_QUEUED && (!job || p->slot[i].order < job->order)) job = &p->slot[i];
        if (!job) {
            if (p->stop) break;
            pthread_cond_wait(&p->changed, &p->lock);
            continue;
        }
        job->state = SLOT_RUNNING;
        pthread_mutex_unlock(&p->lock);
        int rc = p->fetch(p->ctx, p->scratch, job->g0, job->n, job->x, job->labels, &job->err);
        pthread_mutex_lock(&p->lock);
        job->rc = rc;
        job->state = job->stale ? SLOT_FREE : SLOT_READY;
        pthread_cond_broadcast(&p->changed);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

Prefetcher *prefetch_start(PrefetchFetch fetch, void *ctx, void *scratch, size_t sample_floats) {
    Prefetcher *p = xcalloc(1, sizeof *p, "prefetcher");
    p->fetch = fetch;
    p->ctx = ctx;
    p->scratch = scratch;
    p->sample_floats = sample_floats;
    if (pthread_mutex_init(&p->lock, NULL) || pthread_cond_init(&p->changed, NULL) ||
        pthread_create(&p->thread, NULL, worker, p))
        FATAL("cannot start the data prefetch thread");
    return p;
}

/* Drop every request that is not (g0, n): queued ones at once, a running one when it ends. */
static void drop_others(Prefetcher *p, uint64_t g0, int n) {
    for (int i = 0; i < 2; i++) {
        Slot *s = &p->slot[i];
        if (s->state == SLOT_FREE || (s->g0 == g0 && s->n == n && !s->stale)) continue;
        if (s->state == SLOT_RUNNING) s->stale = 1;
        else s->state = SLOT_FREE;
    }
}

/* Called with the lock held. */
static void queue(Prefetcher *p, uint64_t g0, int n) {
    Slot *free_slot = NULL;
    for (int i = 0; i < 2; i++) {
        Slot *s = &p->slot[i];
        if (s->state != SLOT_FREE && !s->stale && s->g0 == g0 && s->n == n) return;
        if (s->state == SLOT_FREE && !free_slot) free_slot = s;
    }
    if (!free_slot) return;
    if (free_slot->cap < n) {
        free_slot->x = xrealloc(free_slot->x, (size_t)n * p->sample_floats * sizeof(float), "prefetch buffer");
        free_slot->labels = xrealloc(free_slot->labels, (size_t)n * sizeof(int32_t), "prefetch labels");
        free_slot->cap = n;
    }
    free_slot->g0 = g0;
    free_slot->n = n;
    free_slot->stale = 0;
    free_slot->order = p->next_order++;
    free_slot->state = SLOT_QUEUED;
    pthread_cond_broadcast(&p->changed);
}

void prefetch_request(Prefetcher *p, uint64_t g0, int n) {
    pthread_mutex_lock(&p->lock);
    queue(p, g0, n);
    pthread_mutex_unlock(&p->lock);
}

int prefetch_take(Prefetcher *p, uint64_t g0, int n, int64_t next_g0, float *x, int32_t *labels, Error *e) {
    pthread_mutex_lock(&p->lock);
    drop_others(p, g0, n);
    Slot *s = NULL;
    for (int i = 0; i < 2; i++)
        if (p->slot[i].state != SLOT_FREE && !p->slot[i].stale) s = &p->slot[i];
    if (!s) {
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    while (s->state != SLOT_READY) pthread_cond_wait(&p->changed, &p->lock);
    if (next_g0 >= 0) queue(p, (uint64_t)next_g0, n);
    pthread_mutex_unlock(&p->lock);
    /* The slot stays READY (not reusable) until it has been copied out. */
    int rc = s->rc;
    if (rc == 0) {
        memcpy(x, s->x, (size_t)n * p->sample_floats * sizeof *x);
        memcpy(labels, s->labels, (size_t)n * sizeof *labels);
    } else if (e) {
        *e = s->err;
    }
    pthread_mutex_lock(&p->lock);
    s->state = SLOT_FREE;
    pthread_mutex_unlock(&p->lock);
    return rc == 0 ? 1 : -1;
}

void prefetch_stop(Prefetcher *p) {
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    for (int i = 0; i < 2; i++)
        if (p->slot[i].state == SLOT_QUEUED) p->slot[i].state = SLOT_FREE;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    if (pthread_join(p->thread, NULL)) FATAL("cannot join the data prefetch thread");
    for (int i = 0; i < 2; i++) {
        free(p->slot[i].x);
        free(p->slot[i].labels);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->changed);
    free(p);
}
