/*
 * view.c - forkcache.View: zero-copy reads inside one read transaction.
 *
 *     with cache.view() as v:
 *         mv = v[key]        # a memoryview over the shared mapping
 *
 * Each value is exported by a small ValueBuf object, which counts the
 * buffers taken from it. When the block ends, every memoryview handed out
 * is released (using it raises ValueError), and the transaction ends as
 * soon as no buffer of its values is held any more: a slice or a NumPy
 * array made from one keeps the snapshot pinned (never freed memory) until
 * it goes, and the transaction then ends on the next view() or close() of
 * the owning thread if the last buffer went in another thread (the library
 * ends a transaction only on the thread that began it).
 */
#include "pyfc.h"

/* The exporter of one value: its bytes stay valid while view's
 * transaction is open. */
typedef struct valuebuf {
    PyObject_HEAD
    pyfc_view *view;            /* strong reference */
    const void *data;
    Py_ssize_t size;
} valuebuf;

/* Ends v's transaction (the owning thread, no buffer held). */
static int view_end(pyfc_view *v)
{
    int rc = v->txn ? fc_txn_end(v->txn) : 0;
    if (rc == FC_EINVAL)
        return rc; /* another thread: the owner ends it later */
    pyfc_view_forget(v);
    return rc;
}

/* Takes v off its cache's list of open views, without ending anything:
 * after fork in the child, or once the transaction has ended. */
void pyfc_view_forget(pyfc_view *v)
{
    pyfc_cache *c = v->cache;
    if (v->txn != NULL) {
        if (v->prev)
            v->prev->next = v->next;
        else if (c->views == v)
            c->views = v->next;
        if (v->next)
            v->next->prev = v->prev;
    }
    v->next = v->prev = NULL;
    v->txn = NULL;
    v->done = 1;
    v->closing = 0;
}

/* Ends, on this thread, the closed views whose buffers are all gone.
 * Returns how many views stay open. */
int pyfc_view_sweep(pyfc_cache *c)
{
    int open = 0;
    unsigned long me = PyThread_get_thread_ident();
    pyfc_view *v = c->views;
    while (v != NULL) {
        pyfc_view *next = v->next;
        if (v->closing && v->exports == 0 && v->thread == me)
            view_end(v);
        else
            open++;
        v = next;
    }
    return open;
}

pyfc_view *pyfc_view_new(pyfc_cache *c)
{
    pyfc_view *v = PyObject_New(pyfc_view, &pyfc_view_type);
    if (v == NULL)
        return NULL;
    v->cache = (pyfc_cache *)Py_NewRef((PyObject *)c);
    v->txn = NULL;
    v->thread = 0;
    v->exported = NULL;
    v->exports = 0;
    v->closing = v->done = 0;
    v->next = v->prev = NULL;
    return v;
}

/* __enter__: begins the transaction and lists the view on its cache. */
static PyObject *view_enter(PyObject *self, PyObject *unused)
{
    (void)unused;
    pyfc_view *v = (pyfc_view *)self;
    pyfc_cache *c = v->cache;
    if (v->txn != NULL || v->done)
        return pyfc_raise(FC_EINVAL, "a view is entered once: make a new one with cache.view()");
    if (pyfc_cache_usable(c) < 0)
        return NULL;
    v->exported = PyList_New(0);
    if (v->exported == NULL)
        return NULL;
    int rc = fc_txn_begin(c->store, &v->txn);
    if (rc != 0) {
        v->txn = NULL;
        return pyfc_raise_store(c, rc);
    }
    v->thread = PyThread_get_thread_ident();
    v->next = c->views;
    v->prev = NULL;
    if (c->views)
        c->views->prev = v;
    c->views = v;
    return Py_NewRef(self);
}

/* Releases every memoryview handed out. One that has buffers of its own
 * (a NumPy array over it) refuses: its ValueBuf keeps counting. */
static void release_all(pyfc_view *v)
{
    if (v->exported == NULL)
        return;
    Py_ssize_t n = PyList_GET_SIZE(v->exported);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *r = PyObject_CallMethod(PyList_GET_ITEM(v->exported, i), "release", NULL);
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
    }
    Py_CLEAR(v->exported);
}

/* __exit__ (and close()): the block is over. */
static PyObject *view_exit(PyObject *self, PyObject *args)
{
    (void)args;
    pyfc_view *v = (pyfc_view *)self;
    if (v->txn == NULL || v->closing)
        Py_RETURN_FALSE;
    if (v->thread != PyThread_get_thread_ident())
        return pyfc_raise(FC_EINVAL, "a view ends on the thread that entered it");
    release_all(v);
    v->closing = 1;
    if (v->exports == 0) {
        int rc = view_end(v);
        if (rc != 0)
            return pyfc_raise(rc, "fc_txn_end failed");
    }
    Py_RETURN_FALSE;
}

/* 0 when v may read now; else raises. */
static int view_usable(pyfc_view *v)
{
    if (v->txn == NULL || v->closing) {
        pyfc_raise(FC_ECLOSED, v->done || v->closing ? "the view's block has ended"
                                                     : "use a view inside `with cache.view() as v:`");
        return -1;
    }
    if (v->thread != PyThread_get_thread_ident()) {
        pyfc_raise(FC_EINVAL, "a view reads only on the thread that entered it");
        return -1;
    }
    return pyfc_cache_usable(v->cache);
}

/* v[key]: a read-only memoryview of the value; KeyError on a miss. Returns
 * NULL with no exception set for a miss when `quiet`. */
static PyObject *view_lookup(pyfc_view *v, PyObject *key, int quiet)
{
    pyfc_bytes k;
    if (view_usable(v) < 0 || pyfc_key(key, &k) < 0)
        return NULL;
    fc_val val;
    int rc = fc_get(v->txn, k.buf.buf, (size_t)k.buf.len, &val);
    pyfc_bytes_release(&k);
    if (rc == FC_ENOTFOUND)
        return quiet ? NULL : pyfc_not_found(key);
    if (rc != 0)
        return pyfc_raise_store(v->cache, rc);
    valuebuf *b = PyObject_New(valuebuf, &pyfc_valuebuf_type);
    if (b == NULL)
        return NULL;
    b->view = (pyfc_view *)Py_NewRef((PyObject *)v);
    b->data = val.data;
    b->size = (Py_ssize_t)val.size;
    PyObject *mv = PyMemoryView_FromObject((PyObject *)b);
    Py_DECREF(b);
    if (mv != NULL && PyList_Append(v->exported, mv) < 0)
        Py_CLEAR(mv);
    return mv;
}

static PyObject *view_getitem(PyObject *self, PyObject *key)
{
    return view_lookup((pyfc_view *)self, key, 0);
}

/* get(key, default=None) */
static PyObject *view_get(PyObject *self, PyObject *args)
{
    PyObject *key, *dflt = Py_None;
    if (!PyArg_ParseTuple(args, "O|O:get", &key, &dflt))
        return NULL;
    PyObject *mv = view_lookup((pyfc_view *)self, key, 1);
    if (mv == NULL && !PyErr_Occurred())
        return Py_NewRef(dflt);
    return mv;
}

static int view_contains(PyObject *self, PyObject *key)
{
    pyfc_view *v = (pyfc_view *)self;
    pyfc_bytes k;
    if (view_usable(v) < 0 || pyfc_key(key, &k) < 0)
        return -1;
    fc_val val;
    int rc = fc_get(v->txn, k.buf.buf, (size_t)k.buf.len, &val);
    pyfc_bytes_release(&k);
    if (rc != 0 && rc != FC_ENOTFOUND) {
        pyfc_raise_store(v->cache, rc);
        return -1;
    }
    return rc == 0;
}

static void view_dealloc(PyObject *self)
{
    pyfc_view *v = (pyfc_view *)self;
    /* No buffer can be held: each ValueBuf holds a reference to v. */
    release_all(v);
    if (v->txn != NULL && v->thread == PyThread_get_thread_ident())
        view_end(v);
    else if (v->txn != NULL)
        pyfc_view_forget(v); /* cannot end it here; the library reclaims it at close */
    Py_CLEAR(v->cache);
    PyObject_Free(self);
}

static PyMethodDef view_methods[] = {
    {"get", view_get, METH_VARARGS, "get(key, default=None): a memoryview of the value"},
    {"__enter__", view_enter, METH_NOARGS, NULL},
    {"__exit__", view_exit, METH_VARARGS, NULL},
    {"close", (PyCFunction)(void (*)(void))view_exit, METH_NOARGS, "end the view now"},
    {NULL, NULL, 0, NULL},
};

static PyMappingMethods view_mapping = {NULL, view_getitem, NULL};
static PySequenceMethods view_sequence = {.sq_contains = view_contains};

PyTypeObject pyfc_view_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "forkcache._forkcache.View",
    .tp_doc = "A read transaction: v[key] is a memoryview valid inside the with block.",
    .tp_basicsize = sizeof(pyfc_view),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = view_dealloc,
    .tp_as_mapping = &view_mapping,
    .tp_as_sequence = &view_sequence,
    .tp_methods = view_methods,
};

/* ---- ValueBuf ----------------------------------------------------------- */

/* A buffer of the value, read-only; refused once the block has ended. */
static int valuebuf_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    valuebuf *b = (valuebuf *)self;
    if (b->view->txn == NULL || b->view->closing) {
        pyfc_raise(FC_ECLOSED, "the view's block has ended");
        view->obj = NULL;
        return -1;
    }
    if (PyBuffer_FillInfo(view, self, (void *)b->data, b->size, 1, flags) < 0)
        return -1;
    b->view->exports++;
    return 0;
}

/* The last buffer gone after the block: the transaction can end. */
static void valuebuf_releasebuffer(PyObject *self, Py_buffer *view)
{
    (void)view;
    pyfc_view *v = ((valuebuf *)self)->view;
    if (--v->exports == 0 && v->closing && v->thread == PyThread_get_thread_ident())
        view_end(v);
}

static void valuebuf_dealloc(PyObject *self)
{
    Py_CLEAR(((valuebuf *)self)->view);
    PyObject_Free(self);
}

static PyBufferProcs valuebuf_as_buffer = {valuebuf_getbuffer, valuebuf_releasebuffer};

PyTypeObject pyfc_valuebuf_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "forkcache._forkcache.ValueBuf",
    .tp_doc = "The exporter behind a view's memoryview.",
    .tp_basicsize = sizeof(valuebuf),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = valuebuf_dealloc,
    .tp_as_buffer = &valuebuf_as_buffer,
};
