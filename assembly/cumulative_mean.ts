// Kernels of the weighted running mean over time (CPUFlow's token mixer):
//   m_t = (sum_{s <= t} w_s * v_s) / (sum_{s <= t} w_s + eps)
// elementwise over the channels of w, v (B, T, C). The time loop runs here; the work is split over
// B * ceil(C / CB) tasks, task = (batch b, block of CB channels), so that several threads work
// even at B = 1. Within a task each group of 4 channels keeps its running sums in f32x4 registers
// (a scalar loop for the last C % 4). Sums accumulate in f32, as cumsum's do.
//
// Backward, with g = dL/dm and D_t = sum_{s <= t} w_s + eps (kept by the forward pass):
//   A_s = sum_{t >= s} g_t / D_t,  M_s = sum_{t >= s} g_t * m_t / D_t
//   dv_s = w_s * A_s,  dw_s = v_s * A_s - M_s

/** Channels per task (src/core/kernels-cumulative-mean.ts uses the same). */
const CB = 16;

/**
 * m, den (B, T, C) = the weighted running mean of v with weights w and its denominator
 * sum w + eps, for tasks [start, end) of (batch, channel block) pairs.
 */
export function cumulative_mean_forward(w: usize, v: usize, m: usize, den: usize, T: i32, C: i32, eps: f32, start: i32, end: i32): void {
  const nb = (C + CB - 1) / CB;
  const ld = <usize>C * 4;
  const epsv = f32x4.splat(eps);
  for (let task = start; task < end; task++) {
    const b = task / nb, c0 = (task % nb) * CB, c1 = min(c0 + CB, C);
    const base = <usize>b * <usize>T * ld;
    let c = c0;
    for (; c + 4 <= c1; c += 4) {
      let at = base + <usize>c * 4;
      let num = f32x4.splat(0), sw = f32x4.splat(0);
      for (let t = 0; t < T; t++) {
        const wv = v128.load(w + at);
        num = f32x4.add(num, f32x4.mul(wv, v128.load(v + at)));
        sw = f32x4.add(sw, wv);
        const d = f32x4.add(sw, epsv);
        v128.store(m + at, f32x4.div(num, d));
        v128.store(den + at, d);
        at += ld;
      }
    }
    for (; c < c1; c++) {
      let at = base + <usize>c * 4;
      let num: f32 = 0, sw: f32 = 0;
      for (let t = 0; t < T; t++) {
        const wv = load<f32>(w + at);
        num += wv * load<f32>(v + at);
        sw += wv;
        const d = sw + eps;
        store<f32>(m + at, num / d);
        store<f32>(den + at, d);
        at += ld;
      }
    }
  }
}

/**
 * dw, dv (+)= the gradients of cumulative_mean_forward given w, v, its outputs m and den and the
 * gradient g of m (all (B, T, C)). A zero dw or dv skips that gradient; flags bit 0 accumulates
 * into dw, bit 1 into dv. dw is written before dv at each element, so they may share a buffer
 * (dv accumulating).
 */
export function cumulative_mean_backward(
  w: usize, v: usize, m: usize, den: usize, g: usize, dw: usize, dv: usize, T: i32, C: i32, flags: i32, start: i32, end: i32,
): void {
  const nb = (C + CB - 1) / CB;
  const ld = <usize>C * 4;
  const accDw = (flags & 1) != 0, accDv = (flags & 2) != 0;
  for (let task = start; task < end; task++) {
    const b = task / nb, c0 = (task % nb) * CB, c1 = min(c0 + CB, C);
    const base = <usize>b * <usize>T * ld;
    let c = c0;
    for (; c + 4 <= c1; c += 4) {
      let at = base + <usize>(T - 1) * ld + <usize>c * 4;
      let a = f32x4.splat(0), am = f32x4.splat(0);
      for (let t = T - 1; t >= 0; t--) {
        const gd = f32x4.div(v128.load(g + at), v128.load(den + at));
        a = f32x4.add(a, gd);
        am = f32x4.add(am, f32x4.mul(gd, v128.load(m + at)));
        if (dw != 0) {
          let x = f32x4.sub(f32x4.mul(v128.load(v + at), a), am);
          if (accDw) x = f32x4.add(x, v128.load(dw + at));
          v128.store(dw + at, x);
        }
        if (dv != 0) {
          let x = f32x4.mul(v128.load(w + at), a);
          if (accDv) x = f32x4.add(x, v128.load(dv + at));
          v128.store(dv + at, x);
        }
        at -= ld;
      }
    }
    for (; c < c1; c++) {
      let at = base + <usize>(T - 1) * ld + <usize>c * 4;
      let a: f32 = 0, am: f32 = 0;
      for (let t = T - 1; t >= 0; t--) {
        const gd = load<f32>(g + at) / load<f32>(den + at);
        a += gd;
        am += gd * load<f32>(m + at);
        if (dw != 0) store<f32>(dw + at, load<f32>(v + at) * a - am + (accDw ? load<f32>(dw + at) : 0));
        if (dv != 0) store<f32>(dv + at, load<f32>(w + at) * a + (accDv ? load<f32>(dv + at) : 0));
        at -= ld;
      }
    }
  }
}
