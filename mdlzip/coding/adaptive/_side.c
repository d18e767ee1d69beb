/* Python glue for the side models (cm/predictor.h): the SideCoder type.

   It checks every argument, then hands whole steps (or, for the side models alone, the whole
   input) to the C predictor with the GIL released. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "cm/mixer.h"
#include "cm/predictor.h"

#define LOGIT_CELLS 4095
#define MAX_STREAMS (1 << 16)

typedef struct {
    PyObject_HEAD
    Predictor *p;
} SideCoder;

static PyTypeObject SideCoderType;

static int get_freqs(PyObject *obj, Py_buffer *view, int *m, int max_m) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    if (view->ndim != 2 || view->shape[1] != 256 || view->itemsize != 8 || view->format == NULL ||
        (strcmp(view->format, "q") && strcmp(view->format, "l") && strcmp(view->format, "<q") && strcmp(view->format, "<l")) ||
        view->shape[0] > max_m) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "freqs must be a C-contiguous int64 array of shape (m, 256), m <= streams");
        return -1;
    }
    *m = (int)view->shape[0];
    const int64_t *f = view->buf;
    for (Py_ssize_t i = 0; i < view->shape[0] * 256; i++)
        if (f[i] < 1 || f[i] > (1 << 24)) {
            PyBuffer_Release(view);
            PyErr_SetString(PyExc_ValueError, "frequencies must be in 1 .. 2**24");
            return -1;
        }
    return 0;
}

static int ready(SideCoder *c) {
    if (!c->p) PyErr_SetString(PyExc_ValueError, "SideCoder is not initialized");
    return c->p != NULL;
}

/* Active streams at the current step: the segments still longer than it (always the first m). */
static int active_streams(const Predictor *p) {
    const int64_t *lengths = predictor_lengths(p);
    int64_t t = predictor_time(p);
    int m = predictor_streams(p);
    while (m > 0 && lengths[m - 1] <= t) m--;
    return m;
}

static PyObject *step(SideCoder *c, PyObject *freqs_obj, PyObject *bytes_obj) {
    Py_buffer fv, bv;
    int m;
    if (!ready(c)) return NULL;
    if (predictor_time(c->p) >= predictor_lengths(c->p)[0]) {
        PyErr_SetString(PyExc_ValueError, "all steps are coded already");
        return NULL;
    }
    if (get_freqs(freqs_obj, &fv, &m, predictor_streams(c->p)) < 0) return NULL;
    PyObject *out = NULL;
    uint8_t *bytes = calloc(m ? m : 1, 1);
    if (!bytes) {
        PyErr_NoMemory();
        goto done;
    }
    if (bytes_obj) {
        if (PyObject_GetBuffer(bytes_obj, &bv, PyBUF_C_CONTIGUOUS) < 0) goto done;
        int ok = bv.len == m;
        if (ok) memcpy(bytes, bv.buf, m);
        PyBuffer_Release(&bv);
        if (!ok) {
            PyErr_SetString(PyExc_ValueError, "one byte per stream expected");
            goto done;
        }
    }
    int failed;
    Py_BEGIN_ALLOW_THREADS
    failed = predictor_step(c->p, m, (const int64_t *)fv.buf, bytes, NULL);
    Py_END_ALLOW_THREADS
    if (failed) PyErr_NoMemory();
    else out = PyBytes_FromStringAndSize((const char *)bytes, m);
done:
    free(bytes);
    PyBuffer_Release(&fv);
    return out;
}

static PyObject *SideCoder_encode_step(SideCoder *c, PyObject *args) {
    PyObject *freqs, *bytes;
    if (!PyArg_ParseTuple(args, "OO", &freqs, &bytes) || !ready(c)) return NULL;
    if (predictor_decoding(c->p)) {
        PyErr_SetString(PyExc_ValueError, "this coder decodes");
        return NULL;
    }
    PyObject *r = step(c, freqs, bytes);
    if (!r) return NULL;
    Py_DECREF(r);
    Py_RETURN_NONE;
}

static PyObject *SideCoder_decode_step(SideCoder *c, PyObject *freqs) {
    if (!ready(c)) return NULL;
    if (!predictor_decoding(c->p)) {
        PyErr_SetString(PyExc_ValueError, "this coder encodes");
        return NULL;
    }
    return step(c, freqs, NULL);
}

/* Steps with a uniform transformer: the side models alone, with no Python work per byte. The
   input (encoding) and the output (decoding: the coder's history) hold the segments one after
   another, so segment s's byte t is at s * L + t in both. At most ``steps`` steps (-1: all that
   remain); with ``probs``, the 16-bit probability of every coded bit is stored there (8 per byte,
   in the data's order, native byte order). */
static int run_uniform(Predictor *p, const uint8_t *in, int64_t steps, uint16_t *probs) {
    const int64_t *lengths = predictor_lengths(p);
    int S = predictor_streams(p);
    int64_t L = lengths[0], end = predictor_time(p) + (steps < 0 ? L : steps);
    uint8_t *bytes = malloc((size_t)S);
    uint16_t *step_probs = probs ? malloc((size_t)S * 16) : NULL;
    int64_t *freqs = malloc((size_t)S * 256 * sizeof(int64_t));
    int failed = !bytes || (probs && !step_probs) || !freqs;
    if (!failed)
        for (size_t i = 0; i < (size_t)S * 256; i++) freqs[i] = 1;
    for (int64_t t = predictor_time(p); t < L && t < end && !failed; t++) {
        int m = active_streams(p);
        if (in)
            for (int s = 0; s < m; s++) bytes[s] = in[(int64_t)s * L + t];
        failed = predictor_step(p, m, freqs, bytes, step_probs);
        for (int s = 0; s < m && probs && !failed; s++) memcpy(probs + 8 * ((int64_t)s * L + t), step_probs + 8 * s, 16);
    }
    free(bytes);
    free(step_probs);
    free(freqs);
    return failed ? -1 : 0;
}

static int64_t total_length(const Predictor *p) {
    int64_t n = 0;
    for (int s = 0; s < predictor_streams(p); s++) n += predictor_lengths(p)[s];
    return n;
}

static PyObject *SideCoder_encode_all(SideCoder *c, PyObject *args, PyObject *kwargs) {
    static char *kw[] = {"data", "steps", "probs", NULL};
    Py_buffer v, pv = {0};
    long long steps = -1;
    PyObject *probs_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|LO", kw, &v, &steps, &probs_obj)) return NULL;
    PyObject *out = NULL;
    if (!ready(c)) goto done;
    if (predictor_decoding(c->p) || v.len != total_length(c->p) || steps < -1) {
        PyErr_SetString(PyExc_ValueError, "encode_all() takes the whole input, on an encoder");
        goto done;
    }
    if (probs_obj != Py_None) {
        if (PyObject_GetBuffer(probs_obj, &pv, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) goto done;
        if (pv.len != v.len * 16) {
            PyErr_SetString(PyExc_ValueError, "probs must be a writable buffer of 16 bytes per input byte");
            goto done;
        }
    }
    int failed;
    Py_BEGIN_ALLOW_THREADS
    failed = run_uniform(c->p, v.buf, steps, pv.buf);
    Py_END_ALLOW_THREADS
    if (failed) PyErr_NoMemory();
    else out = Py_NewRef(Py_None);
done:
    if (pv.obj) PyBuffer_Release(&pv);
    PyBuffer_Release(&v);
    return out;
}

static PyObject *SideCoder_decode_all(SideCoder *c, PyObject *args, PyObject *kwargs) {
    static char *kw[] = {"steps", NULL};
    long long steps = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|L", kw, &steps) || !ready(c)) return NULL;
    if (!predictor_decoding(c->p) || steps < -1) {
        PyErr_SetString(PyExc_ValueError, "decode_all() is for a decoder");
        return NULL;
    }
    int failed;
    Py_BEGIN_ALLOW_THREADS
    failed = run_uniform(c->p, NULL, steps, NULL);
    Py_END_ALLOW_THREADS
    if (failed) return PyErr_NoMemory();
    if (predictor_time(c->p) < predictor_lengths(c->p)[0]) Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)predictor_history(c->p), (Py_ssize_t)total_length(c->p));
}

static PyObject *SideCoder_prime(SideCoder *c, PyObject *text) {
    if (!ready(c)) return NULL;
    if (predictor_time(c->p) != 0) {
        PyErr_SetString(PyExc_ValueError, "prime() must come before the first step");
        return NULL;
    }
    Py_buffer v;
    if (PyObject_GetBuffer(text, &v, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    predictor_prime(c->p, v.buf, (size_t)v.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&v);
    Py_RETURN_NONE;
}

static PyObject *SideCoder_mix_transformer(SideCoder *c, PyObject *args) {
    int w_transformer = 1 << 16, w_side = 1 << 16;
    if (!PyArg_ParseTuple(args, "|ii", &w_transformer, &w_side)) return NULL;
    if (!ready(c)) return NULL;
    if (predictor_mix_transformer(c->p, w_transformer, w_side)) {
        PyErr_SetString(PyExc_ValueError, "mix_transformer() comes before the first step");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* A new encoder in exactly this state: one primed state serves every candidate the encoder
   measures, instead of learning the prior's text again for each. */
static PyObject *SideCoder_copy(SideCoder *c, PyObject *unused) {
    if (!ready(c)) return NULL;
    if (predictor_decoding(c->p) || predictor_time(c->p) != 0) {
        PyErr_SetString(PyExc_ValueError, "copy() is for an encoder before its first step");
        return NULL;
    }
    SideCoder *d = (SideCoder *)SideCoderType.tp_alloc(&SideCoderType, 0);
    if (!d) return NULL;
    d->p = predictor_clone(c->p);
    if (!d->p) {
        Py_DECREF(d);
        return PyErr_NoMemory();
    }
    return (PyObject *)d;
}

static PyObject *SideCoder_finish(SideCoder *c, PyObject *unused) {
    if (!ready(c)) return NULL;
    if (predictor_decoding(c->p)) {
        PyErr_SetString(PyExc_ValueError, "this coder decodes");
        return NULL;
    }
    uint8_t *buf;
    size_t n;
    if (predictor_finish(c->p, &buf, &n)) return PyErr_NoMemory();
    PyObject *out = PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)n);
    free(buf);
    return out;
}

static PyObject *SideCoder_digest(SideCoder *c, PyObject *unused) {
    if (!ready(c)) return NULL;
    return PyLong_FromUnsignedLongLong(predictor_digest(c->p));
}

static PyObject *SideCoder_bits(SideCoder *c, void *closure) {
    if (!ready(c)) return NULL;
    return PyFloat_FromDouble(predictor_bits(c->p));
}

static PyObject *SideCoder_path_probs(SideCoder *c, void *closure) {
    if (!ready(c)) return NULL;
    uint16_t q[8];
    predictor_path(c->p, q);
    return Py_BuildValue("(iiiiiiii)", q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]);
}

static void SideCoder_dealloc(SideCoder *c) {
    predictor_free(c->p);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static int read_table(PyObject *obj, void *dst, Py_ssize_t n, const char *what) {
    Py_buffer v;
    if (PyObject_GetBuffer(obj, &v, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (v.len != n * 2) {
        PyBuffer_Release(&v);
        PyErr_Format(PyExc_ValueError, "%s table must hold %zd 16-bit values", what, n);
        return -1;
    }
    const uint8_t *b = v.buf;
    uint16_t *d = dst;
    for (Py_ssize_t i = 0; i < n; i++) d[i] = (uint16_t)(b[2 * i] | b[2 * i + 1] << 8); /* little-endian */
    PyBuffer_Release(&v);
    return 0;
}

/* SideCoder(lengths, table_bits, stretch, squash, squash16, data=None, off=0): data given means decoding it. */
static int SideCoder_init(SideCoder *c, PyObject *args, PyObject *kwargs) {
    static char *kw[] = {"lengths", "table_bits", "stretch", "squash", "squash16", "data", "off", NULL};
    PyObject *lengths, *stretch_obj, *squash_obj, *squash16_obj, *data = Py_None;
    int table_bits, off = 0;
    static int16_t stretch[4096], squash[LOGIT_CELLS];
    static uint16_t squash16[LOGIT_CELLS];
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OiOOO|Oi", kw, &lengths, &table_bits, &stretch_obj, &squash_obj, &squash16_obj, &data, &off))
        return -1;
    if (c->p) {
        PyErr_SetString(PyExc_TypeError, "SideCoder is initialized once");
        return -1;
    }
    if (table_bits < 12 || table_bits > 26) {
        PyErr_SetString(PyExc_ValueError, "table_bits must be in 12..26");
        return -1;
    }
    if (off < 0 || off > OFF_ALL) {
        PyErr_SetString(PyExc_ValueError, "bad component switches");
        return -1;
    }
    if (read_table(stretch_obj, stretch, 4096, "stretch") || read_table(squash_obj, squash, LOGIT_CELLS, "squash") ||
        read_table(squash16_obj, squash16, LOGIT_CELLS, "squash16"))
        return -1;
    PyObject *seq = PySequence_Fast(lengths, "lengths must be a sequence");
    if (!seq) return -1;
    Py_ssize_t S = PySequence_Fast_GET_SIZE(seq);
    if (S < 1 || S > MAX_STREAMS) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "1 .. 65536 streams");
        return -1;
    }
    int64_t *len = malloc(S * sizeof(int64_t));
    if (!len) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t s = 0; s < S; s++) len[s] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(seq, s));
    Py_DECREF(seq);
    int bad = PyErr_Occurred() != NULL;
    for (Py_ssize_t s = 0; s < S && !bad; s++) bad = len[s] < 1 || len[s] > len[0] || len[0] > ((int64_t)1 << 34) / S;
    if (bad) {
        free(len);
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad segment lengths");
        return -1;
    }
    c->p = predictor_new(len, (int)S, table_bits, stretch, squash, squash16, off);
    free(len);
    if (!c->p) {
        PyErr_NoMemory();
        return -1;
    }
    if (data != Py_None) {
        Py_buffer v;
        if (PyObject_GetBuffer(data, &v, PyBUF_C_CONTIGUOUS) < 0) return -1;
        int failed = predictor_start_decoding(c->p, v.buf, (size_t)v.len);
        PyBuffer_Release(&v);
        if (failed) {
            PyErr_NoMemory();
            return -1;
        }
    }
    return 0;
}

static PyMethodDef SideCoder_methods[] = {
    {"encode_step", (PyCFunction)SideCoder_encode_step, METH_VARARGS, "encode_step(freqs, bytes): code one step of m streams."},
    {"decode_step", (PyCFunction)SideCoder_decode_step, METH_O, "decode_step(freqs) -> bytes: decode one step of m streams."},
    {"encode_all", (PyCFunction)(void (*)(void))SideCoder_encode_all, METH_VARARGS | METH_KEYWORDS,
     "encode_all(data, steps=-1, probs=None): code the next steps (all: -1) of the whole input with a uniform transformer; "
     "probs (a writable buffer of 8 uint16 per input byte) receives each coded bit's probability."},
    {"decode_all", (PyCFunction)(void (*)(void))SideCoder_decode_all, METH_VARARGS | METH_KEYWORDS,
     "decode_all(steps=-1) -> bytes | None: decode the next steps with a uniform transformer; the whole input once all are done."},
    {"prime", (PyCFunction)SideCoder_prime, METH_O, "prime(text): learn from a text before the first step."},
    {"mix_transformer", (PyCFunction)SideCoder_mix_transformer, METH_VARARGS,
     "mix_transformer(w_transformer=65536, w_side=65536): from the first step on, mix the given frequencies in, "
     "the last mixer's 16.16 weights starting there (before it, they are ignored)."},
    {"copy", (PyCFunction)SideCoder_copy, METH_NOARGS, "copy() -> SideCoder: an encoder in this state (before any step)."},
    {"finish", (PyCFunction)SideCoder_finish, METH_NOARGS, "finish() -> bytes: the coded stream so far, flushed."},
    {"digest", (PyCFunction)SideCoder_digest, METH_NOARGS, "digest() -> int: a hash of the models' whole state."},
    {NULL}};

static PyGetSetDef SideCoder_getset[] = {
    {"bits", (getter)SideCoder_bits, NULL, "ideal codelength so far, in bits", NULL},
    {"path_probs", (getter)SideCoder_path_probs, NULL, "the probability (of 65536) given to each bit of the byte coded last", NULL},
    {NULL}};

static PyTypeObject SideCoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mdlzip.coding.adaptive._side.SideCoder",
    .tp_basicsize = sizeof(SideCoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)SideCoder_init,
    .tp_dealloc = (destructor)SideCoder_dealloc,
    .tp_methods = SideCoder_methods,
    .tp_getset = SideCoder_getset,
    .tp_doc = "Adaptive side models, mixers, SSE and binary arithmetic coder over S lock-step streams.",
};

static PyObject *check_kernels(PyObject *self, PyObject *unused) {
    int variants, ok = train_weights16_check(&variants);
    return Py_BuildValue("(iO)", variants, ok ? Py_True : Py_False);
}

static PyMethodDef module_functions[] = {
    {"check_kernels", check_kernels, METH_NOARGS,
     "check_kernels() -> (variants, agree): how many variants of the narrow mixers' training step this CPU runs, and "
     "whether each gave the plain C one's weights on a set of hard cases."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_side", NULL, -1, module_functions};

PyMODINIT_FUNC PyInit__side(void) {
    if (PyType_Ready(&SideCoderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&SideCoderType);
    if (PyModule_AddObject(m, "SideCoder", (PyObject *)&SideCoderType) < 0 || PyModule_AddIntConstant(m, "OFF_ALL", OFF_ALL) < 0 ||
        PyModule_AddIntConstant(m, "SMALL_INPUT_BITS", SMALL_INPUT_BITS) < 0) {
        Py_DECREF(&SideCoderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
