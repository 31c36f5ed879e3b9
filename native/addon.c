// N-API glue: `setMemory(view)` records the shared memory's base address; `kernels` holds one
// JavaScript function per native kernel, taking the wasm kernel's numeric arguments plus the
// pool's (start, end, tid); `calls(name)` counts each thread's calls of a kernel (tests).
#include <node_api.h>
#include <stdatomic.h>
#include <string.h>
#include "kernels.h"

#define MAX_THREADS 256
#define MAX_ARGS 40

typedef void (*kernel4)(double, double, double, double);

typedef struct {
  const char* name;
  int arity; /* numeric arguments, start and end included; tid is dropped */
  void* fn;
  atomic_long calls[MAX_THREADS];
} Kernel;

static Kernel kernels[] = {
  {"fill_f32", 4, (void*)fill_f32, {0}},
};
#define KERNEL_COUNT (sizeof(kernels) / sizeof(kernels[0]))

static napi_value throw_error(napi_env env, const char* msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static napi_value call_kernel(napi_env env, napi_callback_info info) {
  size_t argc = MAX_ARGS;
  napi_value argv[MAX_ARGS];
  Kernel* k;
  napi_get_cb_info(env, info, &argc, argv, NULL, (void**)&k);
  if ((int)argc != k->arity + 1) return throw_error(env, "native kernel: wrong number of arguments");
  double a[MAX_ARGS];
  for (size_t i = 0; i < argc; i++) napi_get_value_double(env, argv[i], &a[i]);
  int tid = (int)a[argc - 1];
  if (tid >= 0 && tid < MAX_THREADS) atomic_fetch_add(&k->calls[tid], 1);
  switch (k->arity) {
    case 4: ((kernel4)k->fn)(a[0], a[1], a[2], a[3]); break;
    default: return throw_error(env, "native kernel: unsupported arity");
  }
  return NULL;
}

static napi_value set_memory(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_typedarray_type type;
  size_t length, offset;
  void* data;
  napi_value buffer;
  if (argc != 1 || napi_get_typedarray_info(env, argv[0], &type, &length, &data, &buffer, &offset) != napi_ok) {
    return throw_error(env, "setMemory expects a Uint8Array over the wasm memory");
  }
  ternlm_base = (uint8_t*)data - offset;
  return NULL;
}

static napi_value calls(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char name[64];
  size_t len;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) return throw_error(env, "calls expects a kernel name");
  for (size_t i = 0; i < KERNEL_COUNT; i++) {
    if (strcmp(kernels[i].name, name) != 0) continue;
    napi_value out;
    napi_create_array_with_length(env, MAX_THREADS, &out);
    for (uint32_t t = 0; t < MAX_THREADS; t++) {
      napi_value n;
      napi_create_double(env, (double)atomic_load(&kernels[i].calls[t]), &n);
      napi_set_element(env, out, t, n);
    }
    return out;
  }
  return throw_error(env, "calls: no such native kernel");
}

/** The instruction sets this CPU has that the kernels may use. */
static napi_value isa(napi_env env) {
  const char* best = "scalar";
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) best = "avx512";
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = "avx2";
#endif
  napi_value out;
  napi_create_string_utf8(env, best, NAPI_AUTO_LENGTH, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value table, fn;
  napi_create_object(env, &table);
  for (size_t i = 0; i < KERNEL_COUNT; i++) {
    napi_create_function(env, kernels[i].name, NAPI_AUTO_LENGTH, call_kernel, &kernels[i], &fn);
    napi_set_named_property(env, table, kernels[i].name, fn);
  }
  napi_set_named_property(env, exports, "kernels", table);
  napi_create_function(env, "setMemory", NAPI_AUTO_LENGTH, set_memory, NULL, &fn);
  napi_set_named_property(env, exports, "setMemory", fn);
  napi_create_function(env, "calls", NAPI_AUTO_LENGTH, calls, NULL, &fn);
  napi_set_named_property(env, exports, "calls", fn);
  napi_set_named_property(env, exports, "isa", isa(env));
  return exports;
}
