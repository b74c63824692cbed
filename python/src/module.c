/*
 * module.c - the forkcache._forkcache module: its exception classes, the
 * registry of open caches, and the fork hooks that walk it.
 *
 * Global state (documented, fork-safe): the registry is a list of the
 * caches open in this process, linked through borrowed pointers (a cache
 * leaves it on close or dealloc, so it never keeps one alive), and
 * ever_opened/prefork_rc remember what the fork hooks did. All of it is
 * touched only with the GIL held; the hooks run around os.fork(), which
 * gunicorn, multiprocessing's "fork" start method and os.fork itself use.
 */
#include "pyfc.h"

static pyfc_cache *registry;     /* open caches of this process */
static int ever_opened;          /* a store was opened: forks need the hooks */
static int prefork_rc = -1;      /* fc_prefork's answer for the fork under way */

static PyObject *error_base;     /* forkcache.Error */

/* The subclasses of forkcache.Error, by code; the rest raise Error. */
static struct {
    int code;
    const char *name;
    PyObject **builtin;          /* a second base from the builtins, or NULL */
    PyObject *cls;
} classes[] = {
    {FC_ECLOSED, "ClosedError", &PyExc_ValueError, NULL},
    {FC_ETOOBIG, "TooBigError", &PyExc_ValueError, NULL},
    {FC_ENAN, "NotANumberError", &PyExc_ValueError, NULL},
    {FC_EOVERFLOW, "CounterOverflowError", &PyExc_OverflowError, NULL},
    {FC_ETIMEDOUT, "TimeoutError", &PyExc_TimeoutError, NULL},
    {FC_ENOTFOUND, "NotFoundError", NULL, NULL},
    {FC_EBUSY, "BusyError", NULL, NULL},
    {FC_ESTALE, "StaleError", NULL, NULL},
    {FC_EAGAIN, "AgainError", NULL, NULL},
    {FC_EREADONLY, "ReadOnlyError", NULL, NULL},
    {FC_ECORRUPT, "CorruptError", NULL, NULL},
    {FC_EUNSUPPORTED, "UnsupportedError", NULL, NULL},
    {FC_EINVAL, "InvalidError", &PyExc_ValueError, NULL},
};
#define NCLASSES (sizeof classes / sizeof classes[0])

/* Raises the class for code with msg; the exception carries .code (the
 * negative FC_E* value) and .name (fc_strerror). Returns NULL. */
PyObject *pyfc_raise(int code, const char *msg)
{
    PyObject *cls = error_base;
    for (size_t i = 0; i < NCLASSES; i++)
        if (classes[i].code == code)
            cls = classes[i].cls;
    PyObject *exc = PyObject_CallFunction(cls, "s", msg && *msg ? msg : fc_strerror(code));
    if (exc == NULL)
        return NULL;
    PyObject *pcode = PyLong_FromLong(code);
    PyObject *pname = PyUnicode_FromString(fc_strerror(code));
    if (pcode && pname && PyObject_SetAttrString(exc, "code", pcode) == 0 &&
        PyObject_SetAttrString(exc, "name", pname) == 0)
        PyErr_SetObject(cls, exc);
    Py_XDECREF(pcode);
    Py_XDECREF(pname);
    Py_DECREF(exc);
    return NULL;
}

/* Raises for a failed call on c's store, with fc_errmsg's detail. */
PyObject *pyfc_raise_store(pyfc_cache *c, int code)
{
    return pyfc_raise(code, c->store ? fc_errmsg(c->store) : NULL);
}

/* KeyError(key): a missing key in c[k], del c[k], view[k]. */
PyObject *pyfc_not_found(PyObject *key)
{
    PyErr_SetObject(PyExc_KeyError, key);
    return NULL;
}

/* Lists c as open in this process. */
void pyfc_registry_add(pyfc_cache *c)
{
    c->prev = NULL;
    c->next = registry;
    if (registry)
        registry->prev = c;
    registry = c;
    ever_opened = 1;
}

/* Takes c off the list (closed or freed). */
void pyfc_registry_remove(pyfc_cache *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (registry == c)
        registry = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

/* os.register_at_fork(before=...): liburcu's and the stores' threads put
 * in order. The GIL is released: fc_prefork may wait for a transaction of
 * another thread to end, and that thread needs the GIL to end it. */
static PyObject *before_fork(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    prefork_rc = -1;
    if (!ever_opened)
        Py_RETURN_NONE;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fc_prefork();
    Py_END_ALLOW_THREADS
    prefork_rc = rc;
    Py_RETURN_NONE;
}

/* after_in_parent: undo what before_fork did, only if it did it. */
static PyObject *after_fork_parent(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (prefork_rc == 0)
        fc_postfork_parent();
    prefork_rc = -1;
    Py_RETURN_NONE;
}

/* after_in_child: the child takes its own share of every open cache. A
 * cache whose share could not be taken raises on every later call. */
static PyObject *after_fork_child(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    int ok = prefork_rc == 0;
    if (ok)
        fc_postfork_child();
    prefork_rc = -1;
    for (pyfc_cache *c = registry; c != NULL; c = c->next)
        pyfc_cache_child(c, ok);
    Py_RETURN_NONE;
}

/* forkcache.version(): the library's version string. */
static PyObject *version(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyUnicode_FromString(fc_version(NULL, NULL, NULL));
}

static PyMethodDef module_methods[] = {
    {"_before_fork", before_fork, METH_NOARGS, "fork hook: fc_prefork"},
    {"_after_fork_parent", after_fork_parent, METH_NOARGS, "fork hook: fc_postfork_parent"},
    {"_after_fork_child", after_fork_child, METH_NOARGS,
     "fork hook: fc_postfork_child and fc_after_fork for every open cache"},
    {"version", version, METH_NOARGS, "the libforkcache version in use"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_forkcache",
    "forkcache's C extension; use the forkcache package.", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

/* Makes forkcache.Error and its subclasses and adds them to m. */
static int add_errors(PyObject *m)
{
    error_base = PyErr_NewExceptionWithDoc("forkcache.Error",
        "A forkcache failure: .code is the FC_E* code (negative), .name its name.", NULL, NULL);
    if (error_base == NULL || PyModule_AddObjectRef(m, "Error", error_base) < 0)
        return -1;
    for (size_t i = 0; i < NCLASSES; i++) {
        char qual[64];
        PyOS_snprintf(qual, sizeof qual, "forkcache.%s", classes[i].name);
        PyObject *bases = classes[i].builtin
            ? PyTuple_Pack(2, error_base, *classes[i].builtin)
            : PyTuple_Pack(1, error_base);
        if (bases == NULL)
            return -1;
        classes[i].cls = PyErr_NewException(qual, bases, NULL);
        Py_DECREF(bases);
        if (classes[i].cls == NULL || PyModule_AddObjectRef(m, classes[i].name, classes[i].cls) < 0)
            return -1;
    }
    return 0;
}

/* Adds the types and the size limits. */
static int add_types(PyObject *m)
{
    PyTypeObject *types[] = {&pyfc_cache_type, &pyfc_view_type, &pyfc_valuebuf_type,
                             &pyfc_keyiter_type};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (PyType_Ready(types[i]) < 0)
            return -1;
    if (PyModule_AddObjectRef(m, "Cache", (PyObject *)&pyfc_cache_type) < 0 ||
        PyModule_AddObjectRef(m, "View", (PyObject *)&pyfc_view_type) < 0 ||
        PyModule_AddIntConstant(m, "MAX_KEY_SIZE", FC_MAX_KEY_SIZE) < 0 ||
        PyModule_AddIntConstant(m, "MAX_VALUE_SIZE", FC_MAX_VALUE_SIZE) < 0 ||
        PyModule_AddIntConstant(m, "TTL_FRAME_SIZE", FC_TTL_FRAME_SIZE) < 0)
        return -1;
    return 0;
}

PyMODINIT_FUNC PyInit__forkcache(void);

/* The module: single-phase init, one instance per process. */
PyMODINIT_FUNC PyInit__forkcache(void)
{
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    if (add_errors(m) < 0 || add_types(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
