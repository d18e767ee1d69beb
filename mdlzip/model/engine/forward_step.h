/* One step of one stream with sums in ACC; included by forward_isa.h once per accumulator type.
   In the int32 instantiation int_model.py has proved every value it holds below 2^31.

   The loops are written for the compiler's vectorizer: unit stride, no branches, sums of
   products of narrow integers (which become multiply-add-pairs instructions). */

/* The live outputs of a linear map, scaled (see Lin in model.h). Dense maps take dot products
   of int16 rows, which compilers vectorize with multiply-add-pairs instructions. */
INLINE void FN(lin)(const Lin *L, const int32_t *restrict in, ACC *restrict out, Work *w) {
    const ACC mul = (ACC)L->scale.mul, add = (ACC)L->scale.add;
    const int rsh = L->scale.rsh;
    if (L->dense) {
        int16_t *restrict x = w->x16;
        for (int i = 0; i < L->n_in; i++) x[i] = (int16_t)in[L->in_idx[i]];
        for (int i = L->n_in; i < L->n_pad; i++) x[i] = 0;
        for (int o = 0; o < L->n_out; o++) {
            const int16_t *restrict row = L->dense + (size_t)o * L->n_pad;
            ACC sum = 0;
            for (int i = 0; i < L->n_pad; i++) sum += (ACC)x[i] * row[i];
            out[o] = (sum * mul + add) >> rsh;
        }
        return;
    }
    for (int o = 0; o < L->n_out; o++) {
        ACC sum = 0;
        for (int j = L->row_ptr[o]; j < L->row_ptr[o + 1]; j++) sum += (ACC)in[L->col[j]] * L->val[j];
        out[o] = (sum * mul + add) >> rsh;
    }
}

/* The residual plus a map's live outputs, saturated to int16. */
INLINE void FN(add_residual)(int32_t *x, const Lin *L, const ACC *delta) {
    for (int r = 0; r < L->n_out; r++) x[L->out_idx[r]] = clamp32((int64_t)x[L->out_idx[r]] + delta[r], -RESID_MAX, RESID_MAX);
}

/* One head's average of the values, weighted by exp of the scores. Keys and values live in the
   stream's cache as int8 rows of `window` entries, one row per dimension; position p sits in
   slot p % window. At step t the visible positions are the last nv = min(t + 1, window):
   slots 0 .. nv - 1, at distance (t - slot) mod window. */
INLINE void FN(head_average)(const Model *m, const Attention *A, const Head *hd, Work *w, const int8_t *K, const int8_t *V, int slot, int nv) {
    const int S = m->window, top = m->n_table - 1;
    ACC *restrict z = (ACC *)w->z;
    ACC *restrict p = (ACC *)w->p;
    for (int i = 0; i < nv; i++) z[i] = 0;
    /* Two dimensions at a time: each product is at most 127^2, so the pair adds up exactly in
       int16, whose lanes are twice as many per register. */
    const int end = hd->score0 + hd->n_score;
    int j = hd->score0;
    for (; j + 1 < end; j += 2) {
        const int16_t qa = (int16_t)w->q[j], qb = (int16_t)w->q[j + 1];
        const int8_t *restrict Ka = K + (size_t)j * S, *restrict Kb = Ka + S;
        for (int i = 0; i < nv; i++) z[i] += (int16_t)(qa * Ka[i] + qb * Kb[i]);
    }
    if (j < end) {
        const ACC q = w->q[j];
        const int8_t *restrict Ka = K + (size_t)j * S;
        for (int i = 0; i < nv; i++) z[i] += q * Ka[i];
    }
    const ACC mul = (ACC)A->score_scale.mul, add = (ACC)A->score_scale.add, slope = hd->slope, W = m->window;
    const int rsh = A->score_scale.rsh;
    for (int i = 0; i < nv; i++) {
        const ACC dist = slot - i < 0 ? slot - i + W : slot - i;
        z[i] = ((z[i] * mul + add) >> rsh) - slope * dist;
    }
    ACC zmax = z[0];
    for (int i = 1; i < nv; i++) zmax = z[i] > zmax ? z[i] : zmax;
    ACC psum = 0;
    for (int i = 0; i < nv; i++) {
        const ACC u = zmax - z[i];
        p[i] = m->table[u < top ? u : top];
        psum += p[i];
    }
    for (int j = hd->value0; j < hd->value0 + hd->n_value; j++) {
        const int8_t *restrict Vj = V + (size_t)j * S;
        ACC s = 0;
        for (int i = 0; i < nv; i++) s += p[i] * Vj[i];
        w->o[j] = (int32_t)div_round(s, psum);
    }
}

INLINE void FN(attention)(const Model *m, const Attention *A, Work *w, int8_t *cache, int64_t t) {
    ACC *acc = (ACC *)w->acc;
    norm(w->x, m->d, &A->norm, w->a);
    FN(lin)(&A->wq, w->a, acc, w);
    for (int j = 0; j < A->n_score; j++) w->q[j] = clamp32(acc[j], -ACT_MAX, ACT_MAX);
    FN(lin)(&A->wk, w->a, acc, w);
    const int S = m->window, slot = (int)(t % m->window), nv = t + 1 < m->window ? (int)t + 1 : m->window;
    int8_t *K = cache, *V = cache + (size_t)A->n_score * S;
    for (int j = 0; j < A->n_score; j++) K[(size_t)j * S + slot] = (int8_t)clamp32(acc[j], -ACT_MAX, ACT_MAX);
    FN(lin)(&A->wv, w->a, acc, w);
    for (int j = 0; j < A->n_value; j++) V[(size_t)j * S + slot] = (int8_t)clamp32(acc[j], -ACT_MAX, ACT_MAX);
    for (int h = 0; h < A->n_heads; h++) FN(head_average)(m, A, &A->heads[h], w, K, V, slot, nv);
    FN(lin)(&A->wo, w->o, acc, w);
    FN(add_residual)(w->x, &A->wo, acc);
}

INLINE void FN(mlp)(const Model *m, const Mlp *M, Work *w) {
    ACC *acc = (ACC *)w->acc;
    norm(w->x, m->d, &M->norm, w->a);
    FN(lin)(&M->w1, w->a, acc, w);
    for (int j = 0; j < M->w1.n_out; j++) w->h[j] = clamp32(acc[j], 0, ACT_MAX);
    FN(lin)(&M->w2, w->h, acc, w);
    FN(add_residual)(w->x, &M->w2, acc);
}

INLINE void FN(head)(const Model *m, Work *w, int64_t *freqs) {
    ACC *acc = (ACC *)w->acc, *logits = (ACC *)w->logits;
    const int top = m->n_table - 1;
    norm(w->x, m->d, &m->head_norm, w->a);
    FN(lin)(&m->head, w->a, acc, w);
    for (int r = 0; r < m->head.n_out; r++) logits[m->head.out_idx[r]] = acc[r];
    ACC zmax = logits[0];
    for (int b = 1; b < VOCAB; b++) zmax = logits[b] > zmax ? logits[b] : zmax;
    for (int b = 0; b < VOCAB; b++) {
        const ACC u = zmax - logits[b];
        const int32_t f = m->table[u < top ? u : top];
        freqs[b] = f < 1 ? 1 : f;
    }
}

INLINE void FN(step)(const Model *m, Work *w, int16_t *prev, int8_t *cache, int64_t t, int token, int64_t *freqs) {
    const int d = m->d, P = m->n_prev;
    ACC *e = (ACC *)w->acc;
    for (int j = 0; j < d; j++) e[j] = 0;
    for (int i = 0; i < m->n_emb; i++) {
        const int k = m->emb_k[i];
        const ACC *row = (const ACC *)m->emb + ((size_t)i * (VOCAB + 1) + (k ? prev[P - k] : token)) * d;
        for (int j = 0; j < d; j++) e[j] += row[j];
    }
    for (int j = 0; j < d; j++) w->x[j] = clamp32(e[j], -RESID_MAX, RESID_MAX);
    if (P) {
        memmove(prev, prev + 1, (size_t)(P - 1) * sizeof(int16_t));
        prev[P - 1] = (int16_t)token;
    }
    for (int l = 0; l < m->n_layers; l++) {
        const Layer *L = &m->layers[l];
        if (L->attn.live) FN(attention)(m, &L->attn, w, cache + L->attn.cache_offset, t);
        if (L->mlp.live) FN(mlp)(m, &L->mlp, w);
    }
    FN(head)(m, w, freqs);
}

static void FN(run)(const Model *m, Work *w, const Streams *st, const Batch *b, int s0, int s1) {
    for (int s = s0; s < s1; s++) {
        int16_t *prev = st->prev + (size_t)s * m->n_prev;
        int8_t *cache = st->cache + (size_t)s * m->cache_bytes;
        for (int c = 0; c < b->C; c++) {
            const size_t at = (size_t)s * b->C + c;
            FN(step)(m, w, prev, cache, st->t + c, b->tokens[at], b->freqs + at * VOCAB);
        }
    }
}

