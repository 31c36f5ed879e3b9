// The kernels every backend test starts from, and the globals the others read.
#include "kernels.h"

uint8_t* ternlm_base = 0;
int ternlm_isa = ISA_SCALAR;
int ternlm_vnni = 0;
_Thread_local const char* ternlm_failure = 0;

/** fill_f32(y, v, start, end): y[i] = v for i in [start, end). */
static double fill_f32(const double* a, int n) {
  (void)n;
  float* out = PTR_F32(a[0]);
  const float value = (float)a[1];
  for (int64_t i = I64(a[2]); i < I64(a[3]); i++) out[i] = value;
  return 0;
}

const KernelEntry basic_kernels[] = {
  KERNEL(fill_f32, 4),
  {0, 0, 0},
};
