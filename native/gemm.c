// Native kernels: f32 GEMM and matrix-vector products (assembly/gemm.ts).
#include "kernels.h"

const KernelEntry gemm_kernels[] = {
  {0, 0, 0},
};
