/*
 * follow.c - reading the clear/follow block (follow.h) in any process:
 * the clears a transaction obeys, and the fill tokens that keep a value
 * read from Redis before an invalidation out of the store.
 */
#include "config.h"

#include <string.h>

#include "forkcache.h"
#include "db/core/follow.h"
#include "db/core/store.h"
#include "util/clock.h"
#include "util/hash.h"

fci_follow_shared *fci_follow_of(fc_store *s)
{
    return s->follow;
}

/* Readers take the writer's block once, at open: a writer makes it at its
 * own open, before any process can attach. */
void fci_follow_attach(fc_store *s)
{
    if (s->arena == NULL)
        return;
    /* acquire: pairs with the writer's release after filling the block */
    uint64_t off = atomic_load_explicit(&s->arena->hdr->follow_off, memory_order_acquire);
    s->follow = off ? fci_arena_ptr(s->arena, off, sizeof(fci_follow_shared)) : NULL;
}

/* One load when nothing was ever cleared or followed; otherwise a copy of
 * every record's sequence, so the transaction's reads all agree. */
void fci_clear_view_load(fc_store *s, fci_clear_view *v, int link_aware)
{
    fci_follow_shared *f = fci_follow_of(s);
    v->n = 0;
    if (f == NULL)
        return;
    /* acquire: the records below nrec are filled */
    uint32_t n = atomic_load_explicit(&f->nrec, memory_order_acquire);
    if (n > FCI_CLEAR_MAX)
        n = FCI_CLEAR_MAX; /* a damaged count never reads past the table */
    int dark = -1;         /* link down? computed once, only if followed */
    for (uint32_t i = 0; i < n; i++) {
        /* acquire: a clear's sequence is stored before the writer's next
         * publication of last_sequence, which this transaction loaded */
        uint64_t seq = atomic_load_explicit(&f->rec[i].seq, memory_order_acquire);
        if (link_aware && (f->rec[i].flags & FCI_CLEAR_FOLLOWED)) {
            if (dark < 0)
                /* relaxed: a deadline, its exact moment of arrival is moot */
                dark = fci_mono_ms() >
                       atomic_load_explicit(&f->link_ok_until, memory_order_relaxed);
            if (dark)
                seq = UINT64_MAX;
        }
        v->seq[i] = seq;
    }
    v->rec = f->rec;
    v->n = n;
}

int fci_clear_hides(const fci_clear_view *v, fci_slice ukey, uint64_t seq)
{
    for (uint32_t i = 0; i < v->n; i++) {
        const fci_clear_rec *r = &v->rec[i];
        uint32_t plen = r->plen < FCI_CLEAR_PREFIX_MAX ? r->plen : FCI_CLEAR_PREFIX_MAX;
        if (seq < v->seq[i] && ukey.size >= plen &&
            (plen == 0 || memcmp(ukey.data, r->prefix, plen) == 0))
            return 1;
    }
    return 0;
}

uint32_t fci_follow_bucket(fci_slice key)
{
    return (uint32_t)(fci_hash_fnv1a(key.data, key.size) & (FCI_FOLLOW_BUCKETS - 1));
}

void fci_fill_token(fc_store *s, fci_slice key, uint64_t tok[2])
{
    fci_follow_shared *f = fci_follow_of(s);
    tok[0] = tok[1] = 0;
    if (f == NULL)
        return;
    /* acquire: pairs with the bumps' release, before the fill's source read */
    tok[0] = atomic_load_explicit(&f->gen, memory_order_acquire);
    tok[1] = atomic_load_explicit(&f->epoch[fci_follow_bucket(key)], memory_order_acquire);
}

int fci_fill_check(fc_store *s, fci_slice key, const uint64_t tok[2])
{
    fci_follow_shared *f = fci_follow_of(s);
    if (f == NULL)
        return tok[0] == 0 && tok[1] == 0 ? 0 : FC_EMISMATCH;
    /* acquire: a bump made before the invalidation's delete was decided is
     * seen here (the decision and the delete are ordered by the writer) */
    if (atomic_load_explicit(&f->gen, memory_order_acquire) != tok[0] ||
        atomic_load_explicit(&f->epoch[fci_follow_bucket(key)], memory_order_acquire) != tok[1])
        return FC_EMISMATCH;
    /* relaxed: a figure set by the link thread; a fill refused while the
     * link is down would only be hidden by the coming clear anyway */
    if (atomic_load_explicit(&f->link, memory_order_relaxed) == FC_LINK_DOWN)
        return FC_EMISMATCH;
    return 0;
}
