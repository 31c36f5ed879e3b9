{
  "targets": [
    {
      "target_name": "ternlm",
      "sources": ["addon.c", "kernels.c"],
      "cflags": ["-O3", "-std=c11", "-fno-strict-aliasing"]
    }
  ]
}
