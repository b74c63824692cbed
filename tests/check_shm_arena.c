/*
 * check_shm_arena.c - creating and attaching arenas: defaults, file modes,
 * header validation (truncated, foreign magic, other layout version, other
 * byte order), refusing symlinks and files others could write, and a
 * crashed owner's arena re-initialised by the next creator.
 */
#include "config.h"

#include <stddef.h>
#include <sys/stat.h>

#include "fct_internal.h"

static char g_dir[4096];
static char g_path[4200];

static void setup(void)
{
    const char *d = fct_tmpdir();
    ck_assert_ptr_nonnull(d);
    snprintf(g_dir, sizeof g_dir, "%s", d);
    snprintf(g_path, sizeof g_path, "%s/arena", g_dir);
}

static void teardown(void)
{
    fct_rmtree(g_dir);
}

static fci_arena *create_file(const char *path, size_t size, fci_err *e, int *rc)
{
    fci_arena_config cfg;
    fci_arena *a = NULL;
    fci_arena_config_init(&cfg);
    cfg.path = path;
    cfg.size = size;
    cfg.reader_slots = 16;
    cfg.max_mappings = 10;
    cfg.store_dir = "/srv/store";
    *rc = fci_arena_create(&cfg, &a, e);
    return a;
}

/* Overwrites n bytes of the file at off. */
static void poke(const char *path, off_t off, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq((int)pwrite(fd, data, n, off), (int)n);
    close(fd);
}

/* A closed, valid arena file at g_path for the attach tests to spoil. */
static void make_closed_arena(void)
{
    fci_err e;
    int rc;
    unlink(g_path);
    fci_arena *a = create_file(g_path, 1 << 20, &e, &rc);
    ck_assert_msg(rc == 0, "%s", e.msg);
    fci_arena_detach(a);
}

START_TEST(config_defaults_and_checks)
{
    fci_arena_config cfg;
    fci_arena *a = NULL;
    fci_err e;
    fci_arena_config_init(&cfg);
    ck_assert_uint_eq(cfg.size, FC_DEFAULT_ARENA_SIZE);
    ck_assert_uint_eq(cfg.reader_slots, 1024);
    ck_assert_uint_eq(cfg.max_mappings, 1000);
    ck_assert_uint_eq(cfg.file_mode, 0600);
    ck_assert_ptr_null(cfg.path);
    cfg.reader_slots = 0;
    ck_assert_int_eq(fci_arena_create(&cfg, &a, &e), FC_EINVAL);
    cfg.reader_slots = 70000;
    ck_assert_int_eq(fci_arena_create(&cfg, &a, &e), FC_EINVAL);
    fci_arena_config_init(&cfg);
    cfg.size = 8192;
    ck_assert_int_eq(fci_arena_create(&cfg, &a, &e), FC_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "at least"));
    fci_arena_config_init(&cfg);
    cfg.max_mappings = 1u << 24;
    ck_assert_int_eq(fci_arena_create(&cfg, &a, &e), FC_EINVAL);
    fci_arena_config_init(&cfg);
    cfg.file_mode = 0620;
    ck_assert_int_eq(fci_arena_create(&cfg, &a, &e), FC_EINVAL);
    cfg.file_mode = 0400;
    ck_assert_int_eq(fci_arena_create(&cfg, &a, &e), FC_EINVAL);
    ck_assert_ptr_null(a);
    ck_assert_int_eq(fci_arena_create(NULL, &a, &e), FC_EINVAL);
}
END_TEST

/* The default 1 GiB: an anonymous arena is reserved, not touched; a file
 * arena has every block allocated (a page written through the mapping can
 * then never meet a full disk, which would be SIGBUS); both headers read
 * back what was configured. */
START_TEST(default_size_is_reserved_and_file_blocks_allocated)
{
    fci_arena_config cfg;
    fci_arena *a = NULL, *b = NULL;
    fci_err e;
    fci_arena_config_init(&cfg);
    ck_assert_int_eq(fci_arena_create(&cfg, &a, &e), 0);     /* anonymous */
    cfg.path = g_path;
    ck_assert_msg(fci_arena_create(&cfg, &b, &e) == 0, "%s", e.msg);
    struct stat st;
    ck_assert_int_eq(stat(g_path, &st), 0);
    ck_assert_int_eq((long long)st.st_size, 1ll << 30);
    fprintf(stderr, "1 GiB file arena: %lld bytes allocated on disk\n",
            (long long)st.st_blocks * 512);
    ck_assert_int_ge((long long)st.st_blocks * 512, 1ll << 30);
    fci_arena_stats s;
    fci_arena_stats_get(a, &s, NULL, 0);
    ck_assert_uint_eq(s.arena_size, 1ull << 30);
    ck_assert_uint_eq(s.slots_total, 1024);
    ck_assert_uint_eq(s.limiter_capacity, 1000);
    ck_assert_uint_eq(s.bytes_in_use, 0);
    ck_assert_uint_gt(s.heap_size, (1ull << 30) - (1u << 20));
    fci_arena_detach(a);
    fci_arena_detach(b);
}
END_TEST

START_TEST(file_mode_default_0600)
{
    fci_err e;
    int rc;
    fci_arena *a = create_file(g_path, 1 << 20, &e, &rc);
    ck_assert_msg(rc == 0, "%s", e.msg);
    struct stat st;
    ck_assert_int_eq(stat(g_path, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    ck_assert_str_eq(fci_arena_store_dir(a), "/srv/store");
    fci_arena_detach(a);

    /* a configured mode is applied exactly, whatever the umask */
    fci_arena_config cfg;
    fci_arena_config_init(&cfg);
    char p2[4300];
    snprintf(p2, sizeof p2, "%s/arena2", g_dir);
    cfg.path = p2;
    cfg.size = 1 << 20;
    cfg.reader_slots = 4;
    cfg.file_mode = 0640;
    mode_t old = umask(077);
    ck_assert_int_eq(fci_arena_create(&cfg, &a, &e), 0);
    umask(old);
    ck_assert_int_eq(stat(p2, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0640);
    fci_arena_detach(a);
}
END_TEST

/* A second handle (as another process would) sees what the first wrote,
 * at the same offset and a different address. */
START_TEST(attach_sees_creator_data)
{
    fci_err e;
    int rc;
    fci_arena *a = create_file(g_path, 1 << 20, &e, &rc), *b = NULL;
    ck_assert_int_eq(rc, 0);
    uint64_t off;
    ck_assert_int_eq(fci_arena_alloc(a, 64, &off, &e), 0);
    strcpy(fci_arena_ptr(a, off, 64), "hello from the creator");
    ck_assert_msg(fci_arena_attach(g_path, &b, &e) == 0, "%s", e.msg);
    ck_assert_ptr_ne(a->base, b->base);
    ck_assert_str_eq(fci_arena_ptr(b, off, 64), "hello from the creator");
    ck_assert_str_eq(fci_arena_store_dir(b), "/srv/store");
    ck_assert_int_ne(a->slot, b->slot);
    fci_arena_detach(b);
    fci_arena_detach(a);
}
END_TEST

static void expect_attach_fails(int code, const char *needle)
{
    fci_arena *a = NULL;
    fci_err e;
    fci_err_clear(&e);
    int rc = fci_arena_attach(g_path, &a, &e);
    ck_assert_msg(rc == code, "attach: expected %d, got %d (%s)", code, rc, e.msg);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", e.msg, needle);
    ck_assert_ptr_null(a);
}

START_TEST(attach_truncated)
{
    make_closed_arena();
    ck_assert_int_eq(truncate(g_path, 100), 0);
    expect_attach_fails(FC_ECORRUPT, "file is 100 bytes, smaller than the 1024-byte header");
    make_closed_arena();
    ck_assert_int_eq(truncate(g_path, 1 << 19), 0);
    expect_attach_fails(FC_ECORRUPT, "header says 1048576, file is 524288 bytes");
    ck_assert_int_eq(truncate(g_path, 0), 0);
    expect_attach_fails(FC_ECORRUPT, "file is 0 bytes");
}
END_TEST

START_TEST(attach_other_magic)
{
    make_closed_arena();
    poke(g_path, 0, "LEVELDB!", 8);
    expect_attach_fails(FC_ECORRUPT, "magic: expected 31414e4552414346, found 2142444c4556454");
    uint64_t zero = 0;
    poke(g_path, 0, &zero, 8);
    expect_attach_fails(FC_ECORRUPT, "never finished initialising");
}
END_TEST

START_TEST(attach_other_version)
{
    make_closed_arena();
    uint32_t v = FCI_ARENA_LAYOUT_VERSION + 1;
    poke(g_path, offsetof(fci_arena_header, layout_version), &v, 4);
    char want[64];
    snprintf(want, sizeof want, "layout version: expected %u, found %u",
             FCI_ARENA_LAYOUT_VERSION, FCI_ARENA_LAYOUT_VERSION + 1);
    expect_attach_fails(FC_EVERSION, want);
}
END_TEST

/* Layout 1 predates the expiry block (ttl_off took its padding word at
 * 600) and value framing: a build of layout 1 attached to a framed store's
 * arena would hand out values with their frames and queue unframed ones
 * that the writer stores as they are. Layout 2 predates the write lane: a
 * build of layout 2 would write without the write lock. So builds refuse
 * each other's arenas; yet a closed arena file of an older layout left in
 * a store directory must not stop this build's writer from opening the
 * store: its owner fields sit where ours do, and with its owner gone the
 * file is replaced. Run for every older layout (_i). */
START_TEST(attach_layout_before_expiry)
{
    make_closed_arena();
    uint32_t v = (uint32_t)_i;
    poke(g_path, offsetof(fci_arena_header, layout_version), &v, 4);
    char want[64];
    snprintf(want, sizeof want, "layout version: expected %u, found %u",
             FCI_ARENA_LAYOUT_VERSION, v);
    ck_assert_uint_gt(FCI_ARENA_LAYOUT_VERSION, v);
    expect_attach_fails(FC_EVERSION, want);
    fci_err e;
    int rc;
    fci_arena *a = create_file(g_path, 1 << 20, &e, &rc);
    ck_assert_msg(rc == 0, "a closed layout-%u arena was not replaced: %s", v, e.msg);
    fci_arena_detach(a);
    fci_arena *b = NULL;
    ck_assert_int_eq(fci_arena_attach(g_path, &b, &e), 0);
    fci_arena_detach(b);
}
END_TEST

START_TEST(attach_other_byte_order)
{
    make_closed_arena();
    uint64_t bom = __builtin_bswap64(FCI_ARENA_BOM);
    poke(g_path, offsetof(fci_arena_header, bom), &bom, 8);
    expect_attach_fails(FC_EVERSION, "byte order mark: expected 0102030405060708, "
                                     "found 0807060504030201");
    /* the whole header byte-swapped, as a big-endian machine would write it */
    make_closed_arena();
    uint64_t m = __builtin_bswap64(FCI_ARENA_MAGIC);
    poke(g_path, 0, &m, 8);
    poke(g_path, offsetof(fci_arena_header, bom), &bom, 8);
    expect_attach_fails(FC_EVERSION, "other byte order");
}
END_TEST

START_TEST(attach_bad_geometry)
{
    make_closed_arena();
    uint32_t slots = 70000;
    poke(g_path, offsetof(fci_arena_header, slot_count), &slots, 4);
    expect_attach_fails(FC_ECORRUPT, "geometry");
    make_closed_arena();
    uint64_t heap = 1 << 20;
    poke(g_path, offsetof(fci_arena_header, heap_off), &heap, 8);
    expect_attach_fails(FC_ECORRUPT, "geometry");
    make_closed_arena();
    uint32_t dlen = 5;       /* "/srv/store" is 10 bytes: unterminated claim */
    poke(g_path, offsetof(fci_arena_header, dir_len), &dlen, 4);
    expect_attach_fails(FC_ECORRUPT, "geometry");
}
END_TEST

START_TEST(attach_missing)
{
    expect_attach_fails(FC_ENOTFOUND, "No such file");
}
END_TEST

START_TEST(symlink_refused)
{
    make_closed_arena();
    char link[4300];
    snprintf(link, sizeof link, "%s/link", g_dir);
    ck_assert_int_eq(symlink(g_path, link), 0);
    fci_arena *a = NULL;
    fci_err e;
    ck_assert_int_eq(fci_arena_attach(link, &a, &e), FC_EPERM);
    ck_assert_ptr_nonnull(strstr(e.msg, "symbolic link"));
    int rc;
    a = create_file(link, 1 << 20, &e, &rc);
    ck_assert_int_eq(rc, FC_EPERM);
    struct stat st;
    ck_assert_int_eq(lstat(link, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));            /* left alone */
}
END_TEST

START_TEST(writable_by_others_refused)
{
    make_closed_arena();
    ck_assert_int_eq(chmod(g_path, 0620), 0);
    expect_attach_fails(FC_EPERM, "mode 0620 is writable by group or others");
    ck_assert_int_eq(chmod(g_path, 0602), 0);
    expect_attach_fails(FC_EPERM, "writable by group or others");
    fci_err e;
    int rc;
    create_file(g_path, 1 << 20, &e, &rc);
    ck_assert_int_eq(rc, FC_EPERM);
    ck_assert_int_eq(chmod(g_path, 0600), 0);
    if (geteuid() == 0) {
        /* root can hand the file to another uid */
        ck_assert_int_eq(chown(g_path, 65534, 65534), 0);
        expect_attach_fails(FC_EPERM, "owned by uid 65534, expected 0");
    }
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/adir", g_dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    fci_arena *a = NULL;
    ck_assert_int_eq(fci_arena_attach(dir, &a, &e), FC_EPERM);
}
END_TEST

START_TEST(create_refuses_live_owner_and_foreign_file)
{
    fci_err e;
    int rc;
    fci_arena *a = create_file(g_path, 1 << 20, &e, &rc);
    ck_assert_int_eq(rc, 0);
    create_file(g_path, 1 << 20, &e, &rc);
    ck_assert_int_eq(rc, FC_EBUSY);
    ck_assert_ptr_nonnull(strstr(e.msg, "owned by live process"));
    fci_arena_detach(a);
    /* the owner detached normally: the next creator starts afresh */
    a = create_file(g_path, 1 << 20, &e, &rc);
    ck_assert_msg(rc == 0, "%s", e.msg);
    fci_arena_detach(a);
    /* a file that is not an arena is never overwritten */
    poke(g_path, 0, "not an arena at all", 19);
    create_file(g_path, 1 << 20, &e, &rc);
    ck_assert_int_eq(rc, FC_ECORRUPT);
    char buf[19];
    int fd = open(g_path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_eq((int)read(fd, buf, 19), 19);
    close(fd);
    ck_assert_int_eq(memcmp(buf, "not an arena at all", 19), 0);
}
END_TEST

/* The owner is SIGKILLed; the next creator sees it dead (pid + start
 * time), builds a fresh arena, and a process still mapping the old one
 * keeps reading its old, consistent contents. */
START_TEST(crashed_owner_reinitialised)
{
    int ready[2];
    ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
    pid_t kid = fork();
    if (kid == 0) {
        fci_err e;
        int rc;
        fci_arena *a = create_file(g_path, 1 << 20, &e, &rc);
        if (rc != 0)
            _exit(1);
        uint64_t off;
        fci_arena_alloc(a, 64, &off, NULL);
        strcpy(fci_arena_ptr(a, off, 64), "old");
        fci_arena_publish(a, off, 41);
        fci_limiter_acquire(a, NULL);
        if (write(ready[1], "x", 1) != 1)
            _exit(2);
        pause();
        _exit(0);
    }
    fct_wait_byte(ready[0]);
    fci_arena *old = NULL, *a;
    fci_err e;
    int rc;
    ck_assert_int_eq(fci_arena_attach(g_path, &old, &e), 0);
    create_file(g_path, 1 << 20, &e, &rc);
    ck_assert_int_eq(rc, FC_EBUSY);                 /* alive */
    fct_kill(kid);
    a = create_file(g_path, 1 << 20, &e, &rc);
    ck_assert_msg(rc == 0, "reinit: %s", e.msg);
    ck_assert_int_eq(atomic_load(&a->hdr->owner_pid), getpid());
    ck_assert_uint_eq(atomic_load(&a->hdr->published_seq), 0);
    ck_assert_uint_eq(fci_limiter_available(a), 10);
    fci_arena_stats st;
    fci_arena_stats_get(a, &st, NULL, 0);
    ck_assert_uint_eq(st.slots_live, 1);
    ck_assert_uint_eq(st.blocks_in_use, 0);
    /* the orphaned mapping is untouched */
    uint64_t off = atomic_load(&old->hdr->current_version_off);
    ck_assert_uint_eq(atomic_load(&old->hdr->published_seq), 41);
    ck_assert_str_eq(fci_arena_ptr(old, off, 4), "old");
    /* and a new attach gets the new arena */
    fci_arena *b = NULL;
    ck_assert_int_eq(fci_arena_attach(g_path, &b, &e), 0);
    ck_assert_uint_eq(atomic_load(&b->hdr->published_seq), 0);
    fci_arena_detach(b);
    fci_arena_detach(old);
    fci_arena_detach(a);
}
END_TEST

/* The creator's normal detach gives up ownership (so the next creator may
 * start afresh); an attacher's detach does not touch it. */
START_TEST(owner_detach_clears_owner)
{
    fci_err e;
    int rc;
    fci_arena *a = create_file(g_path, 1 << 20, &e, &rc);
    ck_assert_int_eq(rc, 0);
    fci_arena *b = NULL;
    ck_assert_int_eq(fci_arena_attach(g_path, &b, &e), 0);
    ck_assert_int_eq(atomic_load(&b->hdr->owner_pid), getpid());
    fci_arena_detach(a);
    ck_assert_int_eq(atomic_load(&b->hdr->owner_pid), 0);
    fci_arena_detach(b);          /* an attacher never clears ownership */
}
END_TEST

static Suite *arena_suite(void)
{
    Suite *s = suite_create("shm_arena");
    TCase *tc = tcase_create("arena");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, config_defaults_and_checks);
    tcase_add_test(tc, default_size_is_reserved_and_file_blocks_allocated);
    tcase_add_test(tc, file_mode_default_0600);
    tcase_add_test(tc, attach_sees_creator_data);
    tcase_add_test(tc, attach_truncated);
    tcase_add_test(tc, attach_other_magic);
    tcase_add_test(tc, attach_other_version);
    tcase_add_loop_test(tc, attach_layout_before_expiry, FCI_ARENA_LAYOUT_OLDEST,
                        FCI_ARENA_LAYOUT_VERSION);
    tcase_add_test(tc, attach_other_byte_order);
    tcase_add_test(tc, attach_bad_geometry);
    tcase_add_test(tc, attach_missing);
    tcase_add_test(tc, symlink_refused);
    tcase_add_test(tc, writable_by_others_refused);
    tcase_add_test(tc, create_refuses_live_owner_and_foreign_file);
    tcase_add_test(tc, crashed_owner_reinitialised);
    tcase_add_test(tc, owner_detach_clears_owner);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(arena_suite)
