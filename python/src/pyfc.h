/*
 * pyfc.h - what the files of the forkcache Python extension share.
 *
 * The extension sees only the public API (forkcache.h). Files:
 *   module.c  the module: exceptions, the registry of open caches and the
 *             os.register_at_fork hooks that walk it
 *   cache.c   forkcache.Cache: the mapping and its methods
 *   view.c    forkcache.View: zero-copy reads inside one transaction
 *   keyiter.c the key-order iterator behind iter(cache)
 *   args.c    turning Python arguments into byte runs and TTLs
 */
#ifndef PYFC_H
#define PYFC_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>
#include <stdint.h>

#include "forkcache.h"

typedef struct pyfc_view pyfc_view;

/* One open store. Listed in the module's registry (a borrowed link, so the
 * registry never keeps a cache alive) from open until close or dealloc. */
typedef struct pyfc_cache {
    PyObject_HEAD
    fc_store *store;            /* NULL once closed */
    PyObject *path;             /* str, for repr and errors */
    int busy;                   /* calls running with the GIL released */
    int fork_broken;            /* the child could not take its share */
    pyfc_view *views;           /* open views (their transactions) */
    struct pyfc_cache *next, *prev; /* the registry */
    PyObject *weakrefs;
} pyfc_cache;

/* A view: one read transaction and the memoryviews handed out from it. */
struct pyfc_view {
    PyObject_HEAD
    pyfc_cache *cache;          /* strong reference */
    fc_txn *txn;                /* NULL before __enter__ and after the end */
    unsigned long thread;       /* the thread that began txn */
    PyObject *exported;         /* list of the memoryviews handed out */
    Py_ssize_t exports;         /* buffers still held (slices of them too) */
    int closing;                /* the block ended; txn ends at exports == 0 */
    int done;                   /* ended: every use raises */
    pyfc_view *next, *prev;     /* the cache's list of views */
};

/* A borrowed run of key or value bytes from a Python object. */
typedef struct pyfc_bytes {
    Py_buffer buf;              /* held while in use; released by pyfc_bytes_release */
    PyObject *owner;            /* a temporary UTF-8 bytes for str keys */
} pyfc_bytes;

extern PyTypeObject pyfc_cache_type;
extern PyTypeObject pyfc_view_type;
extern PyTypeObject pyfc_valuebuf_type;
extern PyTypeObject pyfc_keyiter_type;

/* module.c */
PyObject *pyfc_raise(int code, const char *msg);
PyObject *pyfc_raise_store(pyfc_cache *c, int code);
void pyfc_registry_add(pyfc_cache *c);
void pyfc_registry_remove(pyfc_cache *c);
PyObject *pyfc_not_found(PyObject *key);

/* cache.c */
int pyfc_cache_usable(pyfc_cache *c);
void pyfc_cache_child(pyfc_cache *c, int after_fork_ok);

/* view.c */
pyfc_view *pyfc_view_new(pyfc_cache *c);
void pyfc_view_forget(pyfc_view *v);
int pyfc_view_sweep(pyfc_cache *c);

/* keyiter.c */
PyObject *pyfc_keyiter_new(pyfc_cache *c);
Py_ssize_t pyfc_count(pyfc_cache *c);

/* args.c */
int pyfc_key(PyObject *o, pyfc_bytes *out);
int pyfc_value(PyObject *o, pyfc_bytes *out);
void pyfc_bytes_release(pyfc_bytes *b);
int pyfc_expire(PyObject *expire, uint64_t *ttl_ms);

#endif
