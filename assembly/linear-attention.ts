// Kernels of causal linear attention's normalisation: the scores a (rows, T) of positive feature
// maps, a_ij = φ(q_i) · φ(k_j), become weights y_ij = a_ij / Σ_{j' <= i} a_ij' over the keys up
// to the query (row r is query position i = r % T; y is 0 above the diagonal). Then y . v is
// φ(q_i)ᵀ S_i / φ(q_i)ᵀ z_i with S_i = Σ_{j <= i} φ(k_j) v_jᵀ and z_i = Σ_{j <= i} φ(k_j).
// One task is one row; sums are in f32, four lanes at a time.

/** Σ row[0..n) in f32 (4 lanes and a scalar tail). */
// @ts-ignore: decorator
@inline function rowSum(row: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) acc = f32x4.add(acc, v128.load(row + <usize>j * 4));
  let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; j < n; j++) s += load<f32>(row + <usize>j * 4);
  return s;
}

/** y = a / Σ_{j <= i} a_ij on columns j <= i of each row (i = r % T), 0 on the rest. */
export function causal_normalize_forward(a: usize, y: usize, T: i32, start: i32, end: i32): void {
  for (let r = start; r < end; r++) {
    const ar = a + <usize>r * <usize>T * 4;
    const yr = y + <usize>r * <usize>T * 4;
    const n = (r % T) + 1;
    const inv: f32 = <f32>1 / rowSum(ar, n);
    const iv = f32x4.splat(inv);
    let j = 0;
    for (; j + 4 <= n; j += 4) v128.store(yr + <usize>j * 4, f32x4.mul(v128.load(ar + <usize>j * 4), iv));
    for (; j < n; j++) store<f32>(yr + <usize>j * 4, load<f32>(ar + <usize>j * 4) * inv);
    for (; j < T; j++) store<f32>(yr + <usize>j * 4, 0);
  }
}

/**
 * da (+)= (dy - Σ_{j' <= i} dy_ij' y_ij') / Σ_{j' <= i} a_ij' on columns j <= i, 0 on the rest
 * (the row sums are recomputed from a).
 */
export function causal_normalize_backward(a: usize, y: usize, dy: usize, da: usize, T: i32, accumulate: i32, start: i32, end: i32): void {
  for (let r = start; r < end; r++) {
    const off = <usize>r * <usize>T * 4;
    const n = (r % T) + 1;
    const inv: f32 = <f32>1 / rowSum(a + off, n);
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= n; j += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(y + off + <usize>j * 4), v128.load(dy + off + <usize>j * 4)));
    let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
    for (; j < n; j++) s += load<f32>(y + off + <usize>j * 4) * load<f32>(dy + off + <usize>j * 4);
    const sv = f32x4.splat(s), iv = f32x4.splat(inv);
    j = 0;
    for (; j + 4 <= n; j += 4) {
      const p = off + <usize>j * 4;
      let v = f32x4.mul(f32x4.sub(v128.load(dy + p), sv), iv);
      if (accumulate != 0) v = f32x4.add(v, v128.load(da + p));
      v128.store(da + p, v);
    }
    for (; j < n; j++) {
      const p = off + <usize>j * 4;
      let v = (load<f32>(dy + p) - s) * inv;
      if (accumulate != 0) v += load<f32>(da + p);
      store<f32>(da + p, v);
    }
    if (accumulate == 0) for (; j < T; j++) store<f32>(da + off + <usize>j * 4, 0);
  }
}
