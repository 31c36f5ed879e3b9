// A chain of dependent one-cycle integer operations: 8 per iteration, so the iterations per
// second times 8 estimate the core's clock (benchmarks judge kernels against that ceiling).
export function clock_probe(n: i32, a: i32, b: i32): i32 {
  let x = a;
  for (let i = 0; i < n; i++) {
    x = (x + b) ^ a;
    x = (x + b) ^ a;
    x = (x + b) ^ a;
    x = (x + b) ^ a;
  }
  return x;
}
