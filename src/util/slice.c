/*
 * slice.c - byte-string ordering shared by tables, memtables and versions.
 */
#include "config.h"

#include "util/slice.h"

int fci_bytewise_compare(fci_slice a, fci_slice b)
{
    size_t n = a.size < b.size ? a.size : b.size;
    int r = n ? memcmp(a.data, b.data, n) : 0;
    if (r != 0)
        return r;
    if (a.size == b.size)
        return 0;
    return a.size < b.size ? -1 : 1;
}
