/*
 * keyiter.c - iter(cache): the keys in bytewise order, as bytes.
 *
 * A transaction belongs to one thread and pins a version, so a Python
 * iterator (which may be resumed much later, or from another thread)
 * does not hold one. It reads keys in chunks: each chunk opens a
 * transaction, seeks past the last key it returned, copies up to CHUNK
 * keys and ends it. Keys written or deleted during the iteration may or
 * may not be seen, as with a dict changed while iterated, but none is
 * returned twice and the order holds.
 */
#include <string.h>

#include "pyfc.h"

#define CHUNK 256

typedef struct keyiter {
    PyObject_HEAD
    pyfc_cache *cache;
    PyObject *last;             /* bytes: the last key returned, NULL at start */
    PyObject *chunk;            /* list of keys read and not yet returned */
    Py_ssize_t pos;             /* next index in chunk */
    int end;                    /* the store has no more keys */
} keyiter;

PyObject *pyfc_keyiter_new(pyfc_cache *c)
{
    if (pyfc_cache_usable(c) < 0)
        return NULL;
    keyiter *it = PyObject_New(keyiter, &pyfc_keyiter_type);
    if (it == NULL)
        return NULL;
    it->cache = (pyfc_cache *)Py_NewRef((PyObject *)c);
    it->last = NULL;
    it->chunk = NULL;
    it->pos = 0;
    it->end = 0;
    return (PyObject *)it;
}

/* Positions i after the key `last` (at the first key when NULL). */
static int seek_after(fc_iter *i, PyObject *last)
{
    if (last == NULL)
        return fc_iter_first(i);
    int rc = fc_iter_seek(i, PyBytes_AS_STRING(last), (size_t)PyBytes_GET_SIZE(last));
    if (rc != 0)
        return rc;
    fc_val k = fc_iter_key(i);
    if (k.size == (size_t)PyBytes_GET_SIZE(last) &&
        memcmp(k.data, PyBytes_AS_STRING(last), k.size) == 0)
        return fc_iter_next(i);
    return 0;
}

/* Reads the next chunk of keys into it->chunk. 0, or -1 with an exception. */
static int fill(keyiter *it)
{
    pyfc_cache *c = it->cache;
    if (pyfc_cache_usable(c) < 0)
        return -1;
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return -1;
    fc_txn *t;
    fc_iter *i = NULL;
    int rc = fc_txn_begin(c->store, &t);
    if (rc != 0) {
        Py_DECREF(list);
        pyfc_raise_store(c, rc);
        return -1;
    }
    rc = fc_iter_new(t, &i);
    if (rc == 0)
        rc = seek_after(i, it->last);
    while (rc == 0 && PyList_GET_SIZE(list) < CHUNK) {
        fc_val k = fc_iter_key(i);
        PyObject *b = PyBytes_FromStringAndSize(k.data, (Py_ssize_t)k.size);
        if (b == NULL || PyList_Append(list, b) < 0) {
            Py_XDECREF(b);
            rc = 1;
            break;
        }
        Py_DECREF(b);
        rc = fc_iter_next(i);
    }
    if (rc == FC_ENOTFOUND)
        it->end = 1;
    fc_iter_free(i);
    fc_txn_end(t);
    if (rc < 0 && rc != FC_ENOTFOUND)
        pyfc_raise_store(c, rc);
    if (PyErr_Occurred()) {
        Py_DECREF(list);
        return -1;
    }
    Py_XSETREF(it->chunk, list);
    it->pos = 0;
    return 0;
}

static PyObject *keyiter_next(PyObject *self)
{
    keyiter *it = (keyiter *)self;
    if (it->chunk == NULL || it->pos >= PyList_GET_SIZE(it->chunk)) {
        if (it->end || fill(it) < 0)
            return NULL;
        if (PyList_GET_SIZE(it->chunk) == 0)
            return NULL;
    }
    PyObject *k = PyList_GET_ITEM(it->chunk, it->pos++);
    Py_XSETREF(it->last, Py_NewRef(k));
    return Py_NewRef(k);
}

static void keyiter_dealloc(PyObject *self)
{
    keyiter *it = (keyiter *)self;
    Py_CLEAR(it->cache);
    Py_CLEAR(it->last);
    Py_CLEAR(it->chunk);
    PyObject_Free(self);
}

PyTypeObject pyfc_keyiter_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "forkcache._forkcache.KeyIterator",
    .tp_basicsize = sizeof(keyiter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = keyiter_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = keyiter_next,
};

/* len(cache): counts the keys of one snapshot, O(number of keys). */
Py_ssize_t pyfc_count(pyfc_cache *c)
{
    if (pyfc_cache_usable(c) < 0)
        return -1;
    fc_txn *t;
    fc_iter *i = NULL;
    Py_ssize_t n = 0;
    int rc = fc_txn_begin(c->store, &t);
    if (rc != 0) {
        pyfc_raise_store(c, rc);
        return -1;
    }
    rc = fc_iter_new(t, &i);
    for (rc = rc ? rc : fc_iter_first(i); rc == 0; rc = fc_iter_next(i))
        n++;
    fc_iter_free(i);
    fc_txn_end(t);
    if (rc != FC_ENOTFOUND) {
        pyfc_raise_store(c, rc);
        return -1;
    }
    return n;
}
