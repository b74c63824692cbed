/*
 * skiplist.c - the shared-memory skiplist behind the memtable.
 *
 * Memory orders, and why they suffice:
 *  - A link (next[i]) is published with a release store after the node's
 *    height, length, entry bytes and its own links are written; readers load
 *    links with acquire, so a reader that sees a node sees all of it.
 *  - The list's height is read relaxed: a reader that sees a new height
 *    before the links at that level finds the head's link there still 0 and
 *    simply drops a level; one that sees an old height misses a shortcut.
 *  - count and bytes are statistics and the writer's own flush trigger:
 *    relaxed, because nothing is inferred from them about other memory.
 *  - The writer reads links relaxed and without bounds checks: it stored
 *    every one of them itself, under the mutex that orders its inserts.
 */
#include "config.h"

#include <string.h>

#include "forkcache.h"
#include "db/core/skiplist.h"

static size_t node_size(uint32_t height, uint32_t entry_len)
{
    return sizeof(fci_skiplist_node) + (size_t)height * sizeof(uint64_t) + entry_len;
}

/* The one gate through which every offset becomes a pointer: NULL unless the
 * whole node lies inside the region. */
static inline fci_skiplist_node *node_at(const fci_skiplist *list, uint64_t off)
{
    if (off == 0 || (off & 7) != 0 || off > list->size - sizeof(fci_skiplist_node))
        return NULL;
    fci_skiplist_node *n = (fci_skiplist_node *)(list->base + off);
    if (n->height == 0 || n->height > FCI_SKIPLIST_MAX_HEIGHT)
        return NULL;
    if (node_size(n->height, n->entry_len) > list->size - off)
        return NULL;
    return n;
}

static fci_skiplist_root *root_of(const fci_skiplist *list)
{
    return (fci_skiplist_root *)(list->base + list->root);
}

static fci_slice node_entry(const fci_skiplist_node *n)
{
    return fci_slice_make((const char *)&n->next[n->height], n->entry_len);
}

/* Acquire pairs with the writer's release in link_node(). A link out of a
 * node's height, or to a node outside the region, reads as end of level. */
static fci_skiplist_node *next_node(const fci_skiplist *list, const fci_skiplist_node *n,
                                    int level, uint64_t *off)
{
    *off = 0;
    if ((uint32_t)level >= n->height)
        return NULL;
    uint64_t o = atomic_load_explicit(&n->next[level], memory_order_acquire);
    fci_skiplist_node *next = node_at(list, o);
    if (next != NULL)
        *off = o;
    return next;
}

static uint64_t load_next(const fci_skiplist *list, const fci_skiplist_node *n, int level)
{
    uint64_t off;
    next_node(list, n, level, &off);
    return off;
}

static int list_height(const fci_skiplist *list)
{
    uint64_t h = atomic_load_explicit(&root_of(list)->height, memory_order_relaxed);
    return h < 1 ? 1 : h > FCI_SKIPLIST_MAX_HEIGHT ? FCI_SKIPLIST_MAX_HEIGHT : (int)h;
}

int fci_skiplist_create(fci_skiplist *list, char *base, size_t size, fci_skiplist_cmp cmp,
                        fci_skiplist_alloc alloc, void *alloc_ctx)
{
    memset(list, 0, sizeof *list);
    list->base = base;
    list->size = size;
    list->cmp = cmp;
    list->alloc = alloc;
    list->alloc_ctx = alloc_ctx;
    list->rng = UINT64_C(0x9e3779b97f4a7c15);
    uint64_t root = alloc(alloc_ctx, sizeof(fci_skiplist_root));
    uint64_t head = alloc(alloc_ctx, node_size(FCI_SKIPLIST_MAX_HEIGHT, 0));
    if (root == 0 || head == 0)
        return FC_ENOMEM;
    fci_skiplist_node *h = (fci_skiplist_node *)(base + head);
    h->height = FCI_SKIPLIST_MAX_HEIGHT;
    h->entry_len = 0;
    for (int i = 0; i < FCI_SKIPLIST_MAX_HEIGHT; i++)
        atomic_init(&h->next[i], 0);
    fci_skiplist_root *r = (fci_skiplist_root *)(base + root);
    atomic_init(&r->height, 1);
    atomic_init(&r->count, 0);
    atomic_init(&r->bytes, 0);
    r->head = head;
    list->root = root;
    return 0;
}

int fci_skiplist_attach(fci_skiplist *list, char *base, size_t size, uint64_t root,
                        fci_skiplist_cmp cmp)
{
    memset(list, 0, sizeof *list);
    list->base = base;
    list->size = size;
    list->cmp = cmp;
    if (root == 0 || (root & 7) != 0 || size < sizeof(fci_skiplist_root) ||
        root > size - sizeof(fci_skiplist_root))
        return FC_ECORRUPT;
    list->root = root;
    fci_skiplist_node *head = node_at(list, root_of(list)->head);
    if (head == NULL || head->height != FCI_SKIPLIST_MAX_HEIGHT)
        return FC_ECORRUPT;
    return 0;
}

static fci_skiplist_node *head_node(const fci_skiplist *list)
{
    return node_at(list, root_of(list)->head);
}

/* Height with probability 1/4 per extra level, as LevelDB: short lists at
 * the top keep a search at O(log n) comparisons. xorshift64 is enough. */
static uint32_t random_height(fci_skiplist *list)
{
    uint32_t h = 1;
    while (h < FCI_SKIPLIST_MAX_HEIGHT) {
        list->rng ^= list->rng << 13;
        list->rng ^= list->rng >> 7;
        list->rng ^= list->rng << 17;
        if ((list->rng & 3) != 0)
            break;
        h++;
    }
    return h;
}

/* The writer's view of a node: no bounds check, because the writer follows
 * only links it stored itself (every inserter of a list is the process and
 * handle lineage that created it, under the writer's mutex). */
static fci_skiplist_node *own_node(const fci_skiplist *list, uint64_t off)
{
    return (fci_skiplist_node *)(list->base + off);
}

/* Writer only. Relaxed: every link was stored by the writer itself, under
 * the mutex every insert holds, so its own stores are already visible. */
static uint64_t own_next(const fci_skiplist *list, uint64_t off, int level)
{
    return atomic_load_explicit(&own_node(list, off)->next[level], memory_order_relaxed);
}

/* Writer only. Walks from node x at level top down to level 0, filling
 * prev[top..0] with the last node before target at each level. *bigger is
 * the node that ended the walk at the level above (0 if none) with its
 * comparison in *bigger_cmp; met again one level down it is known to be
 * >= target, so it is not compared twice. On return *bigger is the first
 * node >= target at level 0. */
static void walk_down(const fci_skiplist *list, fci_slice target, uint64_t x, int top,
                      uint64_t prev[], uint64_t *bigger, int *bigger_cmp)
{
    for (int level = top; level >= 0; level--) {
        for (;;) {
            uint64_t next = own_next(list, x, level);
            if (next == 0) {
                *bigger = 0;
                *bigger_cmp = 1;
                break;
            }
            if (next == *bigger)
                break;
            fci_skiplist_node *nn = own_node(list, next);
            /* Start fetching the node after next while next is compared:
             * on a large list each step is a cache miss. */
            uint64_t after = atomic_load_explicit(&nn->next[level], memory_order_relaxed);
            if (after != 0)
                __builtin_prefetch(list->base + after);
            int c = list->cmp(node_entry(nn), target);
            if (c >= 0) {
                *bigger = next;
                *bigger_cmp = c;
                break;
            }
            x = next;
        }
        prev[level] = x;
    }
}

/* Writer only. Fills prev[level] with the last node before target at each
 * level, searching from the head; *equal is set when the first node >=
 * target equals it. */
static void find_prevs(const fci_skiplist *list, fci_slice target, uint64_t prev[], int *equal)
{
    uint64_t head = root_of(list)->head;
    uint64_t bigger = 0;
    int bigger_cmp = 1;
    /* Levels above the list's height are empty: their prev is the head. */
    int height = list_height(list);
    for (int level = FCI_SKIPLIST_MAX_HEIGHT - 1; level >= height; level--)
        prev[level] = head;
    walk_down(list, target, head, height - 1, prev, &bigger, &bigger_cmp);
    *equal = bigger != 0 && bigger_cmp == 0;
}

/* How many levels a finger search climbs before a search from the head is
 * cheaper: a target that far away was not near the last insert. */
#define FINGER_LEVELS 4

/* Writer only. A finger search from the node this handle linked last, for
 * a target above it (a sequential load, or a batch inserted in key order).
 * splice[i] is the last node at or before that node at level i, so it is
 * before target too; the lowest level whose next node is >= target brackets
 * target there and at every level above, and the walk goes down from it.
 * Valid only if nothing was linked since (the list's count says so).
 * Returns 1 with prev[] and *equal filled as find_prevs does, 0 when the
 * finger does not apply. */
static int finger_prevs(const fci_skiplist *list, fci_slice target, uint64_t prev[], int *equal)
{
    if (list->last == 0 ||
        list->last_count != atomic_load_explicit(&root_of(list)->count, memory_order_relaxed))
        return 0;
    if (list->cmp(node_entry(own_node(list, list->last)), target) >= 0)
        return 0;
    int height = list_height(list);
    for (int level = 0; level < height && level < FINGER_LEVELS; level++) {
        uint64_t next = own_next(list, list->splice[level], level);
        int c = next == 0 ? 1 : list->cmp(node_entry(own_node(list, next)), target);
        if (c < 0)
            continue;
        memcpy(prev + level, list->splice + level,
               (size_t)(FCI_SKIPLIST_MAX_HEIGHT - level) * sizeof prev[0]);
        uint64_t bigger = next;
        int bigger_cmp = c;
        if (level > 0)
            walk_down(list, target, list->splice[level], level - 1, prev, &bigger, &bigger_cmp);
        *equal = bigger != 0 && bigger_cmp == 0;
        return 1;
    }
    return 0;
}

/* Carves a node for an entry of len bytes, with its height chosen now. The
 * caller writes the entry at *entry and then links the node. Nothing is
 * reachable until fci_skiplist_link. */
int fci_skiplist_alloc_node(fci_skiplist *list, size_t len, uint64_t *node, char **entry)
{
    if (len > UINT32_MAX)
        return FC_ETOOBIG;
    uint32_t height = random_height(list);
    uint64_t off = list->alloc(list->alloc_ctx, node_size(height, (uint32_t)len));
    if (off == 0)
        return FC_ENOMEM;
    fci_skiplist_node *n = (fci_skiplist_node *)(list->base + off);
    n->height = height;
    n->entry_len = (uint32_t)len;
    *node = off;
    *entry = (char *)&n->next[height];
    return 0;
}

/* Links a node whose entry is written. A duplicate entry is refused (its
 * node's memory stays unused; entries are unique internal keys). */
int fci_skiplist_link(fci_skiplist *list, uint64_t off)
{
    fci_skiplist_node *n = own_node(list, off);
    fci_slice entry = node_entry(n);
    uint64_t prev[FCI_SKIPLIST_MAX_HEIGHT];
    int equal;
    if (!finger_prevs(list, entry, prev, &equal))
        find_prevs(list, entry, prev, &equal);
    if (equal)
        return FC_EEXIST;
    uint32_t height = n->height;
    for (uint32_t i = 0; i < height; i++)
        /* Relaxed: n is not reachable yet; the release below publishes it. */
        atomic_store_explicit(&n->next[i], own_next(list, prev[i], (int)i), memory_order_relaxed);
    for (uint32_t i = 0; i < height; i++)
        /* Release: a reader's acquire of this link sees the node complete. */
        atomic_store_explicit(&own_node(list, prev[i])->next[i], off, memory_order_release);
    fci_skiplist_root *r = root_of(list);
    if (height > atomic_load_explicit(&r->height, memory_order_relaxed))
        atomic_store_explicit(&r->height, height, memory_order_relaxed);
    /* Relaxed load and store, no read-modify-write: only the writer changes
     * these statistics, under its mutex. */
    uint64_t count = atomic_load_explicit(&r->count, memory_order_relaxed) + 1;
    atomic_store_explicit(&r->count, count, memory_order_relaxed);
    atomic_store_explicit(&r->bytes,
                          atomic_load_explicit(&r->bytes, memory_order_relaxed) +
                              node_size(height, n->entry_len),
                          memory_order_relaxed);
    /* The splice after n: n itself where it stands, its prevs above. */
    for (uint32_t i = 0; i < FCI_SKIPLIST_MAX_HEIGHT; i++)
        list->splice[i] = i < height ? off : prev[i];
    list->last = off;
    list->last_count = count;
    return 0;
}

int fci_skiplist_insert(fci_skiplist *list, fci_slice entry)
{
    uint64_t node;
    char *dst;
    int rc = fci_skiplist_alloc_node(list, entry.size, &node, &dst);
    if (rc != 0)
        return rc;
    memcpy(dst, entry.data, entry.size);
    return fci_skiplist_link(list, node);
}

uint64_t fci_skiplist_first(const fci_skiplist *list)
{
    fci_skiplist_node *h = head_node(list);
    return h ? load_next(list, h, 0) : 0;
}

uint64_t fci_skiplist_next(const fci_skiplist *list, uint64_t node)
{
    fci_skiplist_node *n = node_at(list, node);
    return n ? load_next(list, n, 0) : 0;
}

uint64_t fci_skiplist_seek(const fci_skiplist *list, fci_slice target)
{
    uint64_t x = root_of(list)->head;
    fci_skiplist_node *xn = node_at(list, x);
    if (xn == NULL)
        return 0;
    int level = list_height(list) - 1;
    for (;;) {
        uint64_t next = load_next(list, xn, level);
        fci_skiplist_node *nn = node_at(list, next);
        if (nn != NULL && list->cmp(node_entry(nn), target) < 0) {
            xn = nn;
            continue;
        }
        if (level == 0)
            return next;
        level--;
    }
}

/* Walks right while the next entry is below target (or, with target NULL,
 * while there is a next entry), dropping a level at each stop. */
static uint64_t walk_last_below(const fci_skiplist *list, const fci_slice *target)
{
    uint64_t head = root_of(list)->head;
    uint64_t x = head;
    fci_skiplist_node *xn = node_at(list, x);
    if (xn == NULL)
        return 0;
    int level = list_height(list) - 1;
    for (;;) {
        uint64_t next = load_next(list, xn, level);
        fci_skiplist_node *nn = node_at(list, next);
        if (nn != NULL && (target == NULL || list->cmp(node_entry(nn), *target) < 0)) {
            x = next;
            xn = nn;
            continue;
        }
        if (level == 0)
            return x == head ? 0 : x;
        level--;
    }
}

uint64_t fci_skiplist_seek_before(const fci_skiplist *list, fci_slice target)
{
    return walk_last_below(list, &target);
}

uint64_t fci_skiplist_last(const fci_skiplist *list)
{
    return walk_last_below(list, NULL);
}

fci_slice fci_skiplist_entry(const fci_skiplist *list, uint64_t node)
{
    fci_skiplist_node *n = node_at(list, node);
    return n ? node_entry(n) : fci_slice_make(NULL, 0);
}

uint64_t fci_skiplist_count(const fci_skiplist *list)
{
    return atomic_load_explicit(&root_of(list)->count, memory_order_relaxed);
}

uint64_t fci_skiplist_bytes(const fci_skiplist *list)
{
    return atomic_load_explicit(&root_of(list)->bytes, memory_order_relaxed);
}
