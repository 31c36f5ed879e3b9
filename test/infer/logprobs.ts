// Comparing next-token distributions: the engine returns logits (full softmax head) or
// log-probabilities (other heads); log-softmax makes both log-probabilities.

/** log-softmax of one row of logits, in f64. */
export function logSoftmax(x: ArrayLike<number>): Float64Array {
  let mx = -Infinity;
  for (let i = 0; i < x.length; i++) mx = Math.max(mx, x[i]);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i] - mx);
  const lse = mx + Math.log(s);
  return Float64Array.from(x, (v) => v - lse);
}

/** Largest |a[i] - b[i]|. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
