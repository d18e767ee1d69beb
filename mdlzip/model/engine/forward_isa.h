/* The forward step for one instruction set (ISA, a name suffix): both accumulator widths, and
   run##ISA choosing between them. Included by forward.c once per instruction set. */

#define ACC int32_t
#define FN(name) CAT(CAT(name, _32), ISA)
#include "forward_step.h"
#undef ACC
#undef FN

#define ACC int64_t
#define FN(name) CAT(CAT(name, _64), ISA)
#include "forward_step.h"
#undef ACC
#undef FN

static void CAT(run, ISA)(const Model *m, Work *w, const Streams *st, const Batch *b, int s0, int s1) {
    (m->wide ? CAT(run_64, ISA) : CAT(run_32, ISA))(m, w, st, b, s0, s1);
}
