/*
 * args.c - Python arguments to the byte runs and TTLs forkcache takes.
 *
 * Keys are bytes-like or str (encoded as UTF-8); values are bytes-like only,
 * so a str or an int stored by mistake is a TypeError, not a silent
 * encoding. Sizes are left to the library, which answers FC_ETOOBIG.
 */
#include <math.h>

#include "pyfc.h"

/* Borrows a C-contiguous buffer of o: held until pyfc_bytes_release, which
 * also keeps a bytearray from being resized while the GIL is released. */
static int borrow(PyObject *o, pyfc_bytes *out, const char *what)
{
    out->owner = NULL;
    if (!PyObject_CheckBuffer(o)) {
        PyErr_Format(PyExc_TypeError, "forkcache %ss are bytes-like objects%s, not %.100s", what,
                     what[0] == 'k' ? " or str" : "", Py_TYPE(o)->tp_name);
        return -1;
    }
    return PyObject_GetBuffer(o, &out->buf, PyBUF_SIMPLE);
}

/* A key: str as its UTF-8 bytes, else any bytes-like object. */
int pyfc_key(PyObject *o, pyfc_bytes *out)
{
    if (PyUnicode_Check(o)) {
        PyObject *enc = PyUnicode_AsUTF8String(o);
        if (enc == NULL)
            return -1;
        if (PyObject_GetBuffer(enc, &out->buf, PyBUF_SIMPLE) != 0) {
            Py_DECREF(enc);
            return -1;
        }
        out->owner = enc;
        return 0;
    }
    return borrow(o, out, "key");
}

/* A value: bytes-like only. */
int pyfc_value(PyObject *o, pyfc_bytes *out)
{
    return borrow(o, out, "value");
}

/* Gives back what pyfc_key or pyfc_value borrowed. */
void pyfc_bytes_release(pyfc_bytes *b)
{
    PyBuffer_Release(&b->buf);
    Py_CLEAR(b->owner);
}

/* expire (seconds, int or float, > 0) to the library's ttl_ms; None is 0,
 * "never". Rounded up, so a short expire never becomes "never". A store
 * without ttl_framing refuses a ttl itself (FC_EUNSUPPORTED). */
int pyfc_expire(PyObject *expire, uint64_t *ttl_ms)
{
    *ttl_ms = 0;
    if (expire == NULL || expire == Py_None)
        return 0;
    double s = PyFloat_AsDouble(expire);
    if (s == -1.0 && PyErr_Occurred())
        return -1;
    if (!(s > 0) || !isfinite(s) || s > 1e15) {
        PyErr_SetString(PyExc_ValueError, "expire is a number of seconds > 0, or None for never");
        return -1;
    }
    double ms = ceil(s * 1000.0);
    *ttl_ms = ms < 1.0 ? 1 : (uint64_t)ms;
    return 0;
}
