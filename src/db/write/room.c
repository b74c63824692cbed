/*
 * room.c - writes wait, rather than fail, while the arena is full of
 * memory an old snapshot pins.
 *
 * The writer frees a retired memtable or version record only once no
 * reader pins a version that can reach it (core/publish.c). A reader that keeps
 * a transaction open for long therefore makes the arena fill up with
 * flushed memtables. Before a write takes new arena memory, the writer
 * makes sure that everything the write and the work after it need is
 * there: the batch's skiplist nodes, the first chunk of the next memtable
 * and a few version records for the background's flush and compactions.
 * If not, and waiting can help (something is retired or being flushed),
 * the write stalls (FC_STALL_ARENA, fc_stats names the pinning pid) and
 * retries every few milliseconds, sweeping dead readers' slots each time;
 * it resumes as soon as the reader lets go. Nothing has reached the WAL
 * yet, so a write that gives up (a full arena nothing pins) leaves no
 * trace.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "forkcache.h"
#include "db/core/skiplist.h"
#include "db/core/forkgate.h"
#include "db/core/store.h"
#include "db/core/vrec.h"
#include "shm/layout.h"
#include "util/coding.h"
#include "util/clock.h"
#include "util/proc.h"
#include "db/write/write.h"
#include "db/core/publish.h"

/* Version records kept in reserve for the background thread: a flush and
 * the compactions it triggers each publish one. */
#define VREC_RESERVE 8
#define STALL_POLL_MS 5
#define PROBE_MAX 64

/* The arena blocks a write would ask for, in order. */
typedef struct probe {
    uint64_t size[PROBE_MAX];
    int n;
    int overflow;
    uint64_t cur, end;   /* the simulated current chunk */
    uint64_t chunk;
} probe;

static void probe_add(probe *p, uint64_t bytes)
{
    if (p->n == PROBE_MAX)
        p->overflow = 1;
    else
        p->size[p->n++] = bytes;
}

/* Mirrors memchunks.c's rule for one skiplist node of the tallest height:
 * a large entry gets a block of its own, a small one the current chunk or
 * a fresh one. */
static void probe_node(probe *p, uint64_t need)
{
    if (need > p->chunk / 4) {
        probe_add(p, need);
        return;
    }
    if (p->cur == 0 || p->end - p->cur < need) {
        probe_add(p, p->chunk);
        p->cur = 1;   /* a fresh chunk: only its length matters here */
        p->end = 1 + p->chunk;
    }
    p->cur += need;
}

static int probe_entry(void *arg, uint64_t seq, int type, fci_slice key, fci_slice value)
{
    (void)seq;
    (void)type;
    probe_node(arg, fci_memtable_node_bound(key.size, value.size));
    return 0;
}

/* Takes every block of the probe and gives them all back: only the writer
 * allocates, under mu, so what fits now still fits when the write asks.
 * 1 when all fit. */
static int probe_fits(fci_arena *a, const probe *p)
{
    uint64_t got[PROBE_MAX];
    int n = 0;
    while (n < p->n && fci_arena_alloc(a, p->size[n], &got[n], NULL) == 0)
        n++;
    int fits = n == p->n;
    while (n > 0)
        fci_arena_free(a, got[--n], NULL);
    return fits;
}

/* mu held. Fills the probe for batch b (NULL: a memtable switch only). 0
 * when the batch fits in the current chunk (nothing new is taken), else 1. */
static int build_probe(fc_store *s, fci_write_batch *b, probe *p)
{
    fci_writer *w = s->w;
    const fci_memchunks *mc = w->mem_chunks;
    p->n = 0;
    p->overflow = 0;
    p->chunk = mc->chunk;
    p->cur = mc->cur;
    p->end = mc->end;
    if (b != NULL) {
        fci_batch_insert(fci_batch_contents(b), probe_entry, p, NULL);
        if (p->n == 0)
            return 0;
    }
    probe_add(p, p->chunk); /* the next memtable's first chunk */
    uint64_t vrec = fci_vrec_size(w->vs.current);
    for (int i = 0; i < VREC_RESERVE; i++)
        probe_add(p, vrec);
    return 1;
}

/* mu held. Whether a wait can free anything: memory is retired (pinned by
 * a reader) or a flush will retire the immutable memtable. */
static int waiting_helps(fc_store *s, int *pid, uint64_t *version, fci_err *err)
{
    fci_writer *w = s->w;
    fci_oldest_pin(s->arena, pid, version);
    if (w->retired == NULL && !w->has_imm) {
        fci_err_set(err, FC_ENOMEM, "arena full (%zu bytes) and nothing in it is pinned by "
                    "a reader: raise arena_size", s->opts.arena_size);
        return 0;
    }
    if (*pid == fci_getpid() && !w->has_imm) {
        /* Waiting for ourselves would never end. */
        fci_err_set(err, FC_ENOMEM, "arena full: this process (pid %d), the writer, pins "
                    "version %llu with an open transaction", *pid, (unsigned long long)*version);
        return 0;
    }
    return 1;
}

static void wait_a_little(fci_writer *w)
{
    struct timespec ts = fci_realtime_deadline(STALL_POLL_MS);
    pthread_cond_signal(&w->work_cv);
    fci_gate_wait(&w->done_cv, &w->mu, &ts);
}

/* Publishes the stall (or its end) for fc_stats in every process. */
static void set_stall(fc_store *s, int stall)
{
    fci_writer *w = s->w;
    if (w->stall == stall)
        return;
    if (stall != FC_STALL_NONE)
        w->stall_count++;
    w->stall = stall;
    fci_store_count(s);
}

int fci_room_fits(fc_store *s, fci_write_batch *b)
{
    probe p;
    return build_probe(s, b, &p) == 0 || p.overflow || probe_fits(s->arena, &p);
}

int fci_room_wait(fc_store *s, fci_write_batch *b)
{
    fci_writer *w = s->w;
    probe p;
    if (build_probe(s, b, &p) == 0)
        return 0; /* nothing new to take */
    fci_pin_watch(s);
    if (p.overflow)
        return 0; /* a batch too large to simulate */
    if (probe_fits(s->arena, &p))
        return 0;
    int waited = 0, rc = 0;
    for (;;) {
        fci_store_reclaim(s);
        if (build_probe(s, b, &p) == 0 || probe_fits(s->arena, &p))
            break;
        int pid;
        uint64_t version;
        fci_err err;
        fci_err_clear(&err);
        if (!waiting_helps(s, &pid, &version, &err)) {
            rc = fci_store_fail(s, FC_ENOMEM, &err);
            break;
        }
        if (w->bg_error) {
            rc = fci_store_fail(s, w->bg_error, NULL);
            break;
        }
        set_stall(s, FC_STALL_ARENA);
        waited = 1;
        wait_a_little(w);
        fci_pin_watch(s);
    }
    if (waited && w->stall == FC_STALL_ARENA)
        set_stall(s, FC_STALL_NONE);
    return rc != 0 ? rc : waited ? FCI_ROOM_WAITED : 0;
}
