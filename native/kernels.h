// ternlm's native kernels: the same functions, arguments and results as the wasm kernels of
// assembly/ (a pointer is a byte offset into the one shared wasm memory), so the thread pool can
// run either for any kernel both have.
#ifndef TERNLM_KERNELS_H
#define TERNLM_KERNELS_H
#include <stdint.h>

/** Base address of the shared wasm memory (stable: the memory is reserved at its maximum size). */
extern uint8_t* ternlm_base;

#define F32(offset) ((float*)(ternlm_base + (uintptr_t)(offset)))

/** y[i] = v for i in [start, end). */
void fill_f32(double y, double v, double start, double end);

#endif
