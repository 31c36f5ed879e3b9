// Native kernels: ternary pack/unpack, int8 quantization and the int8 x ternary products (assembly/ternary.ts).
#include "kernels.h"

const KernelEntry ternary_kernels[] = {
  {0, 0, 0},
};
