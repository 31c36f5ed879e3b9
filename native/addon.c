// N-API glue. `setMemory(view)` records the shared memory's base address; `kernels` holds one
// JavaScript function per native kernel, taking the wasm kernel's numeric arguments (plus the
// pool's start, end, tid); `arity` the wasm parameter count of each; `calls(name)` counts each
// thread's calls of a kernel (tests); `isa()` names the instruction set in use and
// `setIsa(isa, vnni)` lowers it (tests, TERNLM_NATIVE_ISA).
//
// The pool's fast path: `bindArgs(f64)` records the pool's shared argument block, where the main
// thread writes a job's arguments for every thread; `runBound(index, nargs, start, end, tid)`
// then runs kernel `index` (its position in `names`) on those arguments. Five small arguments
// cross N-API instead of a dozen doubles: a call costs ~40 ns instead of ~190.
#include <node_api.h>
#include <stdatomic.h>
#include <string.h>
#include "kernels.h"

#define MAX_THREADS 256
#define MAX_ARGS 40
#define MAX_KERNELS 256

static const KernelEntry* const tables[] = {
  basic_kernels,
  gemm_kernels,
  ternary_kernels,
  attention_kernels,
  ops_kernels,
};

typedef struct {
  const KernelEntry* entry;
  atomic_long calls[MAX_THREADS];
} Kernel;

static Kernel kernels[MAX_KERNELS];
/** The pool's shared argument block (one per process: the pool's SharedArrayBuffer). */
static const double* bound_args = NULL;
static size_t bound_count = 0;
static int kernel_count = 0;
static int best_isa = ISA_SCALAR;

/** Whether this CPU has the int8 dot products of instruction set `isa`: AVX-512 VNNI, or AVX-VNNI with AVX2. */
static int vnni_with(int isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (isa == ISA_AVX512) return __builtin_cpu_supports("avx512vnni") != 0;
  if (isa == ISA_AVX2) return __builtin_cpu_supports("avxvnni") != 0;
#endif
  (void)isa;
  return 0;
}

/** Fill the flat kernel list and detect the CPU once per process (module init runs per thread). */
static void init_once(void) {
  static atomic_int done = 0;
  if (atomic_exchange(&done, 1)) return;
  for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
    for (const KernelEntry* e = tables[t]; e->name && kernel_count < MAX_KERNELS; e++) kernels[kernel_count++].entry = e;
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    best_isa = ISA_AVX512;
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    best_isa = ISA_AVX2;
  }
#endif
  ternlm_isa = best_isa;
  ternlm_vnni = vnni_with(best_isa);
}

/** One more call of kernel k by thread tid (tests read the counts through calls()). */
static void count_call(Kernel* k, int tid) {
  if (tid >= 0 && tid < MAX_THREADS) atomic_fetch_add_explicit(&k->calls[tid], 1, memory_order_relaxed);
}

static napi_value throw_error(napi_env env, const char* msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

/**
 * The one typed-array argument of a call: its type, element count, first element and byte offset
 * into its buffer; 0 when the call has no such argument.
 */
static int typed_array_arg(napi_env env, napi_callback_info info, napi_typedarray_type* type, size_t* length, void** data, size_t* offset) {
  size_t argc = 1;
  napi_value argv[1], buffer;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  return argc == 1 && napi_get_typedarray_info(env, argv[0], type, length, data, &buffer, offset) == napi_ok;
}

/** Throw a kernel's failure (see ternlm_failure) if it set one; NULL either way. */
static napi_value throw_failure(napi_env env) {
  if (!ternlm_failure) return NULL;
  const char* failure = ternlm_failure;
  ternlm_failure = 0;
  return throw_error(env, failure);
}

static napi_value call_kernel(napi_env env, napi_callback_info info) {
  size_t argc = MAX_ARGS;
  napi_value argv[MAX_ARGS];
  Kernel* k;
  napi_get_cb_info(env, info, &argc, argv, NULL, (void**)&k);
  const int nargs = k->entry->nargs;
  if ((int)argc != nargs && (int)argc != nargs + 1) return throw_error(env, "native kernel: wrong number of arguments");
  double a[MAX_ARGS + 1];
  for (size_t i = 0; i < argc; i++) napi_get_value_double(env, argv[i], &a[i]);
  if ((int)argc == nargs + 1) count_call(k, (int)a[argc - 1]);
  const double result = k->entry->fn(a, (int)argc);
  if (ternlm_failure) return throw_failure(env);
  napi_value out;
  napi_create_double(env, result, &out);
  return out;
}

static napi_value bind_args(napi_env env, napi_callback_info info) {
  napi_typedarray_type type;
  size_t length, offset;
  void* data;
  if (!typed_array_arg(env, info, &type, &length, &data, &offset) || type != napi_float64_array) {
    return throw_error(env, "bindArgs expects the pool's Float64Array of arguments");
  }
  bound_args = (const double*)data;
  bound_count = length;
  return NULL;
}

static napi_value run_bound(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t index = -1, nargs = -1, tid = 0;
  double start = 0, end = 0;
  napi_get_value_int32(env, argv[0], &index);
  napi_get_value_int32(env, argv[1], &nargs);
  napi_get_value_double(env, argv[2], &start);
  napi_get_value_double(env, argv[3], &end);
  napi_get_value_int32(env, argv[4], &tid);
  if (argc != 5 || index < 0 || index >= kernel_count || nargs < 0 || (size_t)nargs > bound_count || nargs > MAX_ARGS || !bound_args) {
    return throw_error(env, "runBound: bad kernel index or argument count");
  }
  Kernel* k = &kernels[index];
  if (nargs + 2 != k->entry->nargs && nargs + 3 != k->entry->nargs) return throw_error(env, "native kernel: wrong number of arguments");
  double a[MAX_ARGS + 3];
  memcpy(a, bound_args, (size_t)nargs * sizeof(double));
  a[nargs] = start;
  a[nargs + 1] = end;
  a[nargs + 2] = tid;
  count_call(k, tid);
  k->entry->fn(a, nargs + 3);
  return throw_failure(env);
}

static napi_value set_memory(napi_env env, napi_callback_info info) {
  napi_typedarray_type type;
  size_t length, offset;
  void* data;
  if (!typed_array_arg(env, info, &type, &length, &data, &offset)) {
    return throw_error(env, "setMemory expects a Uint8Array over the wasm memory");
  }
  ternlm_base = (uint8_t*)data - offset;
  return NULL;
}

static Kernel* find_kernel(napi_env env, napi_value name_value) {
  char name[64];
  size_t len;
  if (napi_get_value_string_utf8(env, name_value, name, sizeof name, &len) != napi_ok) return NULL;
  for (int i = 0; i < kernel_count; i++) {
    if (strcmp(kernels[i].entry->name, name) == 0) return &kernels[i];
  }
  return NULL;
}

static napi_value calls(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Kernel* k = argc == 1 ? find_kernel(env, argv[0]) : NULL;
  if (!k) return throw_error(env, "calls: no such native kernel");
  napi_value out;
  napi_create_array_with_length(env, MAX_THREADS, &out);
  for (uint32_t t = 0; t < MAX_THREADS; t++) {
    napi_value n;
    napi_create_double(env, (double)atomic_load(&k->calls[t]), &n);
    napi_set_element(env, out, t, n);
  }
  return out;
}

static const char* isa_name(int isa) {
  return isa == ISA_AVX512 ? "avx512" : isa == ISA_AVX2 ? "avx2" : "scalar";
}

/** isa(): the instruction set in use, e.g. "avx512 vnni". */
static napi_value isa(napi_env env, napi_callback_info info) {
  (void)info;
  char text[32];
  strcpy(text, isa_name(ternlm_isa));
  if (ternlm_vnni) strcat(text, " vnni");
  napi_value out;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &out);
  return out;
}

/** setIsa(name, vnni): use a lower instruction set than the best (for every thread of the process). */
static napi_value set_isa(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[16];
  size_t len;
  bool vnni = false;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) return throw_error(env, "setIsa expects avx512, avx2 or scalar");
  if (argc > 1) napi_get_value_bool(env, argv[1], &vnni);
  int want = strcmp(name, "avx512") == 0 ? ISA_AVX512 : strcmp(name, "avx2") == 0 ? ISA_AVX2 : strcmp(name, "scalar") == 0 ? ISA_SCALAR : -1;
  if (want < 0) return throw_error(env, "the native instruction set must be avx512, avx2 or scalar");
  if (want > best_isa) return throw_error(env, "this CPU lacks that instruction set");
  ternlm_isa = want;
  /* VNNI belongs to the set it came with: AVX-512 VNNI is not usable under avx2, AVX-VNNI may be. */
  ternlm_vnni = vnni && vnni_with(want);
  return NULL;
}

static void export_function(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}

NAPI_MODULE_INIT() {
  init_once();
  napi_value table, arity, names, fn, n;
  napi_create_object(env, &table);
  napi_create_object(env, &arity);
  napi_create_array_with_length(env, kernel_count, &names);
  for (int i = 0; i < kernel_count; i++) {
    napi_create_string_utf8(env, kernels[i].entry->name, NAPI_AUTO_LENGTH, &n);
    napi_set_element(env, names, i, n);
    napi_create_function(env, kernels[i].entry->name, NAPI_AUTO_LENGTH, call_kernel, &kernels[i], &fn);
    napi_set_named_property(env, table, kernels[i].entry->name, fn);
    napi_create_int32(env, kernels[i].entry->nargs, &n);
    napi_set_named_property(env, arity, kernels[i].entry->name, n);
  }
  napi_set_named_property(env, exports, "kernels", table);
  napi_set_named_property(env, exports, "arity", arity);
  napi_set_named_property(env, exports, "names", names);
  export_function(env, exports, "bindArgs", bind_args);
  export_function(env, exports, "runBound", run_bound);
  export_function(env, exports, "setMemory", set_memory);
  export_function(env, exports, "calls", calls);
  export_function(env, exports, "isa", isa);
  export_function(env, exports, "setIsa", set_isa);
  return exports;
}
