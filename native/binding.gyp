{
  "targets": [
    {
      "target_name": "ternlm",
      "sources": ["addon.c", "kernels.c", "gemm.c", "ternary.c", "attention.c", "ops.c"],
      "cflags": ["-O3", "-std=c11", "-fno-strict-aliasing"]
    }
  ]
}
