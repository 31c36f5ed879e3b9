// ternlm's native kernels: the same names, arguments and results as the wasm kernels of
// assembly/ (a pointer is a byte offset into the one shared wasm memory), so the thread pool can
// run either for any kernel both have.
//
// Every kernel has one C signature: `double kernel(const double* a, int n)`, where a[0..n) are
// the wasm kernel's arguments in its order, followed, when the pool runs it, by (start, end, tid)
// (tid appended even where the wasm kernel does not declare it). The result is returned for the
// kernels that answer a number (gemm_scratch_floats), else 0.
#ifndef TERNLM_KERNELS_H
#define TERNLM_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/** Base address of the shared wasm memory (stable: the memory is reserved at its maximum size). */
extern uint8_t* ternlm_base;

/** The instruction set the kernels use (the best this CPU has, or a lower one asked for). */
enum { ISA_SCALAR = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };
extern int ternlm_isa;
/** Whether the int8 dot-product instructions are there and allowed: AVX-512 VNNI (with avx512) or AVX-VNNI (with avx2). */
extern int ternlm_vnni;

typedef double (*ternlm_kernel)(const double* a, int n);

/**
 * A kernel that cannot run (its C scratch could not be allocated) sets this to a message and
 * returns; the addon then throws it as a JavaScript error, which the pool reports as the kernel's
 * failure, instead of the process crashing.
 */
extern _Thread_local const char* ternlm_failure;

typedef struct {
  const char* name; /* the wasm kernel's name */
  int nargs;        /* the wasm kernel's parameter count (start, end and tid included where it declares them) */
  ternlm_kernel fn;
} KernelEntry;

/** A table entry for the C function named as its wasm kernel: KERNEL(gemm_pack_b, 8). */
#define KERNEL(fn, nargs) {#fn, nargs, fn}
/** Each kernel file exports one table, ended by an entry whose name is NULL; addon.c lists them. */
extern const KernelEntry basic_kernels[], gemm_kernels[], ternary_kernels[], attention_kernels[], ops_kernels[];

// Argument readers: a byte offset into the shared memory as a typed pointer, an integer, a float.
#define PTR_F32(x) ((float*)(ternlm_base + (uintptr_t)(x)))
#define PTR_I32(x) ((int32_t*)(ternlm_base + (uintptr_t)(x)))
#define PTR_I16(x) ((int16_t*)(ternlm_base + (uintptr_t)(x)))
#define PTR_U8(x) ((uint8_t*)(ternlm_base + (uintptr_t)(x)))
#define I64(x) ((int64_t)(x))
#define I32(x) ((int32_t)(x))

/** The x86 target attributes of the kernels built for each instruction set. */
#define TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx2")))
#define TARGET_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma,avx2")))
#define TARGET_AVX_VNNI __attribute__((target("avx2,fma,avxvnni")))

#endif
