/*
 * cache.c - forkcache.Cache: a store as a MutableMapping of bytes to bytes.
 *
 * Reads (c[k], get, in) copy the value into a bytes object inside a short
 * read transaction and keep the GIL: they never wait. Writes and the
 * atomic operations release the GIL, because a write from a process that
 * is not the store's writer waits for the writer through the write queue;
 * `busy` counts those calls so close() never frees a store another thread
 * is still using.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pyfc.h"

/* 0 when c may be used; else raises (closed, or a child that could not
 * take its share of the store after fork) and returns -1. */
int pyfc_cache_usable(pyfc_cache *c)
{
    if (c->store == NULL) {
        pyfc_raise(FC_ECLOSED, "the cache is closed");
        return -1;
    }
    if (c->fork_broken) {
        pyfc_raise(c->fork_broken, "this process could not take its share of the store after "
                                   "fork (fc_after_fork failed, or the fork happened inside "
                                   "a view() block): open the store again");
        return -1;
    }
    return 0;
}

/* Called in a fork's child for every cache open in the parent. */
void pyfc_cache_child(pyfc_cache *c, int after_fork_ok)
{
    c->busy = 0; /* the threads that were inside calls did not come along */
    while (c->views)
        pyfc_view_forget(c->views);
    if (c->store == NULL)
        return;
    int rc = after_fork_ok ? fc_after_fork(c->store) : FC_EINVAL;
    c->fork_broken = rc;
}

/* ---- opening --------------------------------------------------------------- */

/* The fc_options fields Cache(path, **options) accepts, by keyword. */
enum { OPT_INT, OPT_UNSIGNED, OPT_SIZE, OPT_U64 };
static const struct {
    const char *name;
    size_t offset;
    int kind;
} numeric_opts[] = {
    {"write_buffer_size", offsetof(fc_options, write_buffer_size), OPT_SIZE},
    {"block_size", offsetof(fc_options, block_size), OPT_SIZE},
    {"block_restart_interval", offsetof(fc_options, block_restart_interval), OPT_INT},
    {"max_file_size", offsetof(fc_options, max_file_size), OPT_SIZE},
    {"bloom_bits_per_key", offsetof(fc_options, bloom_bits_per_key), OPT_INT},
    {"compression", offsetof(fc_options, compression), OPT_INT},
    {"max_mappings", offsetof(fc_options, max_mappings), OPT_INT},
    {"reader_slots", offsetof(fc_options, reader_slots), OPT_INT},
    {"arena_size", offsetof(fc_options, arena_size), OPT_SIZE},
    {"block_cache_size", offsetof(fc_options, block_cache_size), OPT_SIZE},
    {"file_mode", offsetof(fc_options, file_mode), OPT_UNSIGNED},
    {"queue_slots", offsetof(fc_options, queue_slots), OPT_INT},
    {"queue_entry_size", offsetof(fc_options, queue_entry_size), OPT_SIZE},
    {"write_timeout_ms", offsetof(fc_options, write_timeout_ms), OPT_INT},
    {"max_bytes", offsetof(fc_options, max_bytes), OPT_U64},
    {"hash_index", offsetof(fc_options, hash_index), OPT_INT},
    {"max_snapshot_age_ms", offsetof(fc_options, max_snapshot_age_ms), OPT_INT},
};
static const struct {
    const char *name;
    unsigned flag;
} flag_opts[] = {
    {"create", FC_CREATE}, {"readonly", FC_READONLY}, {"sync", FC_SYNC},
    {"paranoid", FC_PARANOID}, {"best_effort", FC_BEST_EFFORT}, {"attach", FC_ATTACH},
};

/* Stores the number v into the field of o that numeric_opts[i] names. */
static int set_numeric(fc_options *o, size_t i, PyObject *v)
{
    char *field = (char *)o + numeric_opts[i].offset;
    unsigned long long u = 0;
    long long s = 0;
    if (numeric_opts[i].kind == OPT_INT)
        s = PyLong_AsLongLong(v);
    else
        u = PyLong_AsUnsignedLongLong(v);
    if (PyErr_Occurred())
        return -1;
    switch (numeric_opts[i].kind) {
    case OPT_INT:
        if (s < INT32_MIN || s > INT32_MAX)
            break;
        *(int *)(void *)field = (int)s;
        return 0;
    case OPT_UNSIGNED:
        if (u > UINT32_MAX)
            break;
        *(unsigned *)(void *)field = (unsigned)u;
        return 0;
    case OPT_SIZE:
        *(size_t *)(void *)field = (size_t)u;
        return 0;
    default:
        *(uint64_t *)(void *)field = (uint64_t)u;
        return 0;
    }
    PyErr_Format(PyExc_OverflowError, "option %s is out of range", numeric_opts[i].name);
    return -1;
}

/* Applies one keyword option; arena_path's string is kept alive in *keep. */
static int set_option(fc_options *o, const char *name, PyObject *v, int *framing, PyObject **keep)
{
    for (size_t i = 0; i < sizeof numeric_opts / sizeof numeric_opts[0]; i++)
        if (strcmp(name, numeric_opts[i].name) == 0)
            return set_numeric(o, i, v);
    for (size_t i = 0; i < sizeof flag_opts / sizeof flag_opts[0]; i++)
        if (strcmp(name, flag_opts[i].name) == 0) {
            int on = PyObject_IsTrue(v);
            if (on < 0)
                return -1;
            o->flags = on ? o->flags | flag_opts[i].flag : o->flags & ~flag_opts[i].flag;
            return 0;
        }
    if (strcmp(name, "ttl_framing") == 0) {
        int on = v == Py_None ? 0 : PyObject_IsTrue(v);
        if (on < 0)
            return -1;
        *framing = v == Py_None ? -1 : on;
        return 0;
    }
    if (strcmp(name, "arena_path") == 0) {
        if (v == Py_None) {
            o->arena_path = NULL;
            return 0;
        }
        if (!PyUnicode_FSConverter(v, keep))
            return -1;
        o->arena_path = PyBytes_AS_STRING(*keep);
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "Cache() got an unknown option '%s'", name);
    return -1;
}

/* ttl_framing=None (the default): a new store is framed, so expire works;
 * an existing one keeps what it was created with. */
static int default_framing(const char *dir)
{
    char path[4096];
    PyOS_snprintf(path, sizeof path, "%s/CURRENT", dir);
    return access(path, F_OK) == 0 ? 0 : 1;
}

/* Cache(path, **options): opens (by default creates) the store. */
static int cache_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    pyfc_cache *c = (pyfc_cache *)self;
    PyObject *path = NULL, *fspath = NULL, *keep = NULL;
    if (c->store != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Cache.__init__ called on an open cache");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "O&:Cache", PyUnicode_FSConverter, &fspath))
        return -1;
    fc_options o;
    fc_options_init(&o);
    int framing = -1, rc = -1;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (kwds && PyDict_Next(kwds, &pos, &k, &v)) {
        const char *name = PyUnicode_AsUTF8(k);
        if (name == NULL || set_option(&o, name, v, &framing, &keep) < 0)
            goto out;
    }
    const char *dir = PyBytes_AS_STRING(fspath);
    o.ttl_framing = framing < 0 ? default_framing(dir) : framing;
    fc_store *s = NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = fc_open(dir, &o, &s);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        pyfc_raise(rc, fc_errmsg(NULL));
        rc = -1;
        goto out;
    }
    path = PyUnicode_DecodeFSDefault(dir);
    c->store = s;
    Py_XSETREF(c->path, path);
    pyfc_registry_add(c);
out:
    Py_XDECREF(fspath);
    Py_XDECREF(keep);
    return rc;
}

/* Closes the store; refused while a view or another thread's call is open. */
static int cache_close_store(pyfc_cache *c)
{
    if (c->store == NULL)
        return 0;
    if (pyfc_view_sweep(c) > 0 || c->busy > 0) {
        pyfc_raise(FC_EBUSY, "the cache has an open view() or a call running in another thread");
        return -1;
    }
    fc_store *s = c->store;
    c->store = NULL;
    pyfc_registry_remove(c);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fc_close(s);
    Py_END_ALLOW_THREADS
    if (rc != 0 && !c->fork_broken) {
        pyfc_raise(rc, "fc_close failed (the store is closed anyway)");
        return -1;
    }
    return 0;
}

static PyObject *cache_close(PyObject *self, PyObject *unused)
{
    (void)unused;
    if (cache_close_store((pyfc_cache *)self) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static void cache_dealloc(PyObject *self)
{
    pyfc_cache *c = (pyfc_cache *)self;
    if (c->weakrefs)
        PyObject_ClearWeakRefs(self);
    if (c->store) {
        /* No view can be open (each holds a reference); a failing close has
         * no one to report to. */
        pyfc_registry_remove(c);
        fc_close(c->store);
        c->store = NULL;
    }
    Py_CLEAR(c->path);
    Py_TYPE(self)->tp_free(self);
}

/* ---- reads ----------------------------------------------------------------- */

/* Looks key up in a fresh transaction. Returns a new bytes, or NULL with
 * *rc = FC_ENOTFOUND and no exception set for a miss, or NULL with an
 * exception. */
static PyObject *read_copy(pyfc_cache *c, PyObject *key, int *rc)
{
    pyfc_bytes k;
    *rc = 0;
    if (pyfc_cache_usable(c) < 0 || pyfc_key(key, &k) < 0)
        return NULL;
    PyObject *out = NULL;
    fc_txn *t;
    *rc = fc_txn_begin(c->store, &t);
    if (*rc == 0) {
        fc_val val;
        *rc = fc_get(t, k.buf.buf, (size_t)k.buf.len, &val);
        if (*rc == 0)
            out = PyBytes_FromStringAndSize(val.data, (Py_ssize_t)val.size);
        int end = fc_txn_end(t);
        if (*rc == 0 && end != 0)
            *rc = end;
    }
    if (*rc != 0 && *rc != FC_ENOTFOUND)
        pyfc_raise_store(c, *rc);
    if (*rc != 0)
        Py_CLEAR(out);
    pyfc_bytes_release(&k);
    return out;
}

static PyObject *cache_getitem(PyObject *self, PyObject *key)
{
    int rc;
    PyObject *v = read_copy((pyfc_cache *)self, key, &rc);
    if (v == NULL && rc == FC_ENOTFOUND)
        return pyfc_not_found(key);
    return v;
}

/* get(key, default=None) */
static PyObject *cache_get(PyObject *self, PyObject *args)
{
    PyObject *key, *dflt = Py_None;
    int rc;
    if (!PyArg_ParseTuple(args, "O|O:get", &key, &dflt))
        return NULL;
    PyObject *v = read_copy((pyfc_cache *)self, key, &rc);
    if (v == NULL && rc == FC_ENOTFOUND)
        return Py_NewRef(dflt);
    return v;
}

static int cache_contains(PyObject *self, PyObject *key)
{
    int rc;
    PyObject *v = read_copy((pyfc_cache *)self, key, &rc);
    if (v != NULL) {
        Py_DECREF(v);
        return 1;
    }
    return rc == FC_ENOTFOUND ? 0 : -1;
}

/* ttl(key): seconds left as a float, None when it never expires. */
static PyObject *cache_ttl(PyObject *self, PyObject *key)
{
    pyfc_cache *c = (pyfc_cache *)self;
    pyfc_bytes k;
    if (pyfc_cache_usable(c) < 0 || pyfc_key(key, &k) < 0)
        return NULL;
    fc_txn *t;
    uint64_t left = 0;
    int rc = fc_txn_begin(c->store, &t);
    if (rc == 0) {
        rc = fc_ttl(t, k.buf.buf, (size_t)k.buf.len, &left);
        fc_txn_end(t);
    }
    pyfc_bytes_release(&k);
    if (rc == FC_ENOTFOUND)
        return pyfc_not_found(key);
    if (rc != 0)
        return pyfc_raise_store(c, rc);
    if (left == FC_TTL_FOREVER)
        Py_RETURN_NONE;
    return PyFloat_FromDouble((double)left / 1000.0);
}

static Py_ssize_t cache_len(PyObject *self)
{
    return pyfc_count((pyfc_cache *)self);
}

static PyObject *cache_iter(PyObject *self)
{
    return pyfc_keyiter_new((pyfc_cache *)self);
}

/* ---- writes ---------------------------------------------------------------- */

/* The arguments of one write, parsed; the call runs with the GIL released. */
typedef struct write_call {
    pyfc_cache *c;
    pyfc_bytes key, val, expected;
    int nbufs;          /* how many of key, val, expected are held */
    uint64_t ttl_ms;
    int64_t delta, initial, result;
} write_call;

/* Parses key (and value, and expected when given) and expire into w. */
static int write_prepare(write_call *w, pyfc_cache *c, PyObject *key, PyObject *val,
                         PyObject *expected, PyObject *expire)
{
    memset(w, 0, sizeof *w);
    w->c = c;
    if (pyfc_cache_usable(c) < 0 || pyfc_expire(expire, &w->ttl_ms) < 0)
        return -1;
    if (pyfc_key(key, &w->key) < 0)
        return -1;
    w->nbufs = 1;
    if (val != NULL) {
        if (pyfc_value(val, &w->val) < 0)
            return -1;
        w->nbufs = 2;
    }
    if (expected != NULL) {
        if (pyfc_value(expected, &w->expected) < 0)
            return -1;
        w->nbufs = 3;
    }
    return 0;
}

static void write_release(write_call *w)
{
    pyfc_bytes *b[] = {&w->key, &w->val, &w->expected};
    for (int i = 0; i < w->nbufs; i++)
        pyfc_bytes_release(b[i]);
}

enum { OP_PUT, OP_DEL, OP_ADD, OP_REPLACE, OP_CAS, OP_INCR };

/* Runs op with the GIL released; returns the library's code. */
static int write_run(write_call *w, int op)
{
    fc_store *s = w->c->store;
    const void *k = w->key.buf.buf, *v = w->val.buf.buf, *e = w->expected.buf.buf;
    size_t kl = (size_t)w->key.buf.len, vl = (size_t)w->val.buf.len;
    size_t el = (size_t)w->expected.buf.len;
    int rc;
    w->c->busy++;
    Py_BEGIN_ALLOW_THREADS
    switch (op) {
    case OP_PUT: rc = fc_put_ttl(s, k, kl, v, vl, w->ttl_ms); break;
    case OP_DEL: rc = fc_del(s, k, kl); break;
    case OP_ADD: rc = fc_add(s, k, kl, v, vl, w->ttl_ms); break;
    case OP_REPLACE: rc = fc_replace(s, k, kl, v, vl, w->ttl_ms); break;
    case OP_CAS: rc = fc_cas(s, k, kl, e, el, v, vl, w->ttl_ms); break;
    default: rc = fc_incr(s, k, kl, w->delta, w->initial, w->ttl_ms, &w->result); break;
    }
    Py_END_ALLOW_THREADS
    w->c->busy--;
    return rc;
}

/* One write: parse, run, release. Returns the code, or 1 after raising.
 * `quiet` codes are returned without raising. */
static int write_op(pyfc_cache *c, int op, PyObject *key, PyObject *val, PyObject *expected,
                    PyObject *expire, int quiet1, int quiet2)
{
    write_call w;
    int rc = 1;
    if (write_prepare(&w, c, key, val, expected, expire) == 0) {
        rc = write_run(&w, op);
        if (rc != 0 && rc != quiet1 && rc != quiet2) {
            pyfc_raise_store(c, rc);
            rc = 1;
        }
    }
    write_release(&w);
    return rc;
}

/* c[k] = v and del c[k]. del of a missing key raises KeyError (checked
 * first, so a concurrent delete may make it pass silently). */
static int cache_setitem(PyObject *self, PyObject *key, PyObject *val)
{
    pyfc_cache *c = (pyfc_cache *)self;
    if (val != NULL)
        return write_op(c, OP_PUT, key, val, NULL, NULL, 0, 0) == 0 ? 0 : -1;
    int present = cache_contains(self, key);
    if (present <= 0) {
        if (present == 0)
            pyfc_not_found(key);
        return -1;
    }
    return write_op(c, OP_DEL, key, NULL, NULL, NULL, 0, 0) == 0 ? 0 : -1;
}

/* set(key, value, expire=None) */
static PyObject *cache_set(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"key", "value", "expire", NULL};
    PyObject *key, *val, *expire = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:set", names, &key, &val, &expire))
        return NULL;
    if (write_op((pyfc_cache *)self, OP_PUT, key, val, NULL, expire, 0, 0) != 0)
        return NULL;
    Py_RETURN_NONE;
}

/* add / replace: True when written, False when the key was present /
 * absent. */
static PyObject *conditional(PyObject *self, PyObject *args, PyObject *kw, int op, int miss)
{
    static char *names[] = {"key", "value", "expire", NULL};
    PyObject *key, *val, *expire = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O", names, &key, &val, &expire))
        return NULL;
    int rc = write_op((pyfc_cache *)self, op, key, val, NULL, expire, miss, 0);
    if (rc == 1)
        return NULL;
    return PyBool_FromLong(rc == 0);
}

static PyObject *cache_add(PyObject *self, PyObject *args, PyObject *kw)
{
    return conditional(self, args, kw, OP_ADD, FC_EEXIST);
}

static PyObject *cache_replace(PyObject *self, PyObject *args, PyObject *kw)
{
    return conditional(self, args, kw, OP_REPLACE, FC_ENOTFOUND);
}

/* cas(key, expected, value, expire=None): True when swapped, False when
 * the value differed; KeyError when the key is absent. */
static PyObject *cache_cas(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"key", "expected", "value", "expire", NULL};
    PyObject *key, *expected, *val, *expire = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|O:cas", names, &key, &expected, &val, &expire))
        return NULL;
    int rc = write_op((pyfc_cache *)self, OP_CAS, key, val, expected, expire, FC_EMISMATCH,
                      FC_ENOTFOUND);
    if (rc == 1)
        return NULL;
    if (rc == FC_ENOTFOUND)
        return pyfc_not_found(key);
    return PyBool_FromLong(rc == 0);
}

/* delete(key): True when the key was there (checked first: not atomic
 * with the delete itself). */
static PyObject *cache_delete(PyObject *self, PyObject *key)
{
    int present = cache_contains(self, key);
    if (present < 0)
        return NULL;
    if (present && write_op((pyfc_cache *)self, OP_DEL, key, NULL, NULL, NULL, 0, 0) != 0)
        return NULL;
    return PyBool_FromLong(present);
}

/* incr(key, delta=1, default=0, expire=None) -> the new value. The
 * counter is decimal ASCII ("42"); an absent key starts at default. */
static PyObject *cache_incr(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"key", "delta", "default", "expire", NULL};
    PyObject *key, *expire = Py_None;
    long long delta = 1, initial = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|LLO:incr", names, &key, &delta, &initial, &expire))
        return NULL;
    write_call w;
    PyObject *out = NULL;
    if (write_prepare(&w, (pyfc_cache *)self, key, NULL, NULL, expire) == 0) {
        w.delta = delta;
        w.initial = initial;
        int rc = write_run(&w, OP_INCR);
        out = rc == 0 ? PyLong_FromLongLong(w.result) : pyfc_raise_store(w.c, rc);
    }
    write_release(&w);
    return out;
}

/* decr(key, delta=1, default=0, expire=None) = incr(key, -delta, ...) */
static PyObject *cache_decr(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"key", "delta", "default", "expire", NULL};
    PyObject *key, *expire = Py_None;
    long long delta = 1, initial = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|LLO:decr", names, &key, &delta, &initial, &expire))
        return NULL;
    if (delta == INT64_MIN)
        return pyfc_raise(FC_EOVERFLOW, "decr: delta out of range");
    return PyObject_CallMethod(self, "incr", "OLLO", key, -delta, initial, expire);
}

/* flush(): the memtable to a table, waited for. */
static PyObject *cache_flush(PyObject *self, PyObject *unused)
{
    (void)unused;
    pyfc_cache *c = (pyfc_cache *)self;
    if (pyfc_cache_usable(c) < 0)
        return NULL;
    int rc;
    c->busy++;
    Py_BEGIN_ALLOW_THREADS
    rc = fc_flush(c->store);
    Py_END_ALLOW_THREADS
    c->busy--;
    if (rc != 0)
        return pyfc_raise_store(c, rc);
    Py_RETURN_NONE;
}

/* ---- get_or_set ------------------------------------------------------------ */

/* What the compute callback needs: the function and the exception it
 * raised, held until the caller is back with the GIL. */
typedef struct compute_ctx {
    PyObject *fn;
    PyObject *exc_type, *exc_value, *exc_tb;
    int bad_type;
} compute_ctx;

/* fc_compute_fn: calls fn() with the GIL taken back, copies its bytes. */
static int compute_cb(void *arg, const void *key, size_t klen, void **value, size_t *vlen)
{
    (void)key;
    (void)klen;
    compute_ctx *cx = arg;
    int rc = FC_EINTERNAL;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs(cx->fn);
    Py_buffer b;
    if (r != NULL && PyObject_CheckBuffer(r) && PyObject_GetBuffer(r, &b, PyBUF_SIMPLE) == 0) {
        *value = malloc(b.len > 0 ? (size_t)b.len : 1);
        if (*value != NULL) {
            memcpy(*value, b.buf, (size_t)b.len);
            *vlen = (size_t)b.len;
            rc = 0;
        } else {
            rc = FC_ENOMEM;
        }
        PyBuffer_Release(&b);
    } else if (r != NULL) {
        cx->bad_type = 1;
    }
    if (PyErr_Occurred())
        PyErr_Fetch(&cx->exc_type, &cx->exc_value, &cx->exc_tb);
    Py_XDECREF(r);
    PyGILState_Release(g);
    return rc;
}

/* get_or_set(key, fn, expire=None, wait=None): key's value, or fn()'s
 * (bytes) stored under key. One process computes a missing key; the
 * others asking at the same time wait for its value (at most `wait`
 * seconds, 10 by default, then compute it themselves). */
static PyObject *cache_get_or_set(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"key", "fn", "expire", "wait", NULL};
    PyObject *key, *fn, *expire = Py_None, *pywait = Py_None;
    double wait = 0;
    pyfc_cache *c = (pyfc_cache *)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OO:get_or_set", names, &key, &fn, &expire,
                                     &pywait))
        return NULL;
    if (pywait != Py_None && (wait = PyFloat_AsDouble(pywait)) == -1.0 && PyErr_Occurred())
        return NULL;
    if (!PyCallable_Check(fn))
        return PyErr_Format(PyExc_TypeError, "get_or_set: fn must be callable");
    write_call w;
    compute_ctx cx = {fn, NULL, NULL, NULL, 0};
    PyObject *out = NULL;
    if (write_prepare(&w, c, key, NULL, NULL, expire) == 0) {
        void *val = NULL;
        size_t vlen = 0;
        int wait_ms = wait > 0 ? (int)(wait * 1000 > INT32_MAX ? INT32_MAX : wait * 1000) : 0;
        int rc;
        c->busy++;
        Py_BEGIN_ALLOW_THREADS
        rc = fc_get_or_compute(c->store, w.key.buf.buf, (size_t)w.key.buf.len, w.ttl_ms,
                               wait_ms, compute_cb, &cx, &val, &vlen);
        Py_END_ALLOW_THREADS
        c->busy--;
        if (cx.exc_type != NULL)
            PyErr_Restore(cx.exc_type, cx.exc_value, cx.exc_tb);
        else if (cx.bad_type)
            PyErr_SetString(PyExc_TypeError, "get_or_set: fn must return a bytes-like object");
        else if (rc != 0)
            pyfc_raise_store(c, rc);
        else
            out = PyBytes_FromStringAndSize(val, (Py_ssize_t)vlen);
        free(val);
    }
    write_release(&w);
    return out;
}

/* ---- stats, views, context manager ----------------------------------------- */

/* Adds name = the unsigned number v to d. */
static int put_u64(PyObject *d, const char *name, uint64_t v)
{
    PyObject *o = PyLong_FromUnsignedLongLong(v);
    int rc = o ? PyDict_SetItemString(d, name, o) : -1;
    Py_XDECREF(o);
    return rc;
}

/* A list of n numbers, for the per-level fields. */
static int put_levels(PyObject *d, const char *name, const uint32_t *files, const uint64_t *bytes)
{
    PyObject *l = PyList_New(FC_NUM_LEVELS);
    if (l == NULL)
        return -1;
    for (int i = 0; i < FC_NUM_LEVELS; i++) {
        PyObject *o = PyLong_FromUnsignedLongLong(files ? files[i] : bytes[i]);
        if (o == NULL) {
            Py_DECREF(l);
            return -1;
        }
        PyList_SET_ITEM(l, i, o);
    }
    int rc = PyDict_SetItemString(d, name, l);
    Py_DECREF(l);
    return rc;
}

/* stats(): fc_stats as a dict, field names as in forkcache.h. */
static PyObject *cache_stats(PyObject *self, PyObject *unused)
{
    (void)unused;
    pyfc_cache *c = (pyfc_cache *)self;
    if (pyfc_cache_usable(c) < 0)
        return NULL;
    fc_stats st;
    int rc = fc_stats_get(c->store, &st);
    if (rc != 0)
        return pyfc_raise_store(c, rc);
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
#define U(f) put_u64(d, #f, (uint64_t)st.f)
    int bad = U(version) | U(last_sequence) | U(writer_pid) | U(mem_bytes) | U(mem_entries) |
              U(imm_bytes) | U(arena_size) | U(arena_in_use) | U(reader_slots) | U(readers) |
              U(mappings_capacity) | U(mappings_in_use) | U(flushes) | U(compactions) |
              U(bytes_compacted) | U(stalls) | U(stall) | U(tables_mapped) | U(tables_pread) |
              U(block_cache_size) | U(block_cache_hits) | U(block_cache_misses) |
              U(queue_writes) | U(expired_entries) | U(expired_tables) | U(expired_bytes) |
              U(evicted_tables) | U(evicted_bytes) | U(oldest_pin_pid) |
              U(oldest_pinned_version) | U(stale_reader_pid) |
              put_levels(d, "files", st.files, NULL) |
              put_levels(d, "level_bytes", NULL, st.level_bytes);
#undef U
    if (bad) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* view(): a View; its transaction begins at __enter__. */
static PyObject *cache_view(PyObject *self, PyObject *unused)
{
    (void)unused;
    pyfc_cache *c = (pyfc_cache *)self;
    if (pyfc_cache_usable(c) < 0)
        return NULL;
    pyfc_view_sweep(c);
    return (PyObject *)pyfc_view_new(c);
}

static PyObject *cache_enter(PyObject *self, PyObject *unused)
{
    (void)unused;
    if (pyfc_cache_usable((pyfc_cache *)self) < 0)
        return NULL;
    return Py_NewRef(self);
}

static PyObject *cache_exit(PyObject *self, PyObject *args)
{
    (void)args;
    if (cache_close_store((pyfc_cache *)self) < 0)
        return NULL;
    Py_RETURN_FALSE;
}

static PyObject *cache_closed(PyObject *self, void *unused)
{
    (void)unused;
    return PyBool_FromLong(((pyfc_cache *)self)->store == NULL);
}

static PyObject *cache_path(PyObject *self, void *unused)
{
    (void)unused;
    pyfc_cache *c = (pyfc_cache *)self;
    return Py_NewRef(c->path ? c->path : Py_None);
}

static PyObject *cache_repr(PyObject *self)
{
    pyfc_cache *c = (pyfc_cache *)self;
    return PyUnicode_FromFormat("<forkcache.Cache %R%s>", c->path ? c->path : Py_None,
                                c->store ? "" : " closed");
}

static PyMethodDef cache_methods[] = {
    {"get", cache_get, METH_VARARGS, "get(key, default=None): the value (bytes) or default"},
    {"set", (PyCFunction)(void (*)(void))cache_set, METH_VARARGS | METH_KEYWORDS,
     "set(key, value, expire=None): store value; expire in seconds"},
    {"add", (PyCFunction)(void (*)(void))cache_add, METH_VARARGS | METH_KEYWORDS,
     "add(key, value, expire=None): store only if absent; True if stored"},
    {"replace", (PyCFunction)(void (*)(void))cache_replace, METH_VARARGS | METH_KEYWORDS,
     "replace(key, value, expire=None): store only if present; True if stored"},
    {"cas", (PyCFunction)(void (*)(void))cache_cas, METH_VARARGS | METH_KEYWORDS,
     "cas(key, expected, value, expire=None): swap if the value equals expected"},
    {"incr", (PyCFunction)(void (*)(void))cache_incr, METH_VARARGS | METH_KEYWORDS,
     "incr(key, delta=1, default=0, expire=None): add to a decimal counter; the new value"},
    {"decr", (PyCFunction)(void (*)(void))cache_decr, METH_VARARGS | METH_KEYWORDS,
     "decr(key, delta=1, default=0, expire=None): incr(key, -delta)"},
    {"delete", cache_delete, METH_O, "delete(key): True if the key was present"},
    {"get_or_set", (PyCFunction)(void (*)(void))cache_get_or_set, METH_VARARGS | METH_KEYWORDS,
     "get_or_set(key, fn, expire=None, wait=None): the value, computing fn() once on a miss"},
    {"ttl", cache_ttl, METH_O, "ttl(key): seconds left, None if it never expires"},
    {"stats", cache_stats, METH_NOARGS, "stats(): the store's fc_stats as a dict"},
    {"flush", cache_flush, METH_NOARGS, "flush(): write the memtable to a table"},
    {"view", cache_view, METH_NOARGS, "view(): `with c.view() as v: v[k]` gives memoryviews"},
    {"close", cache_close, METH_NOARGS, "close(): close the store (idempotent)"},
    {"__enter__", cache_enter, METH_NOARGS, NULL},
    {"__exit__", cache_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef cache_getset[] = {
    {"closed", cache_closed, NULL, "True once closed", NULL},
    {"path", cache_path, NULL, "the store directory", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMappingMethods cache_mapping = {cache_len, cache_getitem, cache_setitem};
static PySequenceMethods cache_sequence = {.sq_contains = cache_contains};

PyTypeObject pyfc_cache_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "forkcache._forkcache.Cache",
    .tp_doc = "Cache(path, **options): a forkcache store as a mapping of bytes to bytes.",
    .tp_basicsize = sizeof(pyfc_cache),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_new = PyType_GenericNew,
    .tp_init = cache_init,
    .tp_dealloc = cache_dealloc,
    .tp_repr = cache_repr,
    .tp_as_mapping = &cache_mapping,
    .tp_as_sequence = &cache_sequence,
    .tp_iter = cache_iter,
    .tp_methods = cache_methods,
    .tp_getset = cache_getset,
    .tp_weaklistoffset = offsetof(pyfc_cache, weakrefs),
};
