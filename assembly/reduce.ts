// Reductions. Whole-array reductions write one partial per thread (partials[tid], f64) that the
// caller adds up, so threads never write the same address.

export const SUM: i32 = 0;
export const SUMSQ: i32 = 1;
export const SUMABS: i32 = 2;
export const MAXABS: i32 = 3;

/** partials[tid] = op over x[start, end), accumulated in f32 lanes per 1024 and in f64 across. */
export function reduce_f32(op: i32, x: usize, partials: usize, start: i32, end: i32, tid: i32): void {
  let total: f64 = 0;
  let i = start;
  while (i < end) {
    const blockEnd = min(end, i + 1024);
    let acc = f32x4.splat(0);
    for (; i + 4 <= blockEnd; i += 4) {
      const v = v128.load(x + <usize>i * 4);
      if (op == SUM) acc = f32x4.add(acc, v);
      else if (op == SUMSQ) acc = f32x4.add(acc, f32x4.mul(v, v));
      else if (op == SUMABS) acc = f32x4.add(acc, f32x4.abs(v));
      else acc = f32x4.max(acc, f32x4.abs(v));
    }
    let s: f32 = 0;
    if (op == MAXABS) {
      s = max(max(f32x4.extract_lane(acc, 0), f32x4.extract_lane(acc, 1)), max(f32x4.extract_lane(acc, 2), f32x4.extract_lane(acc, 3)));
    } else {
      s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
    }
    for (; i < blockEnd; i++) {
      const v = load<f32>(x + <usize>i * 4);
      if (op == SUM) s += v;
      else if (op == SUMSQ) s += v * v;
      else if (op == SUMABS) s += Mathf.abs(v);
      else s = max(s, Mathf.abs(v));
    }
    if (op == MAXABS) total = max(total, <f64>s);
    else total += <f64>s;
  }
  store<f64>(partials + <usize>tid * 8, total);
}

/** out[c] (+)= sum over rows of x[r, c] * s, for columns [start, end) of x (rows x cols). */
export function col_sum(x: usize, rows: i32, cols: i32, s: f32, out: usize, accumulate: i32, start: i32, end: i32): void {
  const sv = f32x4.splat(s);
  let c = start;
  for (; c + 4 <= end; c += 4) {
    let acc = f32x4.splat(0);
    let p = x + <usize>c * 4;
    const step = <usize>cols * 4;
    for (let r = 0; r < rows; r++) {
      acc = f32x4.add(acc, v128.load(p));
      p += step;
    }
    acc = f32x4.mul(acc, sv);
    const d = out + <usize>c * 4;
    if (accumulate != 0) acc = f32x4.add(acc, v128.load(d));
    v128.store(d, acc);
  }
  for (; c < end; c++) {
    let acc: f32 = 0;
    for (let r = 0; r < rows; r++) acc += load<f32>(x + (<usize>r * <usize>cols + <usize>c) * 4);
    acc *= s;
    const d = out + <usize>c * 4;
    if (accumulate != 0) acc += load<f32>(d);
    store<f32>(d, acc);
  }
}

/** out[r] (+)= s * sum over columns of x[r, c], for rows [start, end). */
export function row_sum(x: usize, cols: i32, s: f32, out: usize, accumulate: i32, start: i32, end: i32): void {
  for (let r = start; r < end; r++) {
    const row = x + <usize>r * <usize>cols * 4;
    let acc = f32x4.splat(0);
    let c = 0;
    for (; c + 4 <= cols; c += 4) acc = f32x4.add(acc, v128.load(row + <usize>c * 4));
    let t = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
    for (; c < cols; c++) t += load<f32>(row + <usize>c * 4);
    t *= s;
    const d = out + <usize>r * 4;
    if (accumulate != 0) t += load<f32>(d);
    store<f32>(d, t);
  }
}

/** out[i] (+)= sum over t < threads of partials[t * n + i], for i in [start, end). */
export function sum_partials(partials: usize, threads: i32, n: i32, out: usize, accumulate: i32, start: i32, end: i32): void {
  for (let i = start; i < end; i++) {
    let s: f32 = accumulate != 0 ? load<f32>(out + <usize>i * 4) : 0;
    for (let t = 0; t < threads; t++) s += load<f32>(partials + (<usize>t * <usize>n + <usize>i) * 4);
    store<f32>(out + <usize>i * 4, s);
  }
}
