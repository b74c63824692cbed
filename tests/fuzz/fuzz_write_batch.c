/*
 * fuzz_write_batch.c - the WriteBatch parser on arbitrary bytes. It must
 * stay inside the input, never trust the count (4 billion costs nothing),
 * and whatever it accepts must rebuild into a batch that reads back the
 * same records.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "forkcache.h"
#include "format/dbformat.h"
#include "format/write_batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct walk {
    const char *lo, *hi;        /* the input */
    fci_write_batch *rebuilt;   /* NULL: only check bounds */
    uint64_t next_seq;
    uint32_t n;
} walk;

static int visit(void *arg, uint64_t seq, int type, fci_slice key, fci_slice value)
{
    walk *w = arg;
    if (key.data < w->lo || key.data + key.size > w->hi || value.data < w->lo ||
        value.data + value.size > w->hi)
        __builtin_trap();
    if (w->n > 0 && seq != w->next_seq)
        __builtin_trap();
    w->next_seq = seq + 1;
    w->n++;
    if (w->rebuilt == NULL)
        return 0;
    if (type == FCI_TYPE_VALUE)
        return fci_batch_put(w->rebuilt, key, value);
    if (type == FCI_TYPE_DELETION)
        return fci_batch_delete(w->rebuilt, key);
    __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fci_slice rep = fci_slice_make(data, size);
    const char *lo = (const char *)data, *hi = lo + size;
    fci_write_batch b;
    if (fci_batch_init(&b) != 0)
        return 0;

    int valid = fci_batch_validate(rep, NULL);
    walk w = { lo, hi, &b, 0, 0 };
    int rc = fci_batch_iterate(rep, visit, &w, NULL);
    walk w2 = { lo, hi, NULL, 0, 0 };
    int rc2 = fci_batch_insert(rep, visit, &w2, NULL);
    if (valid != 0) {
        if (rc == 0 || rc2 == 0 || w2.n != 0)   /* insert touches nothing */
            __builtin_trap();
        fci_batch_free(&b);
        return 0;
    }
    if (rc != 0)
        __builtin_trap();
    uint64_t seq;
    uint32_t count;
    if (fci_batch_header(rep, &seq, &count, NULL) != 0 || count != w.n)
        __builtin_trap();
    /* Insert refuses only sequences past the maximum. */
    if (rc2 != 0 && !(count > 0 && (seq > FCI_MAX_SEQUENCE || count - 1 > FCI_MAX_SEQUENCE - seq)))
        __builtin_trap();

    /* The rebuilt batch encodes canonically; it must read back the same. */
    fci_batch_set_sequence(&b, seq);
    if (fci_batch_count(&b) != count || b.rep.size > size)
        __builtin_trap();
    fci_write_batch again;
    if (fci_batch_init(&again) == 0) {
        walk w3 = { b.rep.data, b.rep.data + b.rep.size, &again, 0, 0 };
        if (fci_batch_iterate(fci_batch_contents(&b), visit, &w3, NULL) != 0 || w3.n != count)
            __builtin_trap();
        fci_batch_set_sequence(&again, seq);
        if (again.rep.size != b.rep.size || memcmp(again.rep.data, b.rep.data, b.rep.size) != 0)
            __builtin_trap();
        fci_batch_free(&again);
    }
    fci_batch_free(&b);
    return 0;
}
