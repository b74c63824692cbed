/*
 * check_api_hostile.c - careless and hostile callers of the public API:
 * NULL handles and pointers, zero and maximal lengths, sizes over the
 * documented limits (passed with buffers far shorter than claimed, so a
 * function that read before checking would fault), bad flags and options,
 * a transaction used after its end, handles used in a forked child before
 * fc_after_fork, the wrong role, and arena files another user could write
 * or that are symbolic links. Every case must return an FC_E* code; each
 * test runs in its own Check process, so a crash fails one test only.
 *
 * Undefined, like free(): any use of a store handle after fc_close, and of
 * a transaction once more than FCI_TXN_GRAVES later transactions of the
 * process have ended (its memory is then freed). Those are not tested.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"

static fc_store *open_small(void)
{
    fc_options o = fct_small_opts();
    return fct_open_in(&o);
}

/* Waits for a forked child whose exit status is a bit set of failed
 * checks (0: all passed). */
static void child_ok(pid_t pid, const char *what)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s failed: status %#x", what,
                  status);
}

/* A txn with one key in it, for the read-side cases. */
static fc_store *store_with_key(fc_txn **t)
{
    fc_store *s = open_small();
    ck_assert_int_eq(fc_put(s, "k", 1, "v", 1), 0);
    ck_assert_int_eq(fc_txn_begin(s, t), 0);
    return s;
}

/* ---- NULL handles and out-pointers --------------------------------------- */

START_TEST(null_handles)
{
    fc_val v;
    size_t n = 7;
    fc_stats st;
    fc_reader_stat rs[2];
    ck_assert_int_eq(fc_open("x", NULL, NULL), FC_EINVAL);
    ck_assert_int_eq(fc_close(NULL), FC_EINVAL);
    ck_assert_int_eq(fc_after_fork(NULL), FC_EINVAL);
    ck_assert_ptr_nonnull(fc_errmsg(NULL));
    ck_assert_int_eq(fc_put(NULL, "k", 1, "v", 1), FC_EINVAL);
    ck_assert_int_eq(fc_put_ttl(NULL, "k", 1, "v", 1, 10), FC_EINVAL);
    ck_assert_int_eq(fc_batch_put_ttl(NULL, "k", 1, "v", 1, 10), FC_EINVAL);
    uint64_t left;
    ck_assert_int_eq(fc_ttl(NULL, "k", 1, &left), FC_EINVAL);
    ck_assert_int_eq(fc_del(NULL, "k", 1), FC_EINVAL);
    ck_assert_int_eq(fc_batch_new(NULL), FC_EINVAL);
    ck_assert_int_eq(fc_batch_put(NULL, "k", 1, "v", 1), FC_EINVAL);
    ck_assert_int_eq(fc_batch_del(NULL, "k", 1), FC_EINVAL);
    fc_batch_clear(NULL);
    ck_assert_uint_eq(fc_batch_count(NULL), 0);
    fc_batch_free(NULL);
    ck_assert_int_eq(fc_write(NULL, NULL, 0), FC_EINVAL);
    ck_assert_int_eq(fc_flush(NULL), FC_EINVAL);
    ck_assert_int_eq(fc_compact_range(NULL, NULL, 0, NULL, 0), FC_EINVAL);
    ck_assert_int_eq(fc_txn_begin(NULL, NULL), FC_EINVAL);
    ck_assert_int_eq(fc_txn_end(NULL), FC_EINVAL);
    ck_assert_int_eq(fc_get(NULL, "k", 1, &v), FC_EINVAL);
    ck_assert_int_eq(fc_get_copy(NULL, "k", 1, NULL, 0, NULL), FC_EINVAL);
    ck_assert_int_eq(fc_iter_new(NULL, NULL), FC_EINVAL);
    ck_assert_int_eq(fc_iter_first(NULL), FC_EINVAL);
    ck_assert_int_eq(fc_iter_last(NULL), FC_EINVAL);
    ck_assert_int_eq(fc_iter_seek(NULL, "k", 1), FC_EINVAL);
    ck_assert_int_eq(fc_iter_next(NULL), FC_EINVAL);
    ck_assert_int_eq(fc_iter_prev(NULL), FC_EINVAL);
    ck_assert_int_eq(fc_iter_valid(NULL), 0);
    ck_assert_uint_eq(fc_iter_key(NULL).size, 0);
    ck_assert_uint_eq(fc_iter_value(NULL).size, 0);
    ck_assert_int_eq(fc_iter_status(NULL), FC_EINVAL);
    fc_iter_free(NULL);
    ck_assert_int_eq(fc_stats_get(NULL, &st), FC_EINVAL);
    ck_assert_int_eq(fc_stats_readers(NULL, rs, 2, &n), FC_EINVAL);
    ck_assert_int_eq(fc_verify(NULL, NULL, NULL), FC_EINVAL);
    ck_assert_int_eq(fc_options_validate(NULL, NULL), FC_EINVAL);
    fc_options_init(NULL);
    ck_assert_ptr_nonnull(fc_version(NULL, NULL, NULL));
}
END_TEST

/* A live store, NULL for every out-pointer or second handle. */
START_TEST(null_out_pointers)
{
    fc_txn *t;
    fc_store *s = store_with_key(&t);
    ck_assert_int_eq(fc_txn_begin(s, NULL), FC_EINVAL);
    ck_assert_int_eq(fc_get(t, "k", 1, NULL), FC_EINVAL);
    ck_assert_int_eq(fc_ttl(t, "k", 1, NULL), FC_EINVAL);
    ck_assert_int_eq(fc_iter_new(t, NULL), FC_EINVAL);
    ck_assert_int_eq(fc_write(s, NULL, 0), FC_EINVAL);
    ck_assert_int_eq(fc_stats_get(s, NULL), FC_EINVAL);
    size_t n = 5;
    ck_assert_int_eq(fc_stats_readers(s, NULL, 4, &n), FC_EINVAL);
    ck_assert_int_eq(fc_stats_readers(s, NULL, 0, NULL), FC_EINVAL);
    ck_assert_int_eq(fc_stats_readers(s, NULL, 0, &n), 0);
    ck_assert_uint_eq(n, 0);
    /* fc_get_copy with no length out: the copy itself still works */
    char buf[4];
    ck_assert_int_eq(fc_get_copy(t, "k", 1, buf, sizeof buf, NULL), 0);
    ck_assert_int_eq(buf[0], 'v');
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- NULL pointers with nonzero lengths ------------------------------------ */

START_TEST(null_pointers_with_lengths)
{
    fc_txn *t;
    fc_store *s = store_with_key(&t);
    fc_batch *b;
    fc_val v;
    size_t vlen = 99;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    ck_assert_int_eq(fc_put(s, NULL, 3, "v", 1), FC_EINVAL);
    ck_assert_int_eq(fc_put(s, "k", 1, NULL, 3), FC_EINVAL);
    ck_assert_int_eq(fc_del(s, NULL, 3), FC_EINVAL);
    ck_assert_int_eq(fc_batch_put(b, NULL, 3, "v", 1), FC_EINVAL);
    ck_assert_int_eq(fc_batch_put(b, "k", 1, NULL, 3), FC_EINVAL);
    ck_assert_int_eq(fc_batch_del(b, NULL, 3), FC_EINVAL);
    ck_assert_uint_eq(fc_batch_count(b), 0);
    ck_assert_int_eq(fc_get(t, NULL, 3, &v), FC_EINVAL);
    uint64_t left;
    ck_assert_int_eq(fc_ttl(t, NULL, 3, &left), FC_EINVAL);
    ck_assert_int_eq(fc_put_ttl(s, NULL, 3, "v", 1, 0), FC_EINVAL);
    ck_assert_int_eq(fc_put_ttl(s, "k", 1, NULL, 3, 0), FC_EINVAL);
    ck_assert_int_eq(fc_batch_put_ttl(b, NULL, 3, "v", 1, 0), FC_EINVAL);
    ck_assert_int_eq(fc_batch_put_ttl(b, "k", 1, NULL, 3, 0), FC_EINVAL);
    ck_assert_int_eq(fc_get_copy(t, NULL, 3, NULL, 0, &vlen), FC_EINVAL);
    /* A NULL buffer that claims room: the value does not fit in nothing. */
    ck_assert_int_eq(fc_get_copy(t, "k", 1, NULL, 100, &vlen), FC_ELIMIT);
    ck_assert_uint_eq(vlen, 1);
    fc_iter *it;
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    ck_assert_int_eq(fc_iter_seek(it, NULL, 3), FC_EINVAL);
    fc_iter_free(it);
    fc_batch_free(b);
    ck_assert_int_eq(fc_txn_end(t), 0);
    /* Nothing above wrote anything. */
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_eq(st.last_sequence, 1);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- zero lengths ----------------------------------------------------------- */

START_TEST(zero_lengths)
{
    fc_store *s = open_small();
    /* The empty key and the empty value are ordinary data. */
    ck_assert_int_eq(fc_put(s, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(fc_put(s, "e", 1, "", 0), 0);
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    ck_assert_int_eq(fc_write(s, b, 0), 0); /* an empty batch writes nothing */
    ck_assert_int_eq(fc_batch_put(b, "", 0, "x", 1), 0);
    ck_assert_int_eq(fc_batch_del(b, NULL, 0), 0);
    ck_assert_uint_eq(fc_batch_count(b), 2);
    ck_assert_int_eq(fc_write(s, b, FC_WRITE_SYNC), 0);
    fc_batch_free(b);
    ck_assert_int_eq(fc_put(s, NULL, 0, "z", 1), 0);
    fc_txn *t;
    fc_val v;
    size_t vlen = 99;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_get(t, NULL, 0, &v), 0);
    ck_assert_uint_eq(v.size, 1);
    ck_assert_int_eq(fc_get(t, "e", 1, &v), 0);
    ck_assert_uint_eq(v.size, 0);
    ck_assert_int_eq(fc_get_copy(t, "e", 1, NULL, 0, &vlen), 0);
    ck_assert_uint_eq(vlen, 0);
    ck_assert_int_eq(fc_get_copy(t, "", 0, NULL, 0, &vlen), FC_ELIMIT);
    ck_assert_uint_eq(vlen, 1);
    fc_iter *it;
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    ck_assert_int_eq(fc_iter_seek(it, NULL, 0), 0);
    ck_assert_uint_eq(fc_iter_key(it).size, 0); /* the empty key sorts first */
    ck_assert_int_eq(fc_iter_seek(it, "", 0), 0);
    fc_iter_free(it);
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_compact_range(s, "", 0, "", 0), 0);
    ck_assert_int_eq(fc_flush(s), 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_get(t, "", 0, &v), 0);
    ck_assert_int_eq(((const char *)v.data)[0], 'z');
    ck_assert_int_eq(fc_txn_end(t), 0);
    fc_reader_stat rs;
    size_t n = 3;
    ck_assert_int_eq(fc_stats_readers(s, &rs, 0, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- lengths at and over the limits ------------------------------------------ */

/* The buffers are a few bytes long while the lengths claim megabytes: the
 * size check must come before any byte is read. */
START_TEST(lengths_over_the_limits)
{
    fc_txn *t;
    fc_store *s = store_with_key(&t);
    fc_batch *b;
    char small[8] = "kkkkkkk";
    fc_val v;
    const size_t huge[] = { FC_MAX_KEY_SIZE + 1u, FC_MAX_VALUE_SIZE + 1u, SIZE_MAX / 2,
                            SIZE_MAX };
    ck_assert_int_eq(fc_batch_new(&b), 0);
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        size_t n = huge[i];
        ck_assert_int_eq(fc_put(s, small, n, "v", 1), FC_ETOOBIG);
        ck_assert_int_eq(fc_del(s, small, n), FC_ETOOBIG);
        ck_assert_int_eq(fc_batch_put(b, small, n, "v", 1), FC_ETOOBIG);
        ck_assert_int_eq(fc_batch_del(b, small, n), FC_ETOOBIG);
        ck_assert_int_eq(fc_get(t, small, n, &v), FC_ETOOBIG);
        uint64_t left;
        ck_assert_int_eq(fc_ttl(t, small, n, &left), FC_ETOOBIG);
        ck_assert_int_eq(fc_put_ttl(s, small, n, "v", 1, 0), FC_ETOOBIG);
        ck_assert_int_eq(fc_batch_put_ttl(b, small, n, "v", 1, 0), FC_ETOOBIG);
        if (n > FC_MAX_VALUE_SIZE) {
            ck_assert_int_eq(fc_put(s, "k", 1, small, n), FC_ETOOBIG);
            ck_assert_int_eq(fc_batch_put(b, "k", 1, small, n), FC_ETOOBIG);
        }
    }
    ck_assert_str_eq(fc_errmsg(s), fc_strerror(FC_ETOOBIG));
    ck_assert_uint_eq(fc_batch_count(b), 0);
    fc_batch_free(b);
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A key of exactly FC_MAX_KEY_SIZE and a value of exactly FC_MAX_VALUE_SIZE
 * are stored, flushed into a table, compacted and read back whole. */
START_TEST(lengths_at_the_limits)
{
    fc_options o = fct_small_opts();
    o.arena_size = (size_t)512 << 20; /* the 64 MiB value lives in a memtable first */
    fc_store *s = fct_open_in(&o);
    char *key = malloc(FC_MAX_KEY_SIZE);
    char *val = malloc(FC_MAX_VALUE_SIZE);
    ck_assert_ptr_nonnull(key);
    ck_assert_ptr_nonnull(val);
    for (size_t i = 0; i < FC_MAX_KEY_SIZE; i++)
        key[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < FC_MAX_VALUE_SIZE; i++)
        val[i] = (char)(i * 7 + (i >> 16));
    ck_assert_int_eq(fc_put(s, key, FC_MAX_KEY_SIZE, "small", 5), 0);
    ck_assert_int_eq(fc_put(s, "big", 3, val, FC_MAX_VALUE_SIZE), 0);
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    ck_assert_int_eq(fc_batch_del(b, key, FC_MAX_KEY_SIZE), 0);
    ck_assert_int_eq(fc_batch_put(b, key, FC_MAX_KEY_SIZE - 1, "shorter", 7), 0);
    ck_assert_int_eq(fc_write(s, b, 0), 0);
    fc_batch_free(b);
    for (int round = 0; round < 2; round++) {
        fc_txn *t;
        fc_val v;
        ck_assert_int_eq(fc_txn_begin(s, &t), 0);
        ck_assert_int_eq(fc_get(t, "big", 3, &v), 0);
        ck_assert_uint_eq(v.size, FC_MAX_VALUE_SIZE);
        ck_assert(memcmp(v.data, val, FC_MAX_VALUE_SIZE) == 0);
        ck_assert_int_eq(fc_get(t, key, FC_MAX_KEY_SIZE, &v), FC_ENOTFOUND);
        ck_assert_int_eq(fc_get(t, key, FC_MAX_KEY_SIZE - 1, &v), 0);
        ck_assert_uint_eq(v.size, 7);
        ck_assert_int_eq(fc_txn_end(t), 0);
        ck_assert_int_eq(fc_flush(s), 0);
        ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    }
    free(key);
    free(val);
    ck_assert_int_eq(fc_close(s), 0);
    ck_assert_int_eq(fc_verify(fct_dir, NULL, NULL), 0);
}
END_TEST

/* Times to live at the extremes: the largest ttl never wraps into the
 * past, a framed store's value limit leaves room for the frame, and a
 * ttl on a store without framing is refused. */
START_TEST(ttl_extremes)
{
    fc_options o = fct_small_opts();
    o.ttl_framing = 1;
    fc_store *s = fct_open_in(&o);
    char small[8] = "vvvvvvv";
    ck_assert_int_eq(fc_put_ttl(s, "max", 3, "v", 1, UINT64_MAX), 0);
    ck_assert_int_eq(fc_put_ttl(s, "big", 3, "v", 1, UINT64_MAX / 2), 0);
    ck_assert_int_eq(fc_put_ttl(s, "k", 1, small, FC_MAX_VALUE_SIZE - FC_TTL_FRAME_SIZE + 1, 5),
                     FC_ETOOBIG);
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    ck_assert_int_eq(fc_batch_put_ttl(b, "bmax", 4, "v", 1, UINT64_MAX), 0);
    ck_assert_int_eq(fc_write(s, b, 0), 0);
    fc_txn *t;
    fc_val v;
    uint64_t left = 0;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    const char *keys[] = { "max", "big", "bmax" };
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(fc_get(t, keys[i], strlen(keys[i]), &v) == 0, "%s expired at once", keys[i]);
        ck_assert_int_eq(fc_ttl(t, keys[i], strlen(keys[i]), &left), 0);
        ck_assert_uint_gt(left, (uint64_t)1 << 40);
    }
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_close(s), 0);
    /* a store without framing */
    fct_rmtree(fct_dir);
    o = fct_small_opts();
    s = fct_open_in(&o);
    ck_assert_int_eq(fc_put_ttl(s, "k", 1, "v", 1, 10), FC_EUNSUPPORTED);
    ck_assert_int_eq(fc_write(s, b, 0), FC_EUNSUPPORTED);
    fc_batch_free(b);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- a transaction used after its end --------------------------------------- */

START_TEST(txn_after_end)
{
    fc_txn *t, *t2;
    fc_store *s = store_with_key(&t);
    fc_val v;
    char buf[4];
    fc_iter *it = (fc_iter *)&v;
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_txn_end(t), FC_ECLOSED);
    ck_assert_int_eq(fc_get(t, "k", 1, &v), FC_ECLOSED);
    ck_assert_int_eq(fc_get_copy(t, "k", 1, buf, sizeof buf, NULL), FC_ECLOSED);
    uint64_t left;
    ck_assert_int_eq(fc_ttl(t, "k", 1, &left), FC_ECLOSED);
    ck_assert_int_eq(fc_iter_new(t, &it), FC_ECLOSED);
    ck_assert_ptr_null(it);
    /* Detected for the next FCI_TXN_GRAVES - 1 ends too (8 in this
     * release), and a new transaction is never mistaken for the old. */
    for (int i = 0; i < 7; i++) {
        ck_assert_int_eq(fc_txn_begin(s, &t2), 0);
        ck_assert_ptr_ne(t2, t);
        ck_assert_int_eq(fc_get(t2, "k", 1, &v), 0);
        ck_assert_int_eq(fc_txn_end(t2), 0);
        ck_assert_int_eq(fc_get(t, "k", 1, &v), FC_ECLOSED);
    }
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* An iterator keeps its txn from ending; misuse of iterators is refused. */
START_TEST(iterator_misuse)
{
    fc_txn *t;
    fc_store *s = store_with_key(&t);
    fc_iter *it;
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    ck_assert_int_eq(fc_iter_next(it), FC_EINVAL); /* not positioned */
    ck_assert_int_eq(fc_iter_prev(it), FC_EINVAL);
    ck_assert_uint_eq(fc_iter_key(it).size, 0);
    ck_assert_uint_eq(fc_iter_value(it).size, 0);
    ck_assert_int_eq(fc_txn_end(t), FC_EBUSY);
    ck_assert_int_eq(fc_iter_first(it), 0);
    ck_assert_int_eq(fc_iter_next(it), FC_ENOTFOUND);
    ck_assert_int_eq(fc_iter_next(it), FC_EINVAL); /* ran off the end */
    ck_assert_int_eq(fc_iter_status(it), 0);
    fc_iter_free(it);
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- bad flags and options ------------------------------------------------- */

START_TEST(bad_write_flags)
{
    fc_store *s = open_small();
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    ck_assert_int_eq(fc_batch_put(b, "k", 1, "v", 1), 0);
    ck_assert_int_eq(fc_write(s, b, 0x2u), FC_EINVAL);
    ck_assert_int_eq(fc_write(s, b, ~0u), FC_EINVAL);
    ck_assert_int_eq(fc_write(s, b, FC_WRITE_SYNC), 0);
    fc_batch_free(b);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

typedef struct bad_option {
    const char *field;
    void (*spoil)(fc_options *o);
} bad_option;

static void spoil_flags(fc_options *o) { o->flags = 0x8000u; }
static void spoil_ro_sync(fc_options *o) { o->flags = FC_READONLY | FC_SYNC; }
static void spoil_wbuf(fc_options *o) { o->write_buffer_size = 0; }
static void spoil_wbuf_max(fc_options *o) { o->write_buffer_size = SIZE_MAX; }
static void spoil_block(fc_options *o) { o->block_size = 1; }
static void spoil_restart(fc_options *o) { o->block_restart_interval = -1; }
static void spoil_file(fc_options *o) { o->max_file_size = SIZE_MAX; }
static void spoil_bloom(fc_options *o) { o->bloom_bits_per_key = INT_MIN; }
static void spoil_compression(fc_options *o) { o->compression = 99; }
static void spoil_mappings(fc_options *o) { o->max_mappings = -5; }
static void spoil_slots(fc_options *o) { o->reader_slots = 0; }
static void spoil_arena(fc_options *o) { o->arena_size = 4096; }
static void spoil_cache(fc_options *o) { o->block_cache_size = o->arena_size; }
static void spoil_mode(fc_options *o) { o->file_mode = 0777; }
static void spoil_mode_owner(fc_options *o) { o->file_mode = 0066; }
static void spoil_queue(fc_options *o) { o->queue_slots = 0; }
static void spoil_entry(fc_options *o) { o->queue_entry_size = SIZE_MAX; }
static void spoil_timeout(fc_options *o) { o->write_timeout_ms = -1; }
static void spoil_age(fc_options *o) { o->max_snapshot_age_ms = INT_MIN; }
static void spoil_framing(fc_options *o) { o->ttl_framing = 2; }
static void spoil_max_bytes(fc_options *o) { o->max_bytes = 1; }

static const bad_option bad_options[] = {
    { "flags", spoil_flags },
    { "flags", spoil_ro_sync },
    { "write_buffer_size", spoil_wbuf },
    { "write_buffer_size", spoil_wbuf_max },
    { "block_size", spoil_block },
    { "block_restart_interval", spoil_restart },
    { "max_file_size", spoil_file },
    { "bloom_bits_per_key", spoil_bloom },
    { "compression", spoil_compression },
    { "max_mappings", spoil_mappings },
    { "reader_slots", spoil_slots },
    { "arena_size", spoil_arena },
    { "block_cache_size", spoil_cache },
    { "file_mode", spoil_mode },
    { "file_mode", spoil_mode_owner },
    { "queue_slots", spoil_queue },
    { "queue_entry_size", spoil_entry },
    { "write_timeout_ms", spoil_timeout },
    { "max_snapshot_age_ms", spoil_age },
    { "ttl_framing", spoil_framing },
    { "max_bytes", spoil_max_bytes },
};

/* Each bad field is named by fc_options_validate and by fc_errmsg(NULL)
 * after the refused open, and nothing is created. */
START_TEST(bad_options_refused)
{
    const bad_option *bo = &bad_options[_i];
    fc_options o;
    fc_options_init(&o);
    bo->spoil(&o);
    const char *why = NULL;
    ck_assert_int_eq(fc_options_validate(&o, &why), FC_EINVAL);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strncmp(why, bo->field, strlen(bo->field)) == 0, "%s: %s", bo->field, why);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/store", fct_dir);
    fc_store *s = (fc_store *)&o;
    ck_assert_int_eq(fc_open(dir, &o, &s), FC_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(fc_errmsg(NULL), bo->field) != NULL, "%s", fc_errmsg(NULL));
    ck_assert_int_eq(access(dir, F_OK), -1);
}
END_TEST

START_TEST(bad_directories)
{
    fc_store *s = NULL;
    fc_options o = fct_small_opts();
    char path[PATH_MAX + 64];
    ck_assert_int_eq(fc_open(NULL, &o, &s), FC_EINVAL);
    ck_assert_int_eq(fc_open("", &o, &s), FC_EINVAL);
    ck_assert_ptr_nonnull(strstr(fc_errmsg(NULL), "dir"));
    memset(path, 'a', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    ck_assert_int_eq(fc_open(path, &o, &s), FC_EINVAL);
    /* A regular file where the store should be. */
    snprintf(path, sizeof path, "%s/file", fct_dir);
    FILE *f = fopen(path, "we");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    int rc = fc_open(path, &o, &s);
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(s);
    /* No store, no FC_CREATE; and read-only needs a store. */
    snprintf(path, sizeof path, "%s/absent", fct_dir);
    o.flags = 0;
    ck_assert_int_eq(fc_open(path, &o, &s), FC_ENOTFOUND);
    o.flags = FC_READONLY;
    ck_assert_int_lt(fc_open(path, &o, &s), 0);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(fc_verify(path, NULL, NULL), FC_ENOTFOUND);
    ck_assert_int_lt(fc_verify("", NULL, NULL), 0);
}
END_TEST

START_TEST(strerror_any_code)
{
    const int codes[] = { 0, 1, -1, FC_ERRNO_LAST, FC_ERRNO_LAST - 1, INT_MIN, INT_MAX };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        ck_assert_ptr_nonnull(fc_strerror(codes[i]));
    ck_assert_str_eq(fc_strerror(INT_MIN), "unknown forkcache error");
}
END_TEST

/* ---- wrong role, wrong process -------------------------------------------- */

START_TEST(readonly_handle_refuses_writes)
{
    fc_store *s = open_small();
    ck_assert_int_eq(fc_put(s, "k", 1, "v", 1), 0);
    fc_options o = fct_small_opts();
    o.flags = FC_READONLY;
    fc_store *ro = NULL;
    ck_assert_int_eq(fc_open(fct_dir, &o, &ro), 0);
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    ck_assert_int_eq(fc_batch_put(b, "k", 1, "v", 1), 0);
    ck_assert_int_eq(fc_put(ro, "k", 1, "v", 1), FC_EREADONLY);
    ck_assert_int_eq(fc_del(ro, "k", 1), FC_EREADONLY);
    ck_assert_int_eq(fc_write(ro, b, 0), FC_EREADONLY);
    ck_assert_int_eq(fc_flush(ro), FC_EREADONLY);
    ck_assert_int_eq(fc_compact_range(ro, NULL, 0, NULL, 0), FC_EREADONLY);
    fc_batch_free(b);
    ck_assert_int_eq(fc_close(ro), 0);
    /* A second writer in the same process is refused, naming the pid, and
     * the refusal leaves the first one's lock in place: another process
     * is still refused too. */
    fc_store *second = NULL;
    o = fct_small_opts();
    ck_assert_int_eq(fc_open(fct_dir, &o, &second), FC_EBUSY);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    ck_assert_msg(strstr(fc_errmsg(NULL), pid) != NULL, "%s", fc_errmsg(NULL));
    o.flags |= FC_ATTACH;
    ck_assert_int_eq(fc_open(fct_dir, &o, &second), FC_EBUSY);
    ck_assert_int_eq(fc_put(s, "k2", 2, "v", 1), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* The refused second open above must not have dropped the first writer's
 * fcntl lock (closing any descriptor of LOCK would): another process is
 * still refused. */
START_TEST(refused_second_open_keeps_the_lock)
{
    fc_store *s = open_small();
    fc_store *second = NULL;
    fc_options o = fct_small_opts();
    ck_assert_int_eq(fc_open(fct_dir, &o, &second), FC_EBUSY);
    pid_t child = fc_fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        fc_options c = fct_small_opts();
        fc_store *other = NULL;
        _exit(fc_open(fct_dir, &c, &other) == FC_EBUSY ? 0 : 1);
    }
    child_ok(child, "another process opened the store as a second writer");
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A forked child that skips fc_after_fork gets errors, not the parent's
 * slot or role. */
START_TEST(child_without_after_fork)
{
    fc_store *s = open_small();
    ck_assert_int_eq(fc_put(s, "k", 1, "v", 1), 0);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fc_txn *t;
        int bad = 0;
        bad |= fc_txn_begin(s, &t) != FC_EINVAL;
        bad |= (fc_put(s, "k", 1, "x", 1) != FC_EINVAL) << 1;
        bad |= (fc_flush(s) != FC_EREADONLY) << 2;
        bad |= (fc_compact_range(s, NULL, 0, NULL, 0) != FC_EREADONLY) << 3;
        /* after fc_after_fork the child reads */
        fc_val v;
        if (fc_after_fork(s) != 0 || fc_txn_begin(s, &t) != 0 || fc_get(t, "k", 1, &v) != 0 ||
            fc_txn_end(t) != 0)
            bad |= 1 << 4;
        _exit(bad);
    }
    child_ok(pid, "a check in the child");
    ck_assert_int_eq(fc_put(s, "k", 1, "w", 1), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- arena files another user could write, or symlinks ------------------------ */

static void arena_path(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", fct_dir, FC_ARENA_FILE);
}

static fc_options file_arena_opts(unsigned flags)
{
    fc_options o = fct_small_opts();
    o.arena_path = "";
    o.flags |= flags;
    return o;
}

/* The writer refuses to open over an arena path that is a symlink, or a
 * file group or others may write; the message says why. */
START_TEST(writer_refuses_unsafe_arena_file)
{
    char path[4200], target[4200];
    arena_path(path, sizeof path);
    snprintf(target, sizeof target, "%s/elsewhere", fct_dir);
    int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(symlink(target, path), 0);
    fc_options o = file_arena_opts(0);
    fc_store *s = NULL;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), FC_EPERM);
    ck_assert_msg(strstr(fc_errmsg(NULL), "symbolic link") != NULL, "%s", fc_errmsg(NULL));
    struct stat st;
    ck_assert_int_eq(stat(target, &st), 0);
    ck_assert_int_eq(st.st_size, 0); /* nothing written through the link */
    ck_assert_int_eq(unlink(path), 0);
    /* A real arena, left by a writer that is gone, made group-writable. */
    s = fct_open_in(&o);
    ck_assert_int_eq(fc_close(s), 0);
    ck_assert_int_eq(chmod(path, 0620), 0);
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), FC_EPERM);
    ck_assert_msg(strstr(fc_errmsg(NULL), "writable by group or others") != NULL, "%s",
                  fc_errmsg(NULL));
    ck_assert_int_eq(chmod(path, 0606), 0);
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), FC_EPERM);
    ck_assert_int_eq(chmod(path, 0600), 0);
    s = fct_open_in(&o);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A process attaching to a running writer refuses the writer's arena once
 * someone made it writable by others, or swapped in a symlink. */
START_TEST(attach_refuses_unsafe_arena_file)
{
    char path[4200], moved[4200];
    arena_path(path, sizeof path);
    snprintf(moved, sizeof moved, "%s/moved.arena", fct_dir);
    fc_options o = file_arena_opts(0);
    fc_store *w = fct_open_in(&o);
    ck_assert_int_eq(fc_put(w, "k", 1, "v", 1), 0);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* A separate process, not an fc_after_fork child: it attaches. */
        fc_options a = file_arena_opts(FC_ATTACH);
        fc_store *s = NULL;
        int bad = 0;
        if (chmod(path, 0666) != 0)
            _exit(100);
        bad |= fc_open(fct_dir, &a, &s) != FC_EPERM;
        bad |= (strstr(fc_errmsg(NULL), "writable by group or others") == NULL) << 1;
        if (chmod(path, 0600) != 0 || rename(path, moved) != 0 || symlink(moved, path) != 0)
            _exit(101);
        bad |= (fc_open(fct_dir, &a, &s) != FC_EPERM) << 2;
        bad |= (strstr(fc_errmsg(NULL), "symbolic link") == NULL) << 3;
        if (unlink(path) != 0 || rename(moved, path) != 0)
            _exit(102);
        if (fc_open(fct_dir, &a, &s) != 0)
            _exit(103);
        fc_txn *t;
        fc_val v;
        bad |= (fc_txn_begin(s, &t) != 0 || fc_get(t, "k", 1, &v) != 0) << 4;
        fc_txn_end(t);
        fc_close(s);
        _exit(bad);
    }
    child_ok(pid, "a check in the child");
    ck_assert_int_eq(fc_close(w), 0);
}
END_TEST

static Suite *hostile_suite(void)
{
    Suite *s = suite_create("api_hostile");
    TCase *tc = tcase_create("arguments");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, null_handles);
    tcase_add_test(tc, null_out_pointers);
    tcase_add_test(tc, null_pointers_with_lengths);
    tcase_add_test(tc, zero_lengths);
    tcase_add_test(tc, lengths_over_the_limits);
    tcase_add_test(tc, lengths_at_the_limits);
    tcase_add_test(tc, ttl_extremes);
    tcase_add_test(tc, txn_after_end);
    tcase_add_test(tc, iterator_misuse);
    tcase_add_test(tc, bad_write_flags);
    tcase_add_loop_test(tc, bad_options_refused, 0,
                        (int)(sizeof bad_options / sizeof bad_options[0]));
    tcase_add_test(tc, bad_directories);
    tcase_add_test(tc, strerror_any_code);
    tcase_add_test(tc, readonly_handle_refuses_writes);
    suite_add_tcase(s, tc);
    /* These fork a process of their own: left out under valgrind, whose
     * leak check would run again in each child that leaves by _exit. */
    if (getenv("FC_UNDER_VALGRIND") == NULL) {
        TCase *tp = tcase_create("processes");
        tcase_add_checked_fixture(tp, fct_setup, fct_teardown);
        tcase_add_test(tp, refused_second_open_keeps_the_lock);
        tcase_add_test(tp, child_without_after_fork);
        tcase_add_test(tp, attach_refuses_unsafe_arena_file);
        suite_add_tcase(s, tp);
    }
    TCase *ta = tcase_create("arena_files");
    tcase_add_checked_fixture(ta, fct_setup, fct_teardown);
    tcase_add_test(ta, writer_refuses_unsafe_arena_file);
    suite_add_tcase(s, ta);
    return s;
}

FCT_MAIN(hostile_suite)
