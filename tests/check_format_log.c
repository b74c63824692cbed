/*
 * check_format_log.c - LevelDB's log format: writer and reader round trips
 * at every interesting size, torn tails versus damage in the middle, and
 * best-effort reading past damage.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"
#include "format/log_reader.h"
#include "format/log_writer.h"
#include "util/coding.h"
#include "util/crc32c.h"

#define B FCI_LOG_BLOCK_SIZE
#define H FCI_LOG_HEADER_SIZE

/* Record i of size n: bytes that differ between records and positions. */
static void fill_record(fci_buf *rec, size_t i, size_t n)
{
    uint32_t x = (uint32_t)(i * 2654435761u + 12345u);
    fci_buf_clear(rec);
    ck_assert_int_eq(fci_buf_reserve(rec, n), 0);
    for (size_t j = 0; j < n; j++) {
        x = x * 1103515245u + 12345u;
        rec->data[j] = (char)(x >> 16);
    }
    rec->size = n;
}

/* Where the writer puts records: header offset and end offset of each. */
typedef struct layout {
    size_t n;
    uint64_t hdr[64], end[64];
    size_t size[64];
} layout;

static void build_log(fci_buf *log, layout *lay, const size_t *sizes, size_t n)
{
    fci_buf rec = FCI_BUF_INIT;
    uint64_t off = 0;
    fci_buf_clear(log);
    lay->n = n;
    for (size_t i = 0; i < n; i++) {
        fill_record(&rec, i, sizes[i]);
        lay->size[i] = sizes[i];
        lay->hdr[i] = (B - off % B < H) ? off + (B - off % B) : off;
        ck_assert_int_eq(fci_log_encode(log, &off, fci_buf_slice(&rec)), 0);
        lay->end[i] = off;
        ck_assert_uint_eq(off, log->size);
    }
    fci_buf_free(&rec);
}

/* Reads record i and checks its bytes and offset. */
static void expect_record(fci_log_reader *r, size_t i, size_t size, uint64_t hdr)
{
    fci_buf want = FCI_BUF_INIT;
    fci_slice got;
    fci_err err = { 0, "" };
    int rc = fci_log_reader_read(r, &got, &err);
    ck_assert_msg(rc == 1, "record %zu: rc %d (%s)", i, rc, err.msg);
    fill_record(&want, i, size);
    ck_assert_uint_eq(got.size, size);
    ck_assert(size == 0 || memcmp(got.data, want.data, size) == 0);
    ck_assert_uint_eq(r->record_offset, hdr);
    fci_buf_free(&want);
}

static void expect_end(fci_log_reader *r, int torn, uint64_t tail_off, uint64_t tail_bytes)
{
    fci_slice got;
    fci_err err = { 0, "" };
    int rc = fci_log_reader_read(r, &got, &err);
    ck_assert_msg(rc == 0, "expected end, rc %d (%s)", rc, err.msg);
    ck_assert_int_eq(r->torn_tail, torn);
    ck_assert_uint_eq(r->tail_offset, tail_off);
    ck_assert_uint_eq(r->tail_bytes, tail_bytes);
    ck_assert_uint_eq(r->end_offset, tail_off);
    ck_assert_int_eq(fci_log_reader_read(r, &got, &err), 0);   /* end is sticky */
}

static void read_all_mem(const fci_buf *log, const layout *lay)
{
    fci_log_reader r;
    fci_log_reader_init_mem(&r, "mem", log->data, log->size, 0);
    for (size_t i = 0; i < lay->n; i++)
        expect_record(&r, i, lay->size[i], lay->hdr[i]);
    expect_end(&r, 0, log->size, 0);
    ck_assert_uint_eq(r.corruptions, 0);
    fci_log_reader_free(&r);
}

START_TEST(empty_log)
{
    fci_log_reader r;
    fci_log_reader_init_mem(&r, "empty", NULL, 0, 0);
    expect_end(&r, 0, 0, 0);
    fci_log_reader_free(&r);
}
END_TEST

START_TEST(empty_record_is_full_of_length_zero)
{
    fci_buf log = FCI_BUF_INIT;
    layout lay;
    size_t sizes[] = { 0, 0, 5, 0 };
    build_log(&log, &lay, sizes, 4);
    ck_assert_uint_eq(log.size, 4 * H + 5);
    ck_assert_int_eq(log.data[4], 0);
    ck_assert_int_eq(log.data[5], 0);
    ck_assert_int_eq(log.data[6], FCI_LOG_FULL);
    read_all_mem(&log, &lay);
    fci_buf_free(&log);
}
END_TEST

START_TEST(exact_block_fill)
{
    fci_buf log = FCI_BUF_INIT;
    layout lay;
    /* B-7 fills block 0 exactly: one FULL record, next one at B. */
    size_t sizes[] = { B - H, 1 };
    build_log(&log, &lay, sizes, 2);
    ck_assert_uint_eq(lay.end[0], B);
    ck_assert_uint_eq(lay.hdr[1], B);
    ck_assert_int_eq(log.data[6], FCI_LOG_FULL);
    read_all_mem(&log, &lay);

    /* B-6: FIRST of B-7 bytes then a LAST of 1 byte in block 1. */
    size_t sizes2[] = { B - H + 1 };
    build_log(&log, &lay, sizes2, 1);
    ck_assert_uint_eq(log.size, B + H + 1);
    ck_assert_int_eq(log.data[6], FCI_LOG_FIRST);
    ck_assert_int_eq(log.data[B + 6], FCI_LOG_LAST);
    read_all_mem(&log, &lay);
    fci_buf_free(&log);
}
END_TEST

/* A first record leaves `room` bytes in block 0, then records of the
 * sizes that matter around a block's end follow it. */
START_TEST(block_boundary_sizes)
{
    static const size_t rooms[] = { 0, 1, 5, 6, 7, 8, 100 };
    static const size_t next[] = { 0, 1, B - H - 1, B - H, B - H + 1, B - 1, B, B + 1, 3 * B };
    fci_buf log = FCI_BUF_INIT;
    layout lay;
    for (size_t a = 0; a < sizeof rooms / sizeof rooms[0]; a++)
        for (size_t b = 0; b < sizeof next / sizeof next[0]; b++) {
            size_t sizes[3] = { B - H - rooms[a], next[b], 3 };
            if (rooms[a] > B - H) /* keep sizes valid */
                continue;
            build_log(&log, &lay, sizes, 3);
            ck_assert_uint_eq(lay.end[0], B - rooms[a]);
            if (rooms[a] < H) {
                ck_assert_uint_eq(lay.hdr[1], B);   /* trailer skipped */
                for (size_t k = B - rooms[a]; k < B; k++)
                    ck_assert_int_eq(log.data[k], 0);
            } else {
                ck_assert_uint_eq(lay.hdr[1], B - rooms[a]);
            }
            read_all_mem(&log, &lay);
        }
    fci_buf_free(&log);
}
END_TEST

static const char *scratch_file(char *path, size_t cap, const char *dir, const char *name)
{
    snprintf(path, cap, "%s/%s", dir, name);
    return path;
}

/* Records through the fd writer and back through both readers. */
START_TEST(writer_fd_round_trip)
{
    const char *dir = fct_tmpdir();
    char path[4200];
    fci_err err = { 0, "" };
    fci_log_writer w;
    fci_buf rec = FCI_BUF_INIT, all = FCI_BUF_INIT;
    size_t sizes[] = { 0, 1, 1000, B - H, B - 6, B - 1, B, 2 * B + 17, 5, 0 };
    size_t n = sizeof sizes / sizeof sizes[0];
    layout lay;

    ck_assert_ptr_nonnull(dir);
    scratch_file(path, sizeof path, dir, "000003.log");
    ck_assert_int_eq(fci_log_writer_open(&w, AT_FDCWD, path, 1, 0600, &err), 0);
    for (size_t i = 0; i < n; i++) {
        fill_record(&rec, i, sizes[i]);
        ck_assert_int_eq(fci_log_writer_add(&w, fci_buf_slice(&rec), &err), 0);
    }
    ck_assert_int_eq(fci_log_writer_sync(&w, &err), 0);
    uint64_t size = fci_log_writer_offset(&w);
    ck_assert_int_eq(fci_log_writer_close(&w, &err), 0);
    ck_assert_int_eq(fci_log_writer_close(&w, &err), 0);  /* twice is fine */

    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq((uint64_t)st.st_size, size);
    build_log(&all, &lay, sizes, n);           /* the same bytes in memory */
    ck_assert_uint_eq(all.size, size);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    fci_buf disk = FCI_BUF_INIT;
    ck_assert_int_eq(fci_buf_reserve(&disk, size), 0);
    ck_assert_int_eq(pread(fd, disk.data, size, 0), (ssize_t)size);
    ck_assert_int_eq(memcmp(disk.data, all.data, size), 0);
    close(fd);

    fci_log_reader r;
    ck_assert_int_eq(fci_log_reader_open(&r, AT_FDCWD, path, 0, &err), 0);
    for (size_t i = 0; i < n; i++)
        expect_record(&r, i, sizes[i], lay.hdr[i]);
    expect_end(&r, 0, size, 0);
    fci_log_reader_free(&r);

    fci_buf_free(&rec);
    fci_buf_free(&all);
    fci_buf_free(&disk);
    fct_rmtree(dir);
}
END_TEST

/* The writer gathers headers, padding and payload into pwritev calls of at
 * most 64 fragments; the file must hold exactly the encoder's bytes for
 * every start position near a block end (padding or not) and for records
 * of 63, 64, 65 and 130 blocks (one, two and three calls). */
START_TEST(writer_bytes_match_encoder)
{
    const char *dir = fct_tmpdir();
    char path[4200];
    fci_err err = { 0, "" };
    fci_buf rec = FCI_BUF_INIT, want = FCI_BUF_INIT, disk = FCI_BUF_INIT;
    const uint64_t starts[] = { 0, 1, B - H - 1, B - H, B - H + 1, B - 1, 3 * B + 100 };
    const size_t sizes[] = { 0, 1, H, B - 2 * H, 63 * (B - H), 64 * (B - H), 64 * (B - H) + 1,
                             65 * (B - H) - 5, 130 * (B - H) + 77 };
    ck_assert_ptr_nonnull(dir);
    scratch_file(path, sizeof path, dir, "000007.log");
    for (size_t si = 0; si < sizeof starts / sizeof starts[0]; si++) {
        /* A prefix of filler bytes stands for an earlier part of the log. */
        fci_buf_clear(&want);
        ck_assert_int_eq(fci_buf_reserve(&want, starts[si] + 1), 0);
        memset(want.data, 'p', starts[si]);
        want.size = starts[si];
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pwrite(fd, want.data, want.size, 0), (ssize_t)want.size);
        fci_log_writer w;
        fci_log_writer_init(&w, fd, starts[si]);
        uint64_t off = starts[si];
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            fill_record(&rec, si * 100 + i, sizes[i]);
            ck_assert_int_eq(fci_log_writer_add(&w, fci_buf_slice(&rec), &err), 0);
            ck_assert_int_eq(fci_log_encode(&want, &off, fci_buf_slice(&rec)), 0);
            ck_assert_uint_eq(fci_log_writer_offset(&w), off);
        }
        ck_assert_int_eq(fci_log_writer_close(&w, &err), 0);
        ck_assert_uint_eq(want.size, off);
        fci_buf_clear(&disk);
        ck_assert_int_eq(fci_buf_reserve(&disk, want.size + 1), 0);
        ck_assert_int_eq(pread(fd, disk.data, want.size + 1, 0), (ssize_t)want.size);
        ck_assert_msg(memcmp(disk.data, want.data, want.size) == 0, "start %llu: bytes differ",
                      (unsigned long long)starts[si]);
        close(fd);
    }
    fci_buf_free(&rec);
    fci_buf_free(&want);
    fci_buf_free(&disk);
    fct_rmtree(dir);
}
END_TEST

/* Continuing a log: a second writer picks up at the file's size, in the
 * middle of a block, and a reader sees one seamless log. */
START_TEST(writer_continues_existing_log)
{
    const char *dir = fct_tmpdir();
    char path[4200];
    fci_err err = { 0, "" };
    fci_log_writer w;
    fci_buf rec = FCI_BUF_INIT, all = FCI_BUF_INIT;
    size_t sizes[] = { 100, B - 200, 50, 70000, 3 };
    layout lay;

    scratch_file(path, sizeof path, dir, "000004.log");
    for (size_t i = 0; i < 5; i++) {
        ck_assert_int_eq(fci_log_writer_open(&w, AT_FDCWD, path, i == 0, 0600, &err), 0);
        fill_record(&rec, i, sizes[i]);
        ck_assert_int_eq(fci_log_writer_add(&w, fci_buf_slice(&rec), &err), 0);
        ck_assert_int_eq(fci_log_writer_close(&w, &err), 0);
    }
    /* And through a caller-owned fd at an explicit offset. */
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    build_log(&all, &lay, sizes, 5);
    fci_log_writer_init(&w, fd, all.size);
    fill_record(&rec, 5, 40);
    ck_assert_int_eq(fci_log_writer_add(&w, fci_buf_slice(&rec), &err), 0);
    ck_assert_int_eq(fci_log_writer_close(&w, &err), 0);
    ck_assert_int_eq(close(fd), 0);

    size_t sizes6[] = { 100, B - 200, 50, 70000, 3, 40 };
    build_log(&all, &lay, sizes6, 6);
    fci_log_reader r;
    ck_assert_int_eq(fci_log_reader_open(&r, AT_FDCWD, path, 0, &err), 0);
    for (size_t i = 0; i < 6; i++)
        expect_record(&r, i, sizes6[i], lay.hdr[i]);
    expect_end(&r, 0, all.size, 0);
    fci_log_reader_free(&r);
    fci_buf_free(&rec);
    fci_buf_free(&all);
    fct_rmtree(dir);
}
END_TEST

START_TEST(record_of_8_mib)
{
    const char *dir = fct_tmpdir();
    char path[4200];
    fci_err err = { 0, "" };
    fci_log_writer w;
    fci_buf rec = FCI_BUF_INIT, all = FCI_BUF_INIT;
    size_t sizes[] = { 10, 8u << 20, 20 };
    layout lay;

    scratch_file(path, sizeof path, dir, "000005.log");
    ck_assert_int_eq(fci_log_writer_open(&w, AT_FDCWD, path, 1, 0600, &err), 0);
    for (size_t i = 0; i < 3; i++) {
        fill_record(&rec, i, sizes[i]);
        ck_assert_int_eq(fci_log_writer_add(&w, fci_buf_slice(&rec), &err), 0);
    }
    ck_assert_int_eq(fci_log_writer_close(&w, &err), 0);
    build_log(&all, &lay, sizes, 3);
    /* 8 MiB spans 257 blocks: one FIRST, 255 MIDDLE, one LAST. */
    ck_assert_uint_eq(lay.end[1] / B, 256);
    read_all_mem(&all, &lay);

    fci_log_reader r;
    ck_assert_int_eq(fci_log_reader_open(&r, AT_FDCWD, path, 0, &err), 0);
    for (size_t i = 0; i < 3; i++)
        expect_record(&r, i, sizes[i], lay.hdr[i]);
    expect_end(&r, 0, all.size, 0);
    fci_log_reader_free(&r);
    fci_buf_free(&rec);
    fci_buf_free(&all);
    fct_rmtree(dir);
}
END_TEST

/* Cutting the file anywhere returns the whole records before the cut and
 * drops the rest quietly, naming where the torn record started. */
static void check_cut(const fci_buf *log, const layout *lay, size_t cut, int use_fd,
                      const char *path)
{
    fci_log_reader r;
    fci_err err = { 0, "" };
    int fd = -1;
    if (use_fd) {
        fd = open(path, O_RDWR | O_CLOEXEC);
        ck_assert_int_eq(ftruncate(fd, (off_t)cut), 0);
        ck_assert_int_eq(fci_log_reader_init_fd(&r, "cut", fd, 0, &err), 0);
    } else {
        fci_log_reader_init_mem(&r, "cut", log->data, cut, 0);
    }
    size_t i = 0;
    while (i < lay->n && lay->end[i] <= cut) {
        expect_record(&r, i, lay->size[i], lay->hdr[i]);
        i++;
    }
    uint64_t prev_end = i ? lay->end[i - 1] : 0;
    if (i == lay->n || cut == prev_end || cut == lay->hdr[i])
        expect_end(&r, 0, cut, 0);
    else if (cut < lay->hdr[i])
        expect_end(&r, 1, prev_end, cut - prev_end);      /* inside a trailer */
    else
        expect_end(&r, 1, lay->hdr[i], cut - lay->hdr[i]);
    ck_assert_uint_eq(r.corruptions, 0);
    fci_log_reader_free(&r);
    if (fd >= 0)
        close(fd);
}

START_TEST(torn_tail_every_cut)
{
    fci_buf log = FCI_BUF_INIT;
    layout lay;
    size_t sizes[] = { 10, B - H - 10 - H - 3, 40000, 0, 25 };
    build_log(&log, &lay, sizes, 5);
    for (size_t cut = 0; cut <= log.size; cut++) {
        int near = cut < 300 || log.size - cut < 300 || (cut % B) < 40 || B - (cut % B) < 40;
        if (near || cut % 61 == 0)
            check_cut(&log, &lay, cut, 0, NULL);
    }
    fci_buf_free(&log);
}
END_TEST

START_TEST(torn_tail_fd)
{
    const char *dir = fct_tmpdir();
    char path[4200];
    fci_buf log = FCI_BUF_INIT;
    layout lay;
    size_t sizes[] = { 10, 100000, 7 };
    build_log(&log, &lay, sizes, 3);
    scratch_file(path, sizeof path, dir, "000006.log");
    size_t cuts[] = { log.size, log.size - 1, log.size - 10, lay.end[1], lay.end[1] - 1,
                      2 * B + 3, 2 * B, B + 1, 20, 17, 10, 3, 0 };
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_int_eq(write(fd, log.data, log.size), (ssize_t)log.size);
        close(fd);
        check_cut(&log, &lay, cuts[k], 1, path);
    }
    fci_buf_free(&log);
    fct_rmtree(dir);
}
END_TEST

/* Reports collected by the callback. */
typedef struct reports {
    int n;
    uint64_t off[16], bytes[16];
    char why[16][96];
} reports;

static void collect(void *arg, uint64_t off, uint64_t bytes, const char *why)
{
    reports *rp = arg;
    if (rp->n < 16) {
        rp->off[rp->n] = off;
        rp->bytes[rp->n] = bytes;
        snprintf(rp->why[rp->n], sizeof rp->why[0], "%s", why);
    }
    rp->n++;
}

/* 1000-byte records: the 40th straddles blocks 0 and 1 once a bit flips in
 * record 10, strict reading fails at record 10 with its offset, and reading
 * on resumes at block 1. */
START_TEST(mid_file_corruption_strict)
{
    fci_buf log = FCI_BUF_INIT;
    layout lay;
    size_t sizes[64];
    for (size_t i = 0; i < 64; i++)
        sizes[i] = 1000;
    build_log(&log, &lay, sizes, 64);
    log.data[lay.hdr[10] + H + 500] ^= 0x10;

    fci_log_reader r;
    reports rp = { 0 };
    fci_err err = { 0, "" };
    fci_slice got;
    fci_log_reader_init_mem(&r, "/db/000007.log", log.data, log.size, 0);
    fci_log_reader_set_reporter(&r, collect, &rp);
    for (size_t i = 0; i < 10; i++)
        expect_record(&r, i, 1000, lay.hdr[i]);
    ck_assert_int_eq(fci_log_reader_read(&r, &got, &err), FC_ECORRUPT);
    ck_assert_int_eq(err.code, FC_ECORRUPT);
    char want[128];
    snprintf(want, sizeof want, "/db/000007.log: offset %llu: %llu bytes dropped: checksum",
             (unsigned long long)lay.hdr[10], (unsigned long long)(B - lay.hdr[10]));
    ck_assert_msg(strstr(err.msg, want) != NULL, "message: %s", err.msg);
    ck_assert_int_eq(rp.n, 1);
    ck_assert_uint_eq(rp.off[0], lay.hdr[10]);

    /* The record straddling into block 1 lost its start. */
    size_t s = 0;
    while (lay.hdr[s] < B)
        s++;
    ck_assert_uint_lt(lay.end[s - 1], B + 1000);
    if (lay.end[s - 1] > B) {
        ck_assert_int_eq(fci_log_reader_read(&r, &got, &err), FC_ECORRUPT);
        ck_assert_ptr_nonnull(strstr(err.msg, "missing start"));
        ck_assert_uint_eq(rp.off[1], B);
    }
    for (size_t i = s; i < 64; i++)
        expect_record(&r, i, 1000, lay.hdr[i]);
    expect_end(&r, 0, log.size, 0);
    fci_log_reader_free(&r);
    fci_buf_free(&log);
}
END_TEST

START_TEST(best_effort_resyncs_at_next_block)
{
    fci_buf log = FCI_BUF_INIT;
    layout lay;
    size_t sizes[64];
    for (size_t i = 0; i < 64; i++)
        sizes[i] = i == 20 ? 50000 : 700;
    build_log(&log, &lay, sizes, 64);
    log.data[lay.hdr[5] + 2] ^= 0x01;        /* checksum field of record 5 */
    log.data[lay.hdr[40] + H + 1] ^= 0x80;   /* payload of record 40 */

    fci_log_reader r;
    reports rp = { 0 };
    fci_err err = { 0, "" };
    fci_slice got;
    fci_log_reader_init_mem(&r, "be", log.data, log.size, FCI_LOG_BEST_EFFORT);
    fci_log_reader_set_reporter(&r, collect, &rp);
    size_t i = 0, returned = 0;
    int rc;
    while ((rc = fci_log_reader_read(&r, &got, &err)) == 1) {
        while (lay.hdr[i] != r.record_offset)
            i++;
        ck_assert(i != 5 && i != 40);
        {
            fci_buf want = FCI_BUF_INIT;
            fill_record(&want, i, sizes[i]);
            ck_assert_uint_eq(got.size, sizes[i]);
            ck_assert_int_eq(memcmp(got.data, want.data, got.size), 0);
            fci_buf_free(&want);
        }
        returned++;
        i++;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(r.torn_tail, 0);
    /* What is lost: the rest of each damaged block, plus a record whose
     * tail sat in the next block. */
    size_t lost = 0;
    for (size_t k = 0; k < 64; k++) {
        int in5 = lay.hdr[k] >= lay.hdr[5] && lay.hdr[k] < (lay.hdr[5] / B + 1) * B;
        int in40 = lay.hdr[k] >= lay.hdr[40] && lay.hdr[k] < (lay.hdr[40] / B + 1) * B;
        if (in5 || in40)
            lost++;
    }
    ck_assert_uint_eq(returned, 64 - lost);
    ck_assert_int_ge(rp.n, 2);
    ck_assert_uint_eq(rp.off[0], lay.hdr[5]);
    ck_assert_ptr_nonnull(strstr(rp.why[0], "checksum mismatch"));
    ck_assert_uint_eq(r.corruptions, (uint64_t)rp.n);
    fci_log_reader_free(&r);
    fci_buf_free(&log);
}
END_TEST

/* Every single-bit flip in a small log: no record comes back altered, and
 * the damage is always noticed (reported, or the log ends early as torn). */
START_TEST(every_bit_flip_detected)
{
    fci_buf log = FCI_BUF_INIT;
    layout lay;
    size_t sizes[] = { 3, 0, 20, 9 };
    build_log(&log, &lay, sizes, 4);
    for (size_t byte = 0; byte < log.size; byte++)
        for (int bit = 0; bit < 8; bit++) {
            log.data[byte] ^= (char)(1 << bit);
            fci_log_reader r;
            fci_err err = { 0, "" };
            fci_slice got;
            fci_log_reader_init_mem(&r, "flip", log.data, log.size, FCI_LOG_BEST_EFFORT);
            size_t i = 0, ok = 0;
            while (fci_log_reader_read(&r, &got, &err) == 1) {
                while (i < 4 && lay.hdr[i] != r.record_offset)
                    i++;
                ck_assert_uint_lt(i, 4);
                fci_buf want = FCI_BUF_INIT;
                fill_record(&want, i, sizes[i]);
                ck_assert_uint_eq(got.size, sizes[i]);
                ck_assert(got.size == 0 || memcmp(got.data, want.data, got.size) == 0);
                fci_buf_free(&want);
                ok++;
                i++;
            }
            ck_assert_uint_lt(ok, 4);
            ck_assert(r.corruptions > 0 || r.torn_tail);
            fci_log_reader_free(&r);
            log.data[byte] ^= (char)(1 << bit);
        }
    fci_buf_free(&log);
}
END_TEST

/* Builds one physical record by hand (valid checksum, any type). */
static void phys(fci_buf *out, int type, const char *data, size_t n)
{
    char h[H];
    unsigned char t = (unsigned char)type;
    uint32_t crc = fci_crc32c_extend(fci_crc32c_extend(0, &t, 1), data, n);
    fci_put_fixed32(h, fci_crc32c_mask(crc));
    h[4] = (char)(n & 0xff);
    h[5] = (char)(n >> 8);
    h[6] = (char)type;
    ck_assert_int_eq(fci_buf_append(out, h, H), 0);
    ck_assert_int_eq(fci_buf_append(out, data, n), 0);
}

static void expect_str(fci_log_reader *r, const char *s)
{
    fci_slice got;
    fci_err err = { 0, "" };
    int rc = fci_log_reader_read(r, &got, &err);
    ck_assert_msg(rc == 1, "rc %d %s", rc, err.msg);
    ck_assert_uint_eq(got.size, strlen(s));
    ck_assert_int_eq(memcmp(got.data, s, got.size), 0);
}

static void expect_corrupt(fci_log_reader *r, const char *what, uint64_t off, uint64_t bytes)
{
    fci_slice got;
    fci_err err = { 0, "" };
    ck_assert_int_eq(fci_log_reader_read(r, &got, &err), FC_ECORRUPT);
    ck_assert_msg(strstr(err.msg, what) != NULL, "message: %s", err.msg);
    char want[96];
    snprintf(want, sizeof want, "offset %llu: %llu bytes", (unsigned long long)off,
             (unsigned long long)bytes);
    ck_assert_msg(strstr(err.msg, want) != NULL, "message: %s, want %s", err.msg, want);
}

START_TEST(partial_record_and_missing_start)
{
    fci_buf log = FCI_BUF_INIT;
    phys(&log, FCI_LOG_FIRST, "abc", 3);      /* 0: never finished */
    phys(&log, FCI_LOG_FULL, "xyz", 3);       /* 10 */
    phys(&log, FCI_LOG_MIDDLE, "m", 1);       /* 20: no start */
    phys(&log, FCI_LOG_LAST, "l", 1);         /* 28: no start */
    phys(&log, FCI_LOG_FIRST, "a", 1);        /* 36 */
    phys(&log, FCI_LOG_MIDDLE, "b", 1);
    phys(&log, FCI_LOG_LAST, "c", 1);
    phys(&log, 9, "zz", 2);                   /* 60: unknown type */
    phys(&log, FCI_LOG_FIRST, "p", 1);        /* 69: cut by an unknown type */
    phys(&log, 0, "q", 1);                    /* 77: type 0 with a length */
    phys(&log, FCI_LOG_FULL, "", 0);          /* 85 */

    fci_log_reader r;
    fci_log_reader_init_mem(&r, "x", log.data, log.size, 0);
    expect_corrupt(&r, "partial record without end", 0, 10);
    expect_str(&r, "xyz");
    expect_corrupt(&r, "missing start", 20, 8);
    expect_corrupt(&r, "missing start", 28, 8);
    expect_str(&r, "abc");
    expect_corrupt(&r, "bad record type 9", 60, 9);
    expect_corrupt(&r, "bad record type 0", 69, 16);
    expect_str(&r, "");
    expect_end(&r, 0, log.size, 0);
    ck_assert_uint_eq(r.corruptions, 5);
    fci_log_reader_free(&r);

    reports rp = { 0 };
    fci_log_reader_init_mem(&r, "x", log.data, log.size, FCI_LOG_BEST_EFFORT);
    fci_log_reader_set_reporter(&r, collect, &rp);
    expect_str(&r, "xyz");
    expect_str(&r, "abc");
    expect_str(&r, "");
    expect_end(&r, 0, log.size, 0);
    ck_assert_int_eq(rp.n, 5);
    ck_assert_uint_eq(rp.off[0], 0);
    ck_assert_uint_eq(rp.bytes[0], 10);
    ck_assert_uint_eq(rp.off[4], 69);
    fci_log_reader_free(&r);
    fci_buf_free(&log);
}
END_TEST

/* A length past the end of a full block is damage, not a torn tail. */
START_TEST(bad_length_in_full_block)
{
    fci_buf log = FCI_BUF_INIT;
    phys(&log, FCI_LOG_FULL, "one", 3);
    size_t pad = B - log.size - H;
    fci_buf big = FCI_BUF_INIT;
    ck_assert_int_eq(fci_buf_reserve(&big, pad), 0);
    memset(big.data, 'p', pad);
    phys(&log, FCI_LOG_FULL, big.data, pad);
    ck_assert_uint_eq(log.size, B);
    phys(&log, FCI_LOG_FULL, "two", 3);
    char saved = log.data[10 + 5];
    log.data[10 + 5] = (char)0xff;            /* length of record 2: 32K+ */

    fci_log_reader r;
    fci_log_reader_init_mem(&r, "len", log.data, log.size, 0);
    expect_str(&r, "one");
    expect_corrupt(&r, "bad record length", 10, B - 10);
    expect_str(&r, "two");
    expect_end(&r, 0, log.size, 0);
    fci_log_reader_free(&r);

    /* The same lie in the last, short block of the file is a torn tail. */
    log.data[10 + 5] = saved;
    fci_buf_truncate(&log, B + H + 3);
    log.data[B + 5] = 0x10;
    fci_log_reader_init_mem(&r, "len", log.data, log.size, 0);
    expect_str(&r, "one");
    ck_assert_uint_eq(pad, B - 17);
    fci_slice got;
    fci_err err = { 0, "" };
    ck_assert_int_eq(fci_log_reader_read(&r, &got, &err), 1);   /* the padding */
    expect_end(&r, 1, B, H + 3);
    fci_log_reader_free(&r);
    fci_buf_free(&big);
    fci_buf_free(&log);
}
END_TEST

/* Zeroed space at the end is what preallocation leaves: the clean end of
 * the log, which ends where the zeros start. The same zeros with a record
 * after them are a hole: damage. */
START_TEST(zero_fill_tail_and_hole)
{
    fci_buf log = FCI_BUF_INIT;
    layout lay;
    size_t sizes[] = { 10, 20 };
    build_log(&log, &lay, sizes, 2);
    uint64_t end = log.size;
    char zeros[3 * B];
    memset(zeros, 0, sizeof zeros);
    ck_assert_int_eq(fci_buf_append(&log, zeros, sizeof zeros - 5), 0);

    fci_log_reader r;
    fci_log_reader_init_mem(&r, "z", log.data, log.size, 0);
    expect_record(&r, 0, 10, lay.hdr[0]);
    expect_record(&r, 1, 20, lay.hdr[1]);
    expect_end(&r, 0, end, 0);
    ck_assert_uint_eq(r.corruptions, 0);
    fci_log_reader_free(&r);

    /* Now put a record at block 2: the zeros before it are a hole. */
    uint64_t off = 2 * B;
    fci_buf_truncate(&log, 2 * B);
    fci_buf rec = FCI_BUF_INIT;
    fill_record(&rec, 2, 30);
    ck_assert_int_eq(fci_log_encode(&log, &off, fci_buf_slice(&rec)), 0);
    fci_log_reader_init_mem(&r, "z", log.data, log.size, 0);
    expect_record(&r, 0, 10, lay.hdr[0]);
    expect_record(&r, 1, 20, lay.hdr[1]);
    expect_corrupt(&r, "zero-filled region", end, 2 * B - end);
    expect_record(&r, 2, 30, 2 * B);
    expect_end(&r, 0, log.size, 0);
    fci_log_reader_free(&r);

    /* A zeroed header with data after it in its block is damage even at
     * the end of the file. */
    fci_buf_truncate(&log, lay.end[1]);
    ck_assert_int_eq(fci_buf_append(&log, zeros, 20), 0);
    ck_assert_int_eq(fci_buf_push(&log, 'x'), 0);
    fci_log_reader_init_mem(&r, "z", log.data, log.size, 0);
    expect_record(&r, 0, 10, lay.hdr[0]);
    expect_record(&r, 1, 20, lay.hdr[1]);
    expect_corrupt(&r, "zero header followed by data", end, 21);
    expect_end(&r, 0, log.size, 0);
    fci_log_reader_free(&r);
    fci_buf_free(&rec);
    fci_buf_free(&log);
}
END_TEST

/* A crash mid-append into a preallocated log leaves part of the last
 * record and the zeros after it: a torn tail from that record's start,
 * whether the tear is in its first block or a later one. Without the zero
 * fill, the same damage at the end is corruption. */
START_TEST(torn_record_before_zero_fill)
{
    size_t sizes[] = { 10, 3 * B, 20 };
    char zeros[2 * B];
    memset(zeros, 0, sizeof zeros);
    uint64_t tears[2];
    fci_buf log = FCI_BUF_INIT;
    layout lay;
    build_log(&log, &lay, sizes, 3);
    tears[0] = lay.hdr[2] + H + 5;    /* inside the last record */
    tears[1] = lay.hdr[1] + B + 100;  /* the big record's second block */
    for (int k = 0; k < 2; k++) {
        fci_buf torn = FCI_BUF_INIT;
        ck_assert_int_eq(fci_buf_append(&torn, log.data, tears[k]), 0);
        ck_assert_int_eq(fci_buf_append(&torn, zeros, sizeof zeros), 0);
        uint64_t start = k == 0 ? lay.hdr[2] : lay.hdr[1];
        fci_log_reader r;
        fci_log_reader_init_mem(&r, "t", torn.data, torn.size, 0);
        expect_record(&r, 0, 10, lay.hdr[0]);
        if (k == 0)
            expect_record(&r, 1, 3 * B, lay.hdr[1]);
        expect_end(&r, 1, start, torn.size - start);
        ck_assert_uint_eq(r.corruptions, 0);
        fci_log_reader_free(&r);
        fci_buf_free(&torn);
    }
    /* A flipped byte in the last record with no zeros after it. */
    log.data[lay.hdr[2] + H + 5] ^= 1;
    fci_log_reader r;
    fci_log_reader_init_mem(&r, "t", log.data, log.size, 0);
    expect_record(&r, 0, 10, lay.hdr[0]);
    expect_record(&r, 1, 3 * B, lay.hdr[1]);
    fci_err err = { 0, "" };
    fci_slice rec;
    ck_assert_int_eq(fci_log_reader_read(&r, &rec, &err), FC_ECORRUPT);
    fci_log_reader_free(&r);
    fci_buf_free(&log);
}
END_TEST

START_TEST(io_errors)
{
    const char *dir = fct_tmpdir();
    char path[4200];
    fci_err err = { 0, "" };
    scratch_file(path, sizeof path, dir, "missing/000001.log");
    fci_log_writer w;
    ck_assert_int_lt(fci_log_writer_open(&w, AT_FDCWD, path, 1, 0600, &err), 0);
    fci_log_reader r;
    ck_assert_int_lt(fci_log_reader_open(&r, AT_FDCWD, path, 0, &err), 0);
    fci_log_reader_free(&r);

    /* Reading through a write-only fd fails with an I/O code, not damage. */
    scratch_file(path, sizeof path, dir, "000001.log");
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_eq(write(fd, "abcdefghij", 10), 10);
    fci_slice got;
    ck_assert_int_eq(fci_log_reader_init_fd(&r, "wo", fd, 0, &err), 0);
    int rc = fci_log_reader_read(&r, &got, &err);
    ck_assert_int_lt(rc, 0);
    ck_assert_int_ne(rc, FC_ECORRUPT);
    fci_log_reader_free(&r);
    close(fd);

    /* A writer whose write fails refuses the rest. */
    fd = open(path, O_RDONLY | O_CLOEXEC);
    fci_log_writer_init(&w, fd, 0);
    ck_assert_int_lt(fci_log_writer_add(&w, fci_slice_str("x"), &err), 0);
    ck_assert_int_eq(fci_log_writer_add(&w, fci_slice_str("x"), &err), FC_EIO);
    ck_assert_int_eq(fci_log_writer_sync(&w, &err), FC_EIO);
    fci_log_writer_close(&w, NULL);
    close(fd);
    fct_rmtree(dir);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("format_log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, empty_log);
    tcase_add_test(tc, empty_record_is_full_of_length_zero);
    tcase_add_test(tc, exact_block_fill);
    tcase_add_test(tc, block_boundary_sizes);
    tcase_add_test(tc, writer_fd_round_trip);
    tcase_add_test(tc, writer_bytes_match_encoder);
    tcase_add_test(tc, writer_continues_existing_log);
    tcase_add_test(tc, record_of_8_mib);
    tcase_add_test(tc, torn_tail_every_cut);
    tcase_add_test(tc, torn_tail_fd);
    tcase_add_test(tc, mid_file_corruption_strict);
    tcase_add_test(tc, best_effort_resyncs_at_next_block);
    tcase_add_test(tc, every_bit_flip_detected);
    tcase_add_test(tc, partial_record_and_missing_start);
    tcase_add_test(tc, bad_length_in_full_block);
    tcase_add_test(tc, zero_fill_tail_and_hole);
    tcase_add_test(tc, torn_record_before_zero_fill);
    tcase_add_test(tc, io_errors);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(log_suite)
