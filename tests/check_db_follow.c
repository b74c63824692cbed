/*
 * check_db_follow.c - the writer following a real redis-server (started
 * here on a unix socket in the test's directory; no mock): invalidations,
 * read-through fills racing writes, staleness under a mutator with forked
 * readers, and the link's failures (CLIENT KILL, DEBUG SLEEP, FLUSHALL,
 * a Redis restart, a SIGKILLed writer). Skipped (77) without redis-server
 * or hiredis.
 */
#include "config.h"

#include "fct.h"

#ifdef HAVE_HIREDIS

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "util/clock.h"

#define MAX_STALE_MS 200

static const char *const prefixes[] = { "u:" };

/* ---- a redis-server of our own ----------------------------------------- */

static char sock_path[4200];
static pid_t redis_pid;

static redisContext *redis_connect(void)
{
    struct timeval tv = { 2, 0 };
    redisContext *c = redisConnectUnixWithTimeout(sock_path, tv);
    if (c != NULL && c->err != 0) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Starts redis-server on sock_path (a child that execs at once) and waits
 * until it answers. */
static void redis_start(void)
{
    snprintf(sock_path, sizeof sock_path, "%s/redis.sock", fct_dir);
    redis_pid = fork();
    ck_assert_int_ge(redis_pid, 0);
    if (redis_pid == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC); /* dup2 keeps fd 1 open */
        dup2(null, 1);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock_path,
               "--save", "", "--appendonly", "no", "--enable-debug-command", "yes", "--dir",
               fct_dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        redisContext *c = redis_connect();
        if (c != NULL) {
            redisFree(c);
            return;
        }
        usleep(10000);
    }
    ck_abort_msg("redis-server did not start on %s", sock_path);
}

static void redis_stop(void)
{
    if (redis_pid <= 0)
        return;
    kill(redis_pid, SIGKILL);
    waitpid(redis_pid, NULL, 0);
    redis_pid = 0;
    unlink(sock_path);
}

static void setup(void)
{
    fct_setup();
    redis_start();
}

static void teardown(void)
{
    redis_stop();
    fct_teardown();
}

/* A command that must succeed; its reply is freed. */
static void rcmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL && r->type != REDIS_REPLY_ERROR, "redis: %s: %s", fmt,
                  r ? r->str : c->errstr);
    freeReplyObject(r);
}

/* ---- the store ------------------------------------------------------------- */

static fc_options follow_opts(int max_stale_ms)
{
    static char url[4300];
    snprintf(url, sizeof url, "unix://%s", sock_path);
    fc_options o = fct_small_opts();
    o.follow = url;
    o.follow_prefixes = prefixes;
    o.follow_nprefixes = 1;
    o.max_stale_ms = max_stale_ms;
    return o;
}

static fc_stats stats_of(fc_store *s)
{
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    return st;
}

/* Waits (up to 10 s) until the link is up and has cleared more than
 * `clears` times. */
static void wait_link(fc_store *s, uint64_t clears)
{
    for (int i = 0; i < 2000; i++) {
        fc_stats st = stats_of(s);
        if (st.follow_link == FC_LINK_UP && st.clears > clears && st.follow_lag_ms < MAX_STALE_MS)
            return;
        usleep(5000);
    }
    ck_abort_msg("the link did not come up");
}

/* SET key value, then waits until the writer has applied its
 * invalidation, so a fill begun afterwards is not refused on its account. */
static void set_settled(fc_store *s, redisContext *c, const char *key, const char *value)
{
    uint64_t inv = stats_of(s).follow_invalidations;
    rcmd(c, "SET %s %s", key, value);
    for (int i = 0; stats_of(s).follow_invalidations <= inv; i++) {
        ck_assert_msg(i < 50000, "no invalidation of %s", key);
        usleep(100);
    }
}

/* The test's process as a writer following the test's Redis, link up. */
static fc_store *open_following(void)
{
    fc_options o = follow_opts(MAX_STALE_MS);
    fc_store *s = fct_open_in(&o);
    wait_link(s, 0);
    return s;
}

/* The fetch of a fill: GET on the caller's own connection. */
static int redis_fetch(void *arg, const void *key, size_t klen, void **value, size_t *vlen)
{
    redisReply *r = redisCommand(arg, "GET %b", key, klen);
    if (r == NULL)
        return FC_EIO;
    int rc = FC_ENOTFOUND;
    if (r->type == REDIS_REPLY_STRING) {
        *value = malloc(r->len + 1);
        memcpy(*value, r->str, r->len);
        *vlen = r->len;
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}

/* Reads key through the store; buf gets the value (NUL-terminated), or
 * "" when Redis has none. */
static int get_through(fc_store *s, redisContext *c, const char *key, char *buf, size_t cap)
{
    void *v = NULL;
    size_t n = 0;
    int rc = fc_get_through(s, key, strlen(key), 0, 0, redis_fetch, c, &v, &n);
    buf[0] = '\0';
    if (rc == 0 && n < cap) {
        memcpy(buf, v, n);
        buf[n] = '\0';
    }
    free(v);
    return rc == FC_ENOTFOUND ? 0 : rc;
}

/* ---- invalidations and fills ------------------------------------------------ */

START_TEST(follow_fill_then_invalidate)
{
    fc_store *s = open_following();
    redisContext *c = redis_connect();
    set_settled(s, c, "u:1", "v1");
    rcmd(c, "SET x:1 other");
    char buf[64];
    ck_assert_int_eq(get_through(s, c, "u:1", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "v1");
    ck_assert_int_eq(fct_get_str(s, "u:1", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "v1");
    rcmd(c, "SET u:1 v2");
    int gone = 0;
    for (int i = 0; i < MAX_STALE_MS && !gone; i++, usleep(1000))
        gone = fct_get_str(s, "u:1", buf, sizeof buf) == FC_ENOTFOUND;
    ck_assert_msg(gone, "u:1 still cached %d ms after its SET", MAX_STALE_MS);
    ck_assert_int_eq(get_through(s, c, "u:1", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "v2");
    rcmd(c, "DEL u:1");
    ck_assert_int_eq(get_through(s, c, "u:404", buf, sizeof buf), 0); /* Redis has none */
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(fct_get_str(s, "u:404", buf, sizeof buf), FC_ENOTFOUND);
    fc_stats st = stats_of(s);
    ck_assert_uint_ge(st.follow_invalidations, 2);
    ck_assert_uint_eq(st.follow_fills, 2);
    redisFree(c);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* Until the link was ever proved, followed keys are misses and fills are
 * refused; other keys are served as usual. */
START_TEST(follow_unreachable_redis_serves_nothing_followed)
{
    fc_options o = follow_opts(MAX_STALE_MS);
    o.follow = "unix:///nonexistent/redis.sock";
    fc_store *s = fct_open_in(&o);
    fct_put_str(s, "u:1", "unproved");
    fct_put_str(s, "x:1", "other");
    char buf[64];
    ck_assert_int_eq(fct_get_str(s, "u:1", buf, sizeof buf), FC_ENOTFOUND);
    ck_assert_int_eq(fct_get_str(s, "x:1", buf, sizeof buf), 0);
    fc_fill_token f;
    ck_assert_int_eq(fc_fill_begin(s, "u:2", 3, &f), 0);
    ck_assert_int_eq(fc_fill_put(s, "u:2", 3, "v", 1, 0, &f), FC_EMISMATCH);
    fc_stats st = stats_of(s);
    ck_assert_int_eq(st.follow_link, FC_LINK_DOWN);
    ck_assert_uint_eq(st.follow_fills_stale, 1);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- staleness under a mutator, with 4 forked readers ---------------------- */

#define STALE_KEYS 50
#define STALE_WRITES 600
#define STALE_READERS 4

typedef struct stale_shared {
    volatile int done;
    _Atomic uint64_t gen[STALE_KEYS];     /* last acknowledged write (gen) */
    _Atomic uint64_t ack_ms[STALE_KEYS];  /* when it was acknowledged */
    volatile long reads[STALE_READERS], violations[STALE_READERS];
    volatile long worst_ms[STALE_READERS];
} stale_shared;

/* A value's generation: "g<n>", or 0 for none. */
static uint64_t gen_of(const char *v)
{
    return v[0] == 'g' ? strtoull(v + 1, NULL, 10) : 0;
}

static int stale_reader(fc_store *s, int w, void *arg)
{
    stale_shared *sh = arg;
    redisContext *c = redis_connect();
    if (c == NULL)
        return 2;
    char key[32], buf[64];
    for (long n = 0; !sh->done; n++) {
        int i = (int)((n * 7 + w) % STALE_KEYS);
        snprintf(key, sizeof key, "u:%d", i);
        uint64_t g = atomic_load(&sh->gen[i]), ack = atomic_load(&sh->ack_ms[i]);
        uint64_t start = fci_mono_ms();
        if (get_through(s, c, key, buf, sizeof buf) != 0)
            return 3;
        uint64_t seen = gen_of(buf);
        sh->reads[w]++;
        /* an older value than one acknowledged before this read began */
        if (seen < g && buf[0] != '\0' && start > ack) {
            long age = (long)(start - ack);
            if (age > sh->worst_ms[w])
                sh->worst_ms[w] = age;
            if (age > MAX_STALE_MS)
                sh->violations[w]++;
        }
    }
    redisFree(c);
    return 0;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

START_TEST(follow_staleness_under_mutator)
{
    fc_store *s = open_following();
    stale_shared *sh = fct_shared(sizeof *sh);
    redisContext *c = redis_connect();
    pid_t kids[STALE_READERS];
    for (int w = 0; w < STALE_READERS; w++)
        kids[w] = fct_fork_worker(s, w, stale_reader, sh);
    static long lat_us[STALE_WRITES];
    char key[32], buf[64];
    for (int n = 0; n < STALE_WRITES; n++) {
        int i = n % STALE_KEYS;
        uint64_t g = (uint64_t)n + 1;
        snprintf(key, sizeof key, "u:%d", i);
        if (n % 10 == 9)
            rcmd(c, "DEL %s", key);
        else
            rcmd(c, "SET %s g%llu", key, (unsigned long long)g);
        uint64_t t0 = fci_mono_ns();
        atomic_store(&sh->ack_ms[i], t0 / 1000000);
        atomic_store(&sh->gen[i], g);
        /* how long until the store holds no older value of the key */
        for (;;) {
            int rc = fct_get_str(s, key, buf, sizeof buf);
            if (rc == FC_ENOTFOUND || gen_of(buf) >= g)
                break;
            ck_assert_msg(fci_mono_ns() - t0 < 2000000000ull, "%s stayed stale", key);
        }
        lat_us[n] = (long)((fci_mono_ns() - t0) / 1000);
        usleep(500);
    }
    sh->done = 1;
    long reads = 0, violations = 0, worst = 0;
    for (int w = 0; w < STALE_READERS; w++) {
        fct_wait_ok(kids[w], "stale reader");
        reads += sh->reads[w];
        violations += sh->violations[w];
        worst = sh->worst_ms[w] > worst ? sh->worst_ms[w] : worst;
    }
    qsort(lat_us, STALE_WRITES, sizeof lat_us[0], cmp_long);
    fc_stats st = stats_of(s);
    printf("follow staleness: %d writes, invalidated in p50 %ld us, p99 %ld us, max %ld us; "
           "%ld reads by %d readers, oldest stale read %ld ms after its write's ack "
           "(limit %d); fills %llu, refused as stale %llu\n",
           STALE_WRITES, lat_us[STALE_WRITES / 2], lat_us[STALE_WRITES * 99 / 100],
           lat_us[STALE_WRITES - 1], reads, STALE_READERS, worst, MAX_STALE_MS,
           (unsigned long long)st.follow_fills, (unsigned long long)st.follow_fills_stale);
    ck_assert_int_eq(violations, 0);
    ck_assert_int_gt(reads, 0);
    redisFree(c);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- fills racing SETs of the same key ---------------------------------------- */

#define RACE_ROUNDS 3000

static int race_filler(fc_store *s, int w, void *arg)
{
    (void)w;
    volatile int *done = arg;
    redisContext *c = redis_connect();
    if (c == NULL)
        return 2;
    char buf[64];
    while (!*done)
        if (get_through(s, c, "u:race", buf, sizeof buf) != 0)
            return 3;
    redisFree(c);
    return 0;
}

START_TEST(follow_fills_racing_sets)
{
    fc_store *s = open_following();
    int *done = fct_shared(sizeof *done);
    redisContext *c = redis_connect();
    rcmd(c, "SET u:race r0");
    pid_t kids[2];
    for (int w = 0; w < 2; w++)
        kids[w] = fct_fork_worker(s, w, race_filler, done);
    char want[32], buf[64];
    long cached_right = 0;
    for (int r = 1; r <= RACE_ROUNDS; r++) {
        snprintf(want, sizeof want, "r%d", r);
        /* once the invalidation of this SET has been applied, nothing
         * older may be cached */
        set_settled(s, c, "u:race", want);
        for (int k = 0; k < 3; k++) {
            if (fct_get_str(s, "u:race", buf, sizeof buf) == 0) {
                ck_assert_msg(strcmp(buf, want) == 0, "round %d: cached %s, Redis has %s", r,
                              buf, want);
                cached_right++;
            }
        }
    }
    *done = 1;
    for (int w = 0; w < 2; w++)
        fct_wait_ok(kids[w], "filler");
    fc_stats st = stats_of(s);
    printf("follow race: %d rounds, %ld checks found the new value cached, fills %llu, "
           "refused as stale %llu\n", RACE_ROUNDS, cached_right,
           (unsigned long long)st.follow_fills, (unsigned long long)st.follow_fills_stale);
    ck_assert_uint_gt(st.follow_fills_stale, 0); /* the race did happen */
    redisFree(c);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- the link's failures ------------------------------------------------------- */

/* Fills u:ev, checks it is cached, then returns the clear count. */
static uint64_t cache_one(fc_store *s, redisContext *c, const char *value)
{
    char buf[64];
    set_settled(s, c, "u:ev", value);
    ck_assert_int_eq(get_through(s, c, "u:ev", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, value);
    ck_assert_int_eq(fct_get_str(s, "u:ev", buf, sizeof buf), 0);
    return stats_of(s).clears;
}

/* After an event: a clear came, the link is back, and values are right. */
static void after_event(fc_store *s, uint64_t clears, const char *what)
{
    wait_link(s, clears);
    char buf[64];
    ck_assert_msg(fct_get_str(s, "u:ev", buf, sizeof buf) == FC_ENOTFOUND, "%s: u:ev survived", what);
    redisContext *c = redis_connect();
    ck_assert_ptr_nonnull(c);
    set_settled(s, c, "u:ev", "fresh");
    ck_assert_int_eq(get_through(s, c, "u:ev", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "fresh");
    rcmd(c, "SET u:ev fresher");
    int gone = 0;
    for (int i = 0; i < MAX_STALE_MS && !gone; i++, usleep(1000))
        gone = fct_get_str(s, "u:ev", buf, sizeof buf) == FC_ENOTFOUND;
    ck_assert_msg(gone, "%s: invalidations do not arrive after it", what);
    redisFree(c);
}

START_TEST(follow_client_kill_flushall_restart)
{
    fc_store *s = open_following();
    redisContext *c = redis_connect();
    uint64_t clears = cache_one(s, c, "a");
    rcmd(c, "CLIENT KILL TYPE pubsub");
    after_event(s, clears, "CLIENT KILL");

    clears = cache_one(s, c, "b");
    rcmd(c, "FLUSHALL");
    after_event(s, clears, "FLUSHALL");

    clears = cache_one(s, c, "c");
    /* DEBUG SLEEP: Redis stops answering; past max_stale_ms the followed
     * keys are misses though nothing was invalidated */
    ck_assert_int_eq(redisAppendCommand(c, "DEBUG SLEEP 1"), REDIS_OK);
    int done = 0;
    while (!done)
        ck_assert_int_eq(redisBufferWrite(c, &done), REDIS_OK);
    usleep((MAX_STALE_MS + MAX_STALE_MS / 2) * 1000);
    char buf[64];
    ck_assert_int_eq(fct_get_str(s, "u:ev", buf, sizeof buf), FC_ENOTFOUND);
    ck_assert_int_eq(stats_of(s).follow_link_losses > 0 || stats_of(s).follow_lag_ms > 0, 1);
    void *r;
    ck_assert_int_eq(redisGetReply(c, &r), REDIS_OK);
    freeReplyObject(r);
    after_event(s, clears, "DEBUG SLEEP");

    clears = cache_one(s, c, "d");
    redisFree(c);
    redis_stop();
    redis_start();
    after_event(s, clears, "a Redis restart");
    ck_assert_uint_ge(stats_of(s).follow_link_losses, 3); /* FLUSHALL only clears */
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- a SIGKILLed writer ---------------------------------------------------------- */

/* A writer process following Redis with its arena in the store directory;
 * it says "ready" on fd and waits to be killed. */
static pid_t writer_child(void)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fc_options o = follow_opts(MAX_STALE_MS);
        o.arena_path = "";
        fc_store *s;
        if (fc_open(fct_dir, &o, &s) != 0)
            _exit(2);
        if (write(p[1], "r", 1) != 1)
            _exit(3);
        for (;;)
            pause();
    }
    char ch;
    close(p[1]);
    ck_assert_int_eq(read(p[0], &ch, 1), 1);
    close(p[0]);
    return pid;
}

static fc_store *attach(void)
{
    fc_options o = fct_small_opts();
    o.flags = FC_ATTACH;
    o.arena_path = "";
    return fct_open_in(&o);
}

START_TEST(follow_writer_killed_and_restarted)
{
    pid_t w = writer_child();
    fc_store *s = attach();
    wait_link(s, 0);
    redisContext *c = redis_connect();
    char buf[64];
    set_settled(s, c, "u:k", "before");
    ck_assert_int_eq(get_through(s, c, "u:k", buf, sizeof buf), 0);
    ck_assert_int_eq(fct_get_str(s, "u:k", buf, sizeof buf), 0);
    kill(w, SIGKILL);
    waitpid(w, NULL, 0);
    rcmd(c, "SET u:k during"); /* nobody listens */
    ck_assert_int_eq(fc_close(s), 0);
    w = writer_child();
    s = attach();
    wait_link(s, 0);
    ck_assert_int_eq(fct_get_str(s, "u:k", buf, sizeof buf), FC_ENOTFOUND);
    ck_assert_int_eq(get_through(s, c, "u:k", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "during");
    rcmd(c, "SET u:k after"); /* following resumed */
    int gone = 0;
    for (int i = 0; i < MAX_STALE_MS && !gone; i++, usleep(1000))
        gone = fct_get_str(s, "u:k", buf, sizeof buf) == FC_ENOTFOUND;
    ck_assert(gone);
    ck_assert_int_eq(fc_close(s), 0);
    kill(w, SIGKILL); /* not SIGTERM: the child has Check's handler for it */
    waitpid(w, NULL, 0);
    redisFree(c);
}
END_TEST

static Suite *follow_suite(void)
{
    Suite *s = suite_create("db_follow");
    TCase *tc = tcase_create("follow");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, follow_fill_then_invalidate);
    tcase_add_test(tc, follow_unreachable_redis_serves_nothing_followed);
    tcase_add_test(tc, follow_staleness_under_mutator);
    tcase_add_test(tc, follow_fills_racing_sets);
    tcase_add_test(tc, follow_client_kill_flushall_restart);
    tcase_add_test(tc, follow_writer_killed_and_restarted);
    suite_add_tcase(s, tc);
    return s;
}

/* Skipped (77, automake's SKIP) where there is no redis-server to run. */
int main(void)
{
    if (system("command -v redis-server >/dev/null 2>&1") != 0)
        return 77;
    setvbuf(stdout, NULL, _IOLBF, 0);
    SRunner *sr = srunner_create(follow_suite());
    srunner_set_fork_status(sr, CK_FORK_GETENV);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#else

int main(void)
{
    return 77; /* built without hiredis */
}

#endif
