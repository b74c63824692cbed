/*
 * bench_probe.c - point gets on an existing store, for counting what one
 * get costs under a simulator: opens DIR (a `forkcache bench` data set,
 * keys "%016llu" of 0..N-1) read-only with every table mappable, then runs G
 * random gets, one transaction each, as the bench's readers do. Run it under `valgrind --tool=cachegrind` twice with two
 * values of G and divide the difference by the difference in G: what is
 * left is a get's instructions and cache misses, without the open and the
 * warm-up. Prints only a checksum.
 *
 *   bench/bench_probe DIR KEYS GETS
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "forkcache.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_probe DIR KEYS GETS\n");
        return 2;
    }
    unsigned long long keys = strtoull(argv[2], NULL, 10), gets = strtoull(argv[3], NULL, 10);
    fc_options o;
    fc_options_init(&o);
    o.flags = FC_READONLY;   /* no LOCK: runs beside a bench holding the store */
    o.max_mappings = 1 << 20;
    fc_store *s;
    int rc = fc_open(argv[1], &o, &s);
    if (rc != 0 || keys == 0) {
        fprintf(stderr, "bench_probe: open %s: %s\n", argv[1], fc_strerror(rc));
        return 1;
    }
    unsigned long long sum = 0, x = 0x9e3779b97f4a7c15ull, missing = 0;
    char key[32];
    for (unsigned long long n = 0; n < gets; n++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int klen = snprintf(key, sizeof key, "%016llu", x % keys);
        fc_txn *t;
        fc_val v;
        if (fc_txn_begin(s, &t) != 0)
            return 1;
        if (fc_get(t, key, (size_t)klen, &v) == 0)
            sum += (unsigned char)((const char *)v.data)[v.size - 1];
        else
            missing++;
        fc_txn_end(t);
    }
    printf("%llu gets, %llu missing, checksum %llu\n", gets, missing, sum);
    fc_close(s);
    return missing != 0;
}
