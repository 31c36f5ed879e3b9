// Kernels of causal prefix sums over time: y_t = sum_{s <= t} x_s (forward) and its backward,
// the reverse prefix sum dx_t = sum_{s >= t} dy_s, for x, y of shape (B, T, C).
//
// Work is split over B * ceil(C / CB) tasks (task = one batch row and a block of CB channels), so
// the pool has several tasks even at B = 1. Within a task the time loop runs here, with the
// running sums held in f32x4 registers (SIMD over channels; a scalar tail for C % 4). Sums are
// accumulated in f32: the error grows about linearly with T (relative ~T * 2^-24 in the worst case).

/** Channels per task (src/core/kernels-cumsum.ts uses the same): four f32x4 accumulators, 64 bytes a step. */
const CUMSUM_BLOCK: i32 = 16;

/**
 * y (+)= the running sums of x along T over `width` channels, forward (t = 0..T-1) or reversed
 * (t = T-1..0); x and y point at time 0 of the first channel, rows rowBytes apart.
 */
// @ts-ignore: decorator
@inline function scanBlock(x: usize, y: usize, T: i32, rowBytes: usize, width: i32, reverse: bool, accumulate: bool): void {
  const first = reverse ? T - 1 : 0;
  const step: isize = reverse ? -(<isize>rowBytes) : <isize>rowBytes;
  let c = 0;
  if (width == CUMSUM_BLOCK) {
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let xp = x + <usize>first * rowBytes, yp = y + <usize>first * rowBytes;
    for (let t = 0; t < T; t++) {
      s0 = f32x4.add(s0, v128.load(xp)); s1 = f32x4.add(s1, v128.load(xp, 16));
      s2 = f32x4.add(s2, v128.load(xp, 32)); s3 = f32x4.add(s3, v128.load(xp, 48));
      if (accumulate) {
        v128.store(yp, f32x4.add(s0, v128.load(yp))); v128.store(yp, f32x4.add(s1, v128.load(yp, 16)), 16);
        v128.store(yp, f32x4.add(s2, v128.load(yp, 32)), 32); v128.store(yp, f32x4.add(s3, v128.load(yp, 48)), 48);
      } else {
        v128.store(yp, s0); v128.store(yp, s1, 16); v128.store(yp, s2, 32); v128.store(yp, s3, 48);
      }
      xp += step;
      yp += step;
    }
    return;
  }
  for (; c + 4 <= width; c += 4) {
    let s = f32x4.splat(0);
    let xp = x + <usize>first * rowBytes + <usize>c * 4, yp = y + <usize>first * rowBytes + <usize>c * 4;
    for (let t = 0; t < T; t++) {
      s = f32x4.add(s, v128.load(xp));
      v128.store(yp, accumulate ? f32x4.add(s, v128.load(yp)) : s);
      xp += step;
      yp += step;
    }
  }
  for (; c < width; c++) {
    let s: f32 = 0;
    let xp = x + <usize>first * rowBytes + <usize>c * 4, yp = y + <usize>first * rowBytes + <usize>c * 4;
    for (let t = 0; t < T; t++) {
      s += load<f32>(xp);
      store<f32>(yp, accumulate ? s + load<f32>(yp) : s);
      xp += step;
      yp += step;
    }
  }
}

/** Tasks start..end of B * ceil(C / CUMSUM_BLOCK): (batch row, channel block) pairs. */
// @ts-ignore: decorator
@inline function scanTasks(x: usize, y: usize, T: i32, C: i32, reverse: bool, accumulate: bool, start: i32, end: i32): void {
  const blocks = (C + CUMSUM_BLOCK - 1) / CUMSUM_BLOCK;
  const rowBytes = <usize>C * 4;
  for (let task = start; task < end; task++) {
    const b = task / blocks, c0 = (task % blocks) * CUMSUM_BLOCK;
    const width = min(CUMSUM_BLOCK, C - c0);
    const offset = <usize>b * <usize>T * rowBytes + <usize>c0 * 4;
    scanBlock(x + offset, y + offset, T, rowBytes, width, reverse, accumulate);
  }
}

/** y (B, T, C) (+)= the prefix sums of x (B, T, C) along T: y_t = sum_{s <= t} x_s. */
export function cumsum_forward(x: usize, y: usize, T: i32, C: i32, accumulate: i32, start: i32, end: i32): void {
  scanTasks(x, y, T, C, false, accumulate != 0, start, end);
}

/** dx (B, T, C) (+)= the reverse prefix sums of dy along T: dx_t = sum_{s >= t} dy_s (cumsum's backward). */
export function cumsum_backward(dy: usize, dx: usize, T: i32, C: i32, accumulate: i32, start: i32, end: i32): void {
  scanTasks(dy, dx, T, C, true, accumulate != 0, start, end);
}
