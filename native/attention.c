// Native kernels: attention, softmax and cross-entropy, and the one-token inference kernels (assembly/attention.ts, softmax.ts, infer.ts).
#include "kernels.h"

const KernelEntry attention_kernels[] = {
  {0, 0, 0},
};
