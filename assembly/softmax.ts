// Softmax over the last axis and the fused cross-entropy of the output head.
import { exp1, exp4 } from './simd';

// @ts-ignore: decorator
@inline function rowMax(row: usize, n: i32): f32 {
  let mx = f32x4.splat(-Infinity);
  let i = 0;
  for (; i + 4 <= n; i += 4) mx = f32x4.max(mx, v128.load(row + <usize>i * 4));
  let m = max(max(f32x4.extract_lane(mx, 0), f32x4.extract_lane(mx, 1)), max(f32x4.extract_lane(mx, 2), f32x4.extract_lane(mx, 3)));
  for (; i < n; i++) m = max(m, load<f32>(row + <usize>i * 4));
  return m;
}

/** dst[i] = exp(src[i] - m) for i < n; returns the sum. */
// @ts-ignore: decorator
@inline function expShifted(src: usize, dst: usize, n: i32, m: f32): f32 {
  const mv = f32x4.splat(m);
  let acc = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const e = exp4(f32x4.sub(v128.load(src + <usize>i * 4), mv));
    v128.store(dst + <usize>i * 4, e);
    acc = f32x4.add(acc, e);
  }
  let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; i < n; i++) {
    const e = exp1(load<f32>(src + <usize>i * 4) - m);
    store<f32>(dst + <usize>i * 4, e);
    s += e;
  }
  return s;
}

/**
 * y = softmax(x) per row of D. With causalT > 0 row r is query position t = r % causalT and only
 * columns 0..t take part (the rest of the row is set to 0): causal attention without a mask array.
 */
export function softmax_forward(x: usize, y: usize, D: i32, causalT: i32, start: i32, end: i32): void {
  for (let r = start; r < end; r++) {
    const xr = x + <usize>r * <usize>D * 4;
    const yr = y + <usize>r * <usize>D * 4;
    const n = causalT > 0 ? (r % causalT) + 1 : D;
    const m = rowMax(xr, n);
    const s = expShifted(xr, yr, n, m);
    const inv = f32x4.splat(1 / s);
    let i = 0;
    for (; i + 4 <= n; i += 4) v128.store(yr + <usize>i * 4, f32x4.mul(v128.load(yr + <usize>i * 4), inv));
    for (; i < n; i++) store<f32>(yr + <usize>i * 4, load<f32>(yr + <usize>i * 4) / s);
    for (; i < D; i++) store<f32>(yr + <usize>i * 4, 0);
  }
}

/** dx (+)= y * (dy - sum(dy * y)) per row. */
export function softmax_backward(y: usize, dy: usize, dx: usize, D: i32, accumulate: i32, start: i32, end: i32): void {
  for (let r = start; r < end; r++) {
    const off = <usize>r * <usize>D * 4;
    let acc = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= D; i += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(y + off + <usize>i * 4), v128.load(dy + off + <usize>i * 4)));
    let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
    for (; i < D; i++) s += load<f32>(y + off + <usize>i * 4) * load<f32>(dy + off + <usize>i * 4);
    const sv = f32x4.splat(s);
    i = 0;
    for (; i + 4 <= D; i += 4) {
      const p = off + <usize>i * 4;
      let v = f32x4.mul(v128.load(y + p), f32x4.sub(v128.load(dy + p), sv));
      if (accumulate != 0) v = f32x4.add(v, v128.load(dx + p));
      v128.store(dx + p, v);
    }
    for (; i < D; i++) {
      const p = off + <usize>i * 4;
      let v = load<f32>(y + p) * (load<f32>(dy + p) - s);
      if (accumulate != 0) v += load<f32>(dx + p);
      store<f32>(dx + p, v);
    }
  }
}

/**
 * Cross-entropy of rows of logits (rows x V) against targets (i32; < 0 = ignore):
 * losses[r] = logsumexp(row) - row[target]. With gradScale != 0 the logits are overwritten by
 * their gradient, (softmax(row) - onehot(target)) * gradScale, so no second buffer is needed.
 */
export function cross_entropy_forward(logits: usize, V: i32, targets: usize, losses: usize, gradScale: f32, start: i32, end: i32): void {
  for (let r = start; r < end; r++) {
    const row = logits + <usize>r * <usize>V * 4;
    const t = load<i32>(targets + <usize>r * 4);
    if (t < 0) {
      store<f32>(losses + <usize>r * 4, 0);
      if (gradScale != 0) for (let i = 0; i < V; i++) store<f32>(row + <usize>i * 4, 0);
      continue;
    }
    const m = rowMax(row, V);
    const target = load<f32>(row + <usize>t * 4);
    if (gradScale == 0) {
      const mv = f32x4.splat(m);
      let acc = f32x4.splat(0);
      let i = 0;
      for (; i + 4 <= V; i += 4) acc = f32x4.add(acc, exp4(f32x4.sub(v128.load(row + <usize>i * 4), mv)));
      let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
      for (; i < V; i++) s += exp1(load<f32>(row + <usize>i * 4) - m);
      store<f32>(losses + <usize>r * 4, Mathf.log(s) + m - target);
      continue;
    }
    const s = expShifted(row, row, V, m);
    store<f32>(losses + <usize>r * 4, Mathf.log(s) + m - target);
    const k = f32x4.splat(gradScale / s);
    let i = 0;
    for (; i + 4 <= V; i += 4) v128.store(row + <usize>i * 4, f32x4.mul(v128.load(row + <usize>i * 4), k));
    for (; i < V; i++) store<f32>(row + <usize>i * 4, load<f32>(row + <usize>i * 4) * (gradScale / s));
    store<f32>(row + <usize>t * 4, load<f32>(row + <usize>t * 4) - gradScale);
  }
}

/** y = log softmax(x) per row of D (y may be x). */
export function log_softmax_forward(x: usize, y: usize, D: i32, start: i32, end: i32): void {
  for (let r = start; r < end; r++) {
    const xr = x + <usize>r * <usize>D * 4;
    const yr = y + <usize>r * <usize>D * 4;
    const m = rowMax(xr, D);
    const mv = f32x4.splat(m);
    let acc = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= D; i += 4) acc = f32x4.add(acc, exp4(f32x4.sub(v128.load(xr + <usize>i * 4), mv)));
    let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
    for (; i < D; i++) s += exp1(load<f32>(xr + <usize>i * 4) - m);
    const shift = m + Mathf.log(s);
    const sv = f32x4.splat(shift);
    i = 0;
    for (; i + 4 <= D; i += 4) v128.store(yr + <usize>i * 4, f32x4.sub(v128.load(xr + <usize>i * 4), sv));
    for (; i < D; i++) store<f32>(yr + <usize>i * 4, load<f32>(xr + <usize>i * 4) - shift);
  }
}
