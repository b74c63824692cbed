/*
 * check_format_edit.c - VersionEdit: LevelDB's field order and bytes,
 * round trips (with empty and 64 KiB keys), and refusal of truncations,
 * unknown tags and bad levels.
 */
#include "config.h"

#include <stdlib.h>

#include "fct.h"
#include "forkcache.h"
#include "format/dbformat.h"
#include "format/version_edit.h"

static fci_buf ikey(const char *user, size_t n, uint64_t seq, int type)
{
    fci_buf b = FCI_BUF_INIT;
    ck_assert_int_eq(fci_ikey_append(&b, fci_slice_make(user, n), seq, type), 0);
    return b;
}

static void expect_same(const fci_version_edit *a, const fci_version_edit *b)
{
    ck_assert_int_eq(a->has_comparator, b->has_comparator);
    ck_assert_uint_eq(a->comparator.size, b->comparator.size);
    ck_assert(a->comparator.size == 0 ||
              memcmp(a->comparator.data, b->comparator.data, a->comparator.size) == 0);
    ck_assert_int_eq(a->has_log_number, b->has_log_number);
    ck_assert_uint_eq(a->log_number, b->log_number);
    ck_assert_int_eq(a->has_prev_log_number, b->has_prev_log_number);
    ck_assert_uint_eq(a->prev_log_number, b->prev_log_number);
    ck_assert_int_eq(a->has_next_file_number, b->has_next_file_number);
    ck_assert_uint_eq(a->next_file_number, b->next_file_number);
    ck_assert_int_eq(a->has_last_sequence, b->has_last_sequence);
    ck_assert_uint_eq(a->last_sequence, b->last_sequence);
    ck_assert_uint_eq(a->n_compact_pointers, b->n_compact_pointers);
    for (size_t i = 0; i < a->n_compact_pointers; i++) {
        ck_assert_int_eq(a->compact_pointers[i].level, b->compact_pointers[i].level);
        ck_assert_int_eq(fci_bytewise_compare(fci_buf_slice(&a->compact_pointers[i].key),
                                              fci_buf_slice(&b->compact_pointers[i].key)), 0);
    }
    ck_assert_uint_eq(a->n_deleted, b->n_deleted);
    for (size_t i = 0; i < a->n_deleted; i++) {
        ck_assert_int_eq(a->deleted[i].level, b->deleted[i].level);
        ck_assert_uint_eq(a->deleted[i].number, b->deleted[i].number);
    }
    ck_assert_uint_eq(a->n_new_files, b->n_new_files);
    for (size_t i = 0; i < a->n_new_files; i++) {
        const fci_edit_file *x = &a->new_files[i], *y = &b->new_files[i];
        ck_assert_int_eq(x->level, y->level);
        ck_assert_uint_eq(x->number, y->number);
        ck_assert_uint_eq(x->file_size, y->file_size);
        ck_assert_int_eq(fci_bytewise_compare(fci_buf_slice(&x->smallest),
                                              fci_buf_slice(&y->smallest)), 0);
        ck_assert_int_eq(fci_bytewise_compare(fci_buf_slice(&x->largest),
                                              fci_buf_slice(&y->largest)), 0);
    }
}

/* Encode, decode, compare, and re-encode to the very same bytes. */
static void round_trip(const fci_version_edit *e)
{
    fci_buf enc = FCI_BUF_INIT, enc2 = FCI_BUF_INIT;
    fci_version_edit d;
    fci_err err = { 0, "" };
    ck_assert_int_eq(fci_edit_encode(e, &enc), 0);
    fci_edit_init(&d);
    ck_assert_msg(fci_edit_decode(&d, fci_buf_slice(&enc), &err) == 0, "%s", err.msg);
    expect_same(e, &d);
    ck_assert_int_eq(fci_edit_encode(&d, &enc2), 0);
    ck_assert_uint_eq(enc.size, enc2.size);
    ck_assert(enc.size == 0 || memcmp(enc.data, enc2.data, enc.size) == 0);
    fci_edit_free(&d);
    fci_buf_free(&enc);
    fci_buf_free(&enc2);
}

START_TEST(empty_edit)
{
    fci_version_edit e;
    fci_edit_init(&e);
    fci_buf enc = FCI_BUF_INIT;
    ck_assert_int_eq(fci_edit_encode(&e, &enc), 0);
    ck_assert_uint_eq(enc.size, 0);
    round_trip(&e);
    fci_edit_free(&e);
    fci_buf_free(&enc);
}
END_TEST

/* The snapshot LevelDB writes for a new database, byte by byte. */
START_TEST(new_db_snapshot_bytes)
{
    fci_version_edit e;
    fci_edit_init(&e);
    ck_assert_int_eq(fci_edit_set_comparator(&e, fci_slice_str(FCI_BYTEWISE_NAME)), 0);
    fci_edit_set_log_number(&e, 0);
    fci_edit_set_next_file_number(&e, 2);
    fci_edit_set_last_sequence(&e, 0);
    fci_buf enc = FCI_BUF_INIT;
    ck_assert_int_eq(fci_edit_encode(&e, &enc), 0);
    static const char want[] = "\x01\x1a" "leveldb.BytewiseComparator"
                               "\x02\x00" "\x03\x02" "\x04\x00";
    ck_assert_uint_eq(enc.size, sizeof want - 1);
    ck_assert_mem_eq(enc.data, want, sizeof want - 1);
    round_trip(&e);
    fci_edit_free(&e);
    fci_buf_free(&enc);
}
END_TEST

/* Fields come out in LevelDB's order whatever order they were set in, and
 * deleted files come out sorted and once. */
START_TEST(field_order_and_deleted_set)
{
    fci_version_edit e;
    fci_edit_init(&e);
    fci_buf k1 = ikey("a", 1, 5, FCI_TYPE_VALUE), k2 = ikey("z", 1, 6, FCI_TYPE_DELETION);
    ck_assert_int_eq(fci_edit_add_file(&e, 2, 9, 1000, fci_buf_slice(&k1), fci_buf_slice(&k2)), 0);
    ck_assert_int_eq(fci_edit_delete_file(&e, 3, 8), 0);
    ck_assert_int_eq(fci_edit_delete_file(&e, 1, 7), 0);
    ck_assert_int_eq(fci_edit_delete_file(&e, 3, 8), 0);
    ck_assert_int_eq(fci_edit_add_compact_pointer(&e, 4, fci_buf_slice(&k1)), 0);
    fci_edit_set_last_sequence(&e, 300);
    fci_edit_set_next_file_number(&e, 10);
    fci_edit_set_prev_log_number(&e, 0);
    fci_edit_set_log_number(&e, 6);
    ck_assert_int_eq(fci_edit_set_comparator(&e, fci_slice_str("c")), 0);
    fci_buf enc = FCI_BUF_INIT;
    ck_assert_int_eq(fci_edit_encode(&e, &enc), 0);
    static const char want[] =
        "\x01\x01" "c" "\x02\x06" "\x09\x00" "\x03\x0a" "\x04\xac\x02"
        "\x05\x04\x09" "a\x01\x05\0\0\0\0\0\0"
        "\x06\x01\x07" "\x06\x03\x08"
        "\x07\x02\x09\xe8\x07" "\x09" "a\x01\x05\0\0\0\0\0\0" "\x09" "z\x00\x06\0\0\0\0\0\0";
    ck_assert_uint_eq(enc.size, sizeof want - 1);
    ck_assert_mem_eq(enc.data, want, sizeof want - 1);

    fci_version_edit d;
    fci_edit_init(&d);
    ck_assert_int_eq(fci_edit_decode(&d, fci_buf_slice(&enc), NULL), 0);
    ck_assert_uint_eq(d.n_deleted, 2);
    ck_assert_int_eq(d.deleted[0].level, 1);
    ck_assert_uint_eq(d.deleted[1].number, 8);
    ck_assert_int_eq(d.has_prev_log_number, 1);
    ck_assert_uint_eq(d.last_sequence, 300);
    fci_edit_free(&d);
    fci_edit_free(&e);
    fci_buf_free(&enc);
    fci_buf_free(&k1);
    fci_buf_free(&k2);
}
END_TEST

/* A busy edit with every field, the largest numbers decode accepts, empty
 * and 64 KiB user keys. */
static void build_full(fci_version_edit *e, char *big, size_t n)
{
    fci_edit_init(e);
    ck_assert_int_eq(fci_edit_set_comparator(e, fci_slice_str(FCI_BYTEWISE_NAME)), 0);
    fci_edit_set_log_number(e, FCI_FILE_NUMBER_MAX);
    fci_edit_set_prev_log_number(e, 1ull << 40);
    fci_edit_set_next_file_number(e, 123456789012ull);
    fci_edit_set_last_sequence(e, FCI_MAX_SEQUENCE);
    for (int level = 0; level < FCI_NUM_LEVELS; level++) {
        fci_buf lo = ikey("", 0, 1, FCI_TYPE_VALUE);
        fci_buf hi = ikey(big, n, FCI_MAX_SEQUENCE, FCI_TYPE_DELETION);
        ck_assert_int_eq(fci_edit_add_compact_pointer(e, level, fci_buf_slice(&hi)), 0);
        ck_assert_int_eq(fci_edit_delete_file(e, level, (uint64_t)level * 1000 + 1), 0);
        ck_assert_int_eq(fci_edit_add_file(e, level, (uint64_t)level + 100, 1ull << 33,
                                           fci_buf_slice(&lo), fci_buf_slice(&hi)), 0);
        fci_buf_free(&lo);
        fci_buf_free(&hi);
    }
}

START_TEST(full_round_trip_big_keys)
{
    size_t n = 64 * 1024;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 13 + 1);
    fci_version_edit e;
    build_full(&e, big, n);
    ck_assert_uint_eq(e.n_new_files, 7);
    round_trip(&e);
    fci_edit_free(&e);
    free(big);
}
END_TEST

START_TEST(every_truncation_refused)
{
    char big[200];
    memset(big, 'k', sizeof big);
    fci_version_edit e, d;
    build_full(&e, big, sizeof big);
    fci_buf enc = FCI_BUF_INIT;
    ck_assert_int_eq(fci_edit_encode(&e, &enc), 0);
    /* Cutting between two whole fields leaves a valid, shorter edit; any
     * other cut must be refused. Find the field boundaries by encoding
     * prefixes of the field list is overkill: instead decode every prefix
     * and require that an accepted prefix re-encodes to itself. */
    fci_edit_init(&d);
    size_t accepted = 0;
    for (size_t len = 0; len < enc.size; len++) {
        char *copy = malloc(len ? len : 1);
        memcpy(copy, enc.data, len);
        fci_err err = { 0, "" };
        int rc = fci_edit_decode(&d, fci_slice_make(copy, len), &err);
        if (rc == 0) {
            fci_buf again = FCI_BUF_INIT;
            ck_assert_int_eq(fci_edit_encode(&d, &again), 0);
            ck_assert_uint_eq(again.size, len);
            ck_assert(len == 0 || memcmp(again.data, copy, len) == 0);
            fci_buf_free(&again);
            accepted++;
        } else {
            ck_assert_int_eq(rc, FC_ECORRUPT);
            ck_assert_int_eq(err.code, FC_ECORRUPT);
            ck_assert_uint_eq(d.n_new_files, 0);   /* a refused edit is empty */
            ck_assert_int_eq(d.has_comparator, 0);
        }
        free(copy);
    }
    /* 5 scalar fields + 7 pointers + 7 deletions + 7 files = 26 boundaries
     * before the end, counting the empty prefix. */
    ck_assert_uint_eq(accepted, 26);
    fci_edit_free(&d);
    fci_edit_free(&e);
    fci_buf_free(&enc);
}
END_TEST

static int decode_bytes(const char *bytes, size_t n, fci_err *err)
{
    fci_version_edit d;
    fci_edit_init(&d);
    int rc = fci_edit_decode(&d, fci_slice_make(bytes, n), err);
    fci_edit_free(&d);
    return rc;
}

START_TEST(unknown_tags_and_bad_levels)
{
    fci_err err = { 0, "" };
    /* Tag 8 (old large-value ref) and others are refused, with the offset. */
    ck_assert_int_eq(decode_bytes("\x02\x05\x08\x01", 4, &err), FC_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "offset 2: unknown tag 8"));
    ck_assert_int_eq(decode_bytes("\x00", 1, &err), FC_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "offset 0: unknown tag 0"));
    ck_assert_int_eq(decode_bytes("\x0a", 1, &err), FC_ECORRUPT);
    ck_assert_int_eq(decode_bytes("\x80\x01", 2, &err), FC_ECORRUPT);   /* tag 128 */
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown tag 128"));
    ck_assert_int_eq(decode_bytes("\x80", 1, &err), FC_ECORRUPT);       /* cut tag */
    ck_assert_ptr_nonnull(strstr(err.msg, "bad tag"));

    /* Level 7 and above are refused for every field that has a level. */
    ck_assert_int_eq(decode_bytes("\x06\x06\x01", 3, &err), 0);
    ck_assert_int_eq(decode_bytes("\x06\x07\x01", 3, &err), FC_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "level"));
    ck_assert_int_eq(decode_bytes("\x05\x07\x08" "\x01\x01\0\0\0\0\0\0", 11, &err), FC_ECORRUPT);
    ck_assert_int_eq(decode_bytes("\x05\x06\x08" "\x01\x01\0\0\0\0\0\0", 11, &err), 0);
    ck_assert_int_eq(decode_bytes("\x07\xff\xff\xff\xff\x0f\x01\x01", 8, &err), FC_ECORRUPT);

    /* Keys that are not internal keys (too short, bad type) are refused. */
    ck_assert_int_eq(decode_bytes("\x05\x01\x03" "abc", 6, &err), FC_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "compact pointer key"));
    ck_assert_int_eq(decode_bytes("\x05\x01\x08" "\x07\0\0\0\0\0\0\0", 11, &err), FC_ECORRUPT);
    /* Over-long varints are refused. */
    ck_assert_int_eq(decode_bytes("\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11, &err),
                     FC_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "log number"));

    fci_version_edit e;
    fci_edit_init(&e);
    ck_assert_int_eq(fci_edit_delete_file(&e, 7, 1), FC_EINVAL);
    ck_assert_int_eq(fci_edit_delete_file(&e, -1, 1), FC_EINVAL);
    ck_assert_int_eq(fci_edit_add_compact_pointer(&e, 9, fci_slice_str("x")), FC_EINVAL);
    ck_assert_uint_eq(e.n_deleted, 0);
    fci_edit_free(&e);
}
END_TEST

/* One u64 field (tag) holding v, alone in an edit. */
static int decode_u64(uint32_t tag, uint64_t v, fci_err *err)
{
    fci_buf b = FCI_BUF_INIT;
    ck_assert_int_eq(fci_buf_put_varint32(&b, tag), 0);
    ck_assert_int_eq(fci_buf_put_varint64(&b, v), 0);
    int rc = decode_bytes(b.data, b.size, err);
    fci_buf_free(&b);
    return rc;
}

/* Every number is held to its range, and a refusal names the field, the
 * value and the range: past them a counter would wrap or a table's size
 * would not fit an off_t. */
START_TEST(numbers_out_of_range)
{
    static const struct { uint32_t tag; const char *name; uint64_t max; } f[] = {
        { FCI_EDIT_LOG_NUMBER, "log number", FCI_FILE_NUMBER_MAX },
        { FCI_EDIT_PREV_LOG_NUMBER, "previous log number", FCI_FILE_NUMBER_MAX },
        { FCI_EDIT_NEXT_FILE_NUMBER, "next file number", FCI_FILE_NUMBER_MAX },
        { FCI_EDIT_LAST_SEQUENCE, "last sequence", FCI_MAX_SEQUENCE },
    };
    fci_err err = { 0, "" };
    char want[160];
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        ck_assert_int_eq(decode_u64(f[i].tag, f[i].max, &err), 0);
        uint64_t bad[] = { f[i].max + 1, UINT64_MAX };
        for (int j = 0; j < 2; j++) {
            ck_assert_int_eq(decode_u64(f[i].tag, bad[j], &err), FC_ECORRUPT);
            snprintf(want, sizeof want, "%s %llu is out of range (allowed: 0 to %llu)",
                     f[i].name, (unsigned long long)bad[j], (unsigned long long)f[i].max);
            ck_assert_msg(strstr(err.msg, want) != NULL, "%s", err.msg);
        }
    }
    /* A new file's number and size, and a deleted file's number. */
    fci_buf key = ikey("k", 1, 1, FCI_TYPE_VALUE);
    for (int which = 0; which < 3; which++) {
        fci_buf b = FCI_BUF_INIT;
        uint64_t v = which == 1 ? FCI_FILE_SIZE_MAX + 1 : FCI_FILE_NUMBER_MAX + 1;
        ck_assert_int_eq(fci_buf_put_varint32(&b, which == 2 ? FCI_EDIT_DELETED_FILE
                                                             : FCI_EDIT_NEW_FILE), 0);
        ck_assert_int_eq(fci_buf_put_varint32(&b, 1), 0);
        ck_assert_int_eq(fci_buf_put_varint64(&b, which == 1 ? 5 : v), 0);
        if (which != 2) {
            ck_assert_int_eq(fci_buf_put_varint64(&b, which == 1 ? v : 100), 0);
            ck_assert_int_eq(fci_buf_put_length_prefixed(&b, fci_buf_slice(&key)), 0);
            ck_assert_int_eq(fci_buf_put_length_prefixed(&b, fci_buf_slice(&key)), 0);
        }
        ck_assert_int_eq(decode_bytes(b.data, b.size, &err), FC_ECORRUPT);
        const char *name = which == 0 ? "new file number" : which == 1 ? "new file size"
                                                                        : "deleted file number";
        snprintf(want, sizeof want, "%s %llu is out of range", name, (unsigned long long)v);
        ck_assert_msg(strstr(err.msg, want) != NULL, "%s", err.msg);
        fci_buf_free(&b);
    }
    fci_buf_free(&key);
    ck_assert_int_eq(decode_bytes("\x06\x07\x01", 3, &err), FC_ECORRUPT);
    ck_assert_msg(strstr(err.msg, "level 7 is out of range (allowed: 0 to 6)") != NULL, "%s",
                  err.msg);
}
END_TEST

/* Decoding into a used edit replaces what it held (no leak, no mix). */
START_TEST(decode_replaces)
{
    char big[10] = "bigbigbig";
    fci_version_edit e;
    build_full(&e, big, 9);
    fci_buf enc = FCI_BUF_INIT;
    ck_assert_int_eq(fci_buf_append(&enc, "\x04\x05", 2), 0);
    ck_assert_int_eq(fci_edit_decode(&e, fci_buf_slice(&enc), NULL), 0);
    ck_assert_int_eq(e.has_last_sequence, 1);
    ck_assert_uint_eq(e.last_sequence, 5);
    ck_assert_int_eq(e.has_comparator, 0);
    ck_assert_uint_eq(e.n_new_files, 0);
    fci_edit_free(&e);
    fci_buf_free(&enc);
}
END_TEST

static Suite *edit_suite(void)
{
    Suite *s = suite_create("format_edit");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, empty_edit);
    tcase_add_test(tc, new_db_snapshot_bytes);
    tcase_add_test(tc, field_order_and_deleted_set);
    tcase_add_test(tc, full_round_trip_big_keys);
    tcase_add_test(tc, every_truncation_refused);
    tcase_add_test(tc, unknown_tags_and_bad_levels);
    tcase_add_test(tc, decode_replaces);
    tcase_add_test(tc, numbers_out_of_range);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(edit_suite)
