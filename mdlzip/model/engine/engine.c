/* The Python face of the integer engine: mdlzip.model._engine.Engine and its State.

   int_model.py decides what the engine runs (the pruned model, the accumulator
   width); this file copies that description into C memory, checks every index in
   it so that no description can make the engine read or write out of bounds, and
   runs the steps on the worker threads with the GIL released. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "forward.h"
#include "pool.h"

typedef struct {
    PyObject_HEAD
    Model m;
    void **blocks; /* every allocation the model points into */
    int n_blocks, cap_blocks;
    Pool *pool;
    Work **work; /* one per thread */
    int threads;
} Engine;

typedef struct {
    PyObject_HEAD
    Engine *engine;
    Streams st;
} State;

/* ---- reading the description ---- */

static void *keep(Engine *e, void *block) {
    if (!block) return PyErr_NoMemory();
    if (e->n_blocks == e->cap_blocks) {
        int cap = e->cap_blocks ? 2 * e->cap_blocks : 64;
        void **grown = realloc(e->blocks, cap * sizeof(void *));
        if (!grown) {
            free(block);
            return PyErr_NoMemory();
        }
        e->blocks = grown;
        e->cap_blocks = cap;
    }
    return e->blocks[e->n_blocks++] = block;
}

static int fail(const char *what) {
    PyErr_Format(PyExc_ValueError, "engine description: bad %s", what);
    return -1;
}

/* A copy of a C-contiguous array of signed integers of `size` bytes each; *n gets its length. */
static const void *array(Engine *e, PyObject *obj, int size, Py_ssize_t *n, const char *what) {
    Py_buffer v;
    if (PyObject_GetBuffer(obj, &v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    const char *f = v.format ? v.format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    if (v.itemsize != size || strlen(f) != 1 || !strchr("bhilq", *f)) {
        PyBuffer_Release(&v);
        fail(what);
        return NULL;
    }
    *n = v.len / size;
    void *copy = keep(e, malloc(v.len ? v.len : 1));
    if (copy) memcpy(copy, v.buf, v.len);
    PyBuffer_Release(&v);
    return copy;
}

static int indices(const int32_t *idx, Py_ssize_t n, int limit, const char *what) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= limit) return fail(what);
    return 0;
}

/* (live, c) */
static int read_norm(PyObject *obj, Norm *n) {
    long long c;
    if (!PyArg_ParseTuple(obj, "pL", &n->live, &c)) return -1;
    n->c = c;
    return c < 0 || c > (int64_t)1 << 41 ? fail("norm") : 0;
}

/* The rounding of (mant, shift); mul, add and the shift stay below 2^30 in an int32 engine, 2^62 in an int64 one. */
static int read_scale(const Model *m, long long mant, int shift, Scale *scale) {
    int limit = m->wide ? 62 : 30;
    if (mant < 0 || mant > 255 || shift > limit || -shift > limit || (shift <= 0 && mant > (((int64_t)1 << limit) - 1) >> -shift))
        return fail("scale");
    *scale = shift > 0 ? (Scale){mant, (int64_t)1 << (shift - 1), shift} : (Scale){mant << -shift, 0, 0};
    return 0;
}

/* (in_idx, out_idx, mant, shift, dense, row_ptr, col, val): dense (n_out x n_in) or the last
   three None; a sparse map's col holds input indices, as in_idx does. */
static int read_lin(Engine *e, PyObject *obj, Lin *L, int in_width, int out_width) {
    PyObject *in_idx, *out_idx, *dense, *row_ptr, *col, *val;
    long long mant;
    int shift;
    Py_ssize_t n_in, n_out, len, nnz;
    if (!PyArg_ParseTuple(obj, "OOLiOOOO", &in_idx, &out_idx, &mant, &shift, &dense, &row_ptr, &col, &val)) return -1;
    if (!(L->in_idx = array(e, in_idx, 4, &n_in, "map inputs")) || !(L->out_idx = array(e, out_idx, 4, &n_out, "map outputs")))
        return -1;
    L->n_in = (int)n_in;
    L->n_out = (int)n_out;
    L->n_pad = (L->n_in + ROW_PAD - 1) / ROW_PAD * ROW_PAD;
    if (read_scale(&e->m, mant, shift, &L->scale) || indices(L->in_idx, n_in, in_width, "map inputs") ||
        indices(L->out_idx, n_out, out_width, "map outputs"))
        return -1;
    if (dense != Py_None) {
        const int16_t *w = array(e, dense, 2, &len, "dense weights");
        if (!w) return -1;
        if (len != n_in * n_out) return fail("dense weights");
        int16_t *padded = keep(e, calloc((size_t)n_out * L->n_pad + 1, sizeof(int16_t)));
        if (!padded) return -1;
        for (Py_ssize_t o = 0; o < n_out; o++) memcpy(padded + o * L->n_pad, w + o * n_in, n_in * sizeof(int16_t));
        L->dense = padded;
        return 0;
    }
    L->dense = NULL;
    if (!(L->row_ptr = array(e, row_ptr, 4, &len, "sparse rows")) || !(L->col = array(e, col, 4, &nnz, "sparse columns"))) return -1;
    if (len != n_out + 1 || L->row_ptr[0] != 0 || L->row_ptr[n_out] != nnz) return fail("sparse map");
    if (indices(L->col, nnz, in_width, "sparse columns")) return -1;
    for (Py_ssize_t o = 0; o < n_out; o++)
        if (L->row_ptr[o] > L->row_ptr[o + 1]) return fail("sparse map");
    if (!(L->val = array(e, val, 2, &len, "sparse values"))) return -1;
    return len == nnz ? 0 : fail("sparse values");
}

static int read_attention(Engine *e, PyObject *obj, Attention *A, size_t *cache_bytes) {
    PyObject *norm, *wq, *wk, *wv, *wo, *heads;
    Py_ssize_t len;
    int score_shift;
    if (!PyArg_ParseTuple(obj, "OOOOOOi", &norm, &wq, &wk, &wv, &wo, &heads, &score_shift)) return -1;
    const Model *m = &e->m;
    const int32_t *h;
    if (read_norm(norm, &A->norm) || read_lin(e, wq, &A->wq, m->d, m->d) || read_lin(e, wk, &A->wk, m->d, m->d) ||
        read_lin(e, wv, &A->wv, m->d, m->d) || !(h = array(e, heads, 4, &len, "heads")))
        return -1;
    A->n_score = A->wq.n_out;
    A->n_value = A->wv.n_out;
    if (read_lin(e, wo, &A->wo, A->n_value, m->d)) return -1;
    if (read_scale(m, 1, score_shift, &A->score_scale)) return -1;
    if (A->wk.n_out != A->n_score || len % 5) return fail("attention");
    A->n_heads = (int)(len / 5);
    Head *hs = keep(e, calloc(A->n_heads ? A->n_heads : 1, sizeof(Head)));
    if (!hs) return -1;
    for (int i = 0; i < A->n_heads; i++) {
        hs[i] = (Head){h[5 * i], h[5 * i + 1], h[5 * i + 2], h[5 * i + 3], h[5 * i + 4]};
        if (hs[i].score0 < 0 || hs[i].n_score < 0 || hs[i].score0 + hs[i].n_score > A->n_score || hs[i].value0 < 0 || hs[i].n_value < 0 ||
            hs[i].value0 + hs[i].n_value > A->n_value || hs[i].slope < 0 || hs[i].slope > 256)
            return fail("head");
    }
    A->heads = hs;
    A->live = 1;
    A->cache_offset = *cache_bytes;
    *cache_bytes += (size_t)(A->n_score + A->n_value) * m->window;
    return 0;
}

static int read_mlp(Engine *e, PyObject *obj, Mlp *M) {
    PyObject *norm, *w1, *w2;
    if (!PyArg_ParseTuple(obj, "OOO", &norm, &w1, &w2)) return -1;
    /* w1's outputs stay compact (the live neurons): its out_idx is never used as an index. */
    if (read_norm(norm, &M->norm) || read_lin(e, w1, &M->w1, e->m.d, INT32_MAX) || read_lin(e, w2, &M->w2, M->w1.n_out, e->m.d)) return -1;
    M->live = 1;
    return 0;
}

static int widest(const Lin *L, int width) {
    int w = L->n_pad > L->n_out ? L->n_pad : L->n_out; /* n_pad >= n_in */
    return w > width ? w : width;
}

/* Engine(table, d, window, n_prev, wide, emb_k, emb, layers, head, threads); see int_model.py. */
static int Engine_init(Engine *e, PyObject *args, PyObject *kwargs) {
    static char *kw[] = {"table", "d", "window", "n_prev", "wide", "emb_k", "emb", "layers", "head", "threads", NULL};
    PyObject *table, *emb_k, *emb, *layers, *head;
    Model *m = &e->m;
    Py_ssize_t len, n_emb;
    if (e->pool) {
        PyErr_SetString(PyExc_TypeError, "Engine is initialized once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OiiipOOOOi", kw, &table, &m->d, &m->window, &m->n_prev, &m->wide, &emb_k, &emb, &layers,
                                     &head, &e->threads))
        return -1;
    if (m->d < 1 || m->d > 1024 || m->window < 1 || m->window > 1024 || m->n_prev < 0 || m->n_prev > 8 || e->threads < 1 || e->threads > 256)
        return fail("shape");
    if (!(m->table = array(e, table, 4, &len, "table"))) return -1;
    m->n_table = (int)len;
    for (Py_ssize_t i = 0; i < len; i++)
        if (m->table[i] < 0 || m->table[i] > 1 << 16) return fail("table");
    if (len < 1) return fail("table");
    if (!(m->emb_k = array(e, emb_k, 4, &n_emb, "embedding offsets")) || !(m->emb = array(e, emb, m->wide ? 8 : 4, &len, "embeddings")))
        return -1;
    m->n_emb = (int)n_emb;
    if (indices(m->emb_k, n_emb, m->n_prev + 1, "embedding offsets")) return -1;
    if (len != n_emb * (VOCAB + 1) * m->d) return fail("embeddings");
    PyObject *seq = PySequence_Fast(layers, "layers must be a sequence");
    if (!seq) return -1;
    m->n_layers = (int)PySequence_Fast_GET_SIZE(seq);
    Layer *ls = keep(e, calloc(m->n_layers ? m->n_layers : 1, sizeof(Layer)));
    size_t cache_bytes = 0;
    int width = m->d;
    for (int l = 0; ls && l < m->n_layers; l++) {
        PyObject *attn, *mlp;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, l), "OO", &attn, &mlp) ||
            (attn != Py_None && read_attention(e, attn, &ls[l].attn, &cache_bytes)) || (mlp != Py_None && read_mlp(e, mlp, &ls[l].mlp))) {
            Py_DECREF(seq);
            return -1;
        }
        width = widest(&ls[l].attn.wq, widest(&ls[l].attn.wv, widest(&ls[l].attn.wo, width)));
        width = widest(&ls[l].mlp.w1, widest(&ls[l].mlp.w2, width));
    }
    Py_DECREF(seq);
    if (!ls) return -1;
    m->layers = ls;
    PyObject *norm, *lin;
    if (!PyArg_ParseTuple(head, "OO", &norm, &lin) || read_norm(norm, &m->head_norm) || read_lin(e, lin, &m->head, m->d, VOCAB)) return -1;
    m->max_width = widest(&m->head, width);
    m->cache_bytes = cache_bytes;
    if (!(e->work = keep(e, calloc(e->threads, sizeof(Work *))))) return -1;
    for (int i = 0; i < e->threads; i++)
        if (!(e->work[i] = work_new(m))) {
            PyErr_NoMemory();
            return -1;
        }
    if (!(e->pool = pool_new(e->threads))) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void Engine_dealloc(Engine *e) {
    pool_free(e->pool);
    for (int i = 0; e->work && i < e->threads; i++) work_free(e->work[i]);
    for (int i = 0; i < e->n_blocks; i++) free(e->blocks[i]);
    free(e->blocks);
    Py_TYPE(e)->tp_free((PyObject *)e);
}

/* ---- streams ---- */

static PyTypeObject StateType;

static PyObject *Engine_new_state(Engine *e, PyObject *arg) {
    long S = PyLong_AsLong(arg);
    if (S == -1 && PyErr_Occurred()) return NULL;
    if (!e->pool || S < 1 || S > 1 << 16) {
        PyErr_SetString(PyExc_ValueError, "1 .. 65536 streams, on an initialized engine");
        return NULL;
    }
    State *s = PyObject_New(State, &StateType);
    if (!s) return NULL;
    Py_INCREF(e);
    s->engine = e;
    s->st = (Streams){(int)S, 0, malloc(S * (e->m.n_prev ? e->m.n_prev : 1) * sizeof(int16_t)), calloc(S, e->m.cache_bytes ? e->m.cache_bytes : 1)};
    if (!s->st.prev || !s->st.cache) {
        Py_DECREF(s);
        return PyErr_NoMemory();
    }
    for (long i = 0; i < S * e->m.n_prev; i++) s->st.prev[i] = VOCAB; /* BOS: no byte before the start */
    return (PyObject *)s;
}

static void State_dealloc(State *s) {
    free(s->st.prev);
    free(s->st.cache);
    Py_XDECREF(s->engine);
    PyObject_Free(s);
}

static PyObject *State_t(State *s, void *closure) { return PyLong_FromLongLong(s->st.t); }

typedef struct {
    const Engine *e;
    const Streams *st;
    const Batch *b;
} Job;

static void run_part(void *arg, int part, int parts) {
    const Job *job = arg;
    int S = job->st->S;
    forward_range(&job->e->m, job->e->work[part], job->st, job->b, (int)((int64_t)S * part / parts), (int)((int64_t)S * (part + 1) / parts));
}

/* run(state, tokens, freqs): tokens int32 (S, C) in 0..256; writes freqs int64 (S, C, 256). */
static PyObject *Engine_run(Engine *e, PyObject *args) {
    State *s;
    PyObject *tokens_obj, *freqs_obj;
    if (!PyArg_ParseTuple(args, "O!OO", &StateType, &s, &tokens_obj, &freqs_obj)) return NULL;
    if (s->engine != e) {
        PyErr_SetString(PyExc_ValueError, "a state of another engine");
        return NULL;
    }
    Py_buffer tv, fv;
    if (PyObject_GetBuffer(tokens_obj, &tv, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    if (PyObject_GetBuffer(freqs_obj, &fv, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&tv);
        return NULL;
    }
    PyObject *result = NULL;
    const int S = s->st.S;
    const char *tf = tv.format ? tv.format : "B", *ff = fv.format ? fv.format : "B";
    if (tv.ndim != 2 || tv.shape[0] != S || tv.itemsize != 4 || !strchr("il", tf[strlen(tf) - 1]) || fv.ndim != 3 ||
        fv.shape[0] != S || fv.shape[1] != tv.shape[1] || fv.shape[2] != VOCAB || fv.itemsize != 8 || !strchr("lq", ff[strlen(ff) - 1])) {
        PyErr_SetString(PyExc_ValueError, "tokens must be int32 (S, C) and freqs int64 (S, C, 256), C-contiguous");
        goto done;
    }
    const int32_t *tokens = tv.buf;
    for (Py_ssize_t i = 0; i < S * tv.shape[1]; i++)
        if (tokens[i] < 0 || tokens[i] > VOCAB) {
            PyErr_SetString(PyExc_ValueError, "tokens must be in 0 .. 256");
            goto done;
        }
    Batch b = {tokens, fv.buf, (int)tv.shape[1]};
    Job job = {e, &s->st, &b};
    Py_BEGIN_ALLOW_THREADS
    pool_run(e->pool, run_part, &job);
    Py_END_ALLOW_THREADS
    s->st.t += b.C;
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&tv);
    PyBuffer_Release(&fv);
    return result;
}

static PyObject *Engine_threads(Engine *e, void *closure) { return PyLong_FromLong(e->threads); }

static PyObject *Engine_isa(Engine *e, void *closure) { return PyUnicode_FromString(forward_isa()); }

static PyMethodDef Engine_methods[] = {
    {"new_state", (PyCFunction)Engine_new_state, METH_O, "new_state(S) -> State: S streams before their first byte."},
    {"run", (PyCFunction)Engine_run, METH_VARARGS, "run(state, tokens, freqs): the frequencies after each token, C steps of every stream."},
    {NULL}};

static PyGetSetDef Engine_getset[] = {
    {"threads", (getter)Engine_threads, NULL, "worker threads, the caller's included", NULL},
    {"isa", (getter)Engine_isa, NULL, "the instruction set the step was compiled for", NULL},
    {NULL}};

static PyGetSetDef State_getset[] = {{"t", (getter)State_t, NULL, "steps run so far", NULL}, {NULL}};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mdlzip.model._engine.Engine",
    .tp_basicsize = sizeof(Engine),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Engine_init,
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_methods = Engine_methods,
    .tp_getset = Engine_getset,
    .tp_doc = "The integer model, pruned, over lock-step streams.",
};

static PyTypeObject StateType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mdlzip.model._engine.State",
    .tp_basicsize = sizeof(State),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)State_dealloc,
    .tp_getset = State_getset,
    .tp_doc = "What S streams remember between steps.",
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_engine", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__engine(void) {
    /* The rounding shifts rely on >> of a negative value being arithmetic (C leaves it to the compiler). */
    volatile int minus_three = -3;
    if ((minus_three >> 1) != -2) {
        PyErr_SetString(PyExc_ImportError, "this compiler's >> is not an arithmetic shift");
        return NULL;
    }
    forward_init();
    if (PyType_Ready(&EngineType) < 0 || PyType_Ready(&StateType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&EngineType);
    if (PyModule_AddObject(m, "Engine", (PyObject *)&EngineType) < 0) {
        Py_DECREF(&EngineType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
