/* Per-op output-stage constants derived once at create time. */
#include "common.h"

void dyd_out_params_init(dyd_out_params *p, dyd_requant_kind kind, int32_t zero_point,
                         int32_t qmin, int32_t qmax) {
  memset(p, 0, sizeof *p);
  p->kind = kind;
  p->zero_point = zero_point;
  p->qmin = qmin;
  p->qmax = qmax;
  p->lo = qmin - zero_point;
  p->hi = qmax - zero_point;
  p->flo = (float)p->lo;
  p->fhi = (float)p->hi;
}
