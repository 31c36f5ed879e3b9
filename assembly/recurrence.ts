// Kernels of the gated linear recurrence (the MatMul-free LM's MLGRU hidden state):
//   h_t = f_t * h_{t-1} + (1 - f_t) * c_t,  h_{-1} = 0,
// elementwise over the channels of f, c, h (B, T, C). The time loop runs here; the work is split
// over B * ceil(C / CB) tasks, task = (batch b, block of CB channels), so that several threads
// work even at B = 1. A full block keeps its CB / 4 vectors of state in registers across time;
// the last block of C % CB channels goes one vector (then one channel) at a time.
import { madd } from './simd';

/** Channels per task: one 64-byte line of floats per time step, four vectors of state. */
const CB = 16;

/** Number of channel blocks of a width of C floats (the binding splits B * this many tasks). */
// @ts-ignore: decorator
@inline function blocks(C: i32): i32 {
  return (C + CB - 1) / CB;
}

/** One step of the forward recurrence on a vector: c + f * (h - c). */
// @ts-ignore: decorator
@inline function step4(f: v128, c: v128, h: v128): v128 {
  return madd(f, f32x4.sub(h, c), c);
}

/**
 * h (B, T, C) = the gated recurrence of f and c (B, T, C), for tasks [start, end) of
 * (batch, channel block) pairs, B * ceil(C / 16) tasks in all.
 */
export function recurrence_forward(f: usize, c: usize, h: usize, T: i32, C: i32, start: i32, end: i32): void {
  const nb = blocks(C);
  const ld = <usize>C * 4;
  for (let task = start; task < end; task++) {
    const b = task / nb, c0 = (task % nb) * CB, c1 = min(c0 + CB, C);
    const base = <usize>b * <usize>T * ld + <usize>c0 * 4;
    let fp = f + base, cp = c + base, hp = h + base;
    if (c1 - c0 == CB) {
      let h0 = f32x4.splat(0), h1 = f32x4.splat(0), h2 = f32x4.splat(0), h3 = f32x4.splat(0);
      for (let t = 0; t < T; t++) {
        h0 = step4(v128.load(fp), v128.load(cp), h0);
        h1 = step4(v128.load(fp, 16), v128.load(cp, 16), h1);
        h2 = step4(v128.load(fp, 32), v128.load(cp, 32), h2);
        h3 = step4(v128.load(fp, 48), v128.load(cp, 48), h3);
        v128.store(hp, h0); v128.store(hp, h1, 16); v128.store(hp, h2, 32); v128.store(hp, h3, 48);
        fp += ld; cp += ld; hp += ld;
      }
      continue;
    }
    let ch = c0;
    for (; ch + 4 <= c1; ch += 4) {
      const o = <usize>(ch - c0) * 4;
      let s = f32x4.splat(0);
      for (let t = 0; t < T; t++) {
        const at = <usize>t * ld + o;
        s = step4(v128.load(fp + at), v128.load(cp + at), s);
        v128.store(hp + at, s);
      }
    }
    for (; ch < c1; ch++) {
      const o = <usize>(ch - c0) * 4;
      let s: f32 = 0;
      for (let t = 0; t < T; t++) {
        const at = <usize>t * ld + o;
        const fv = load<f32>(fp + at), cv = load<f32>(cp + at);
        s = cv + fv * (s - cv);
        store<f32>(hp + at, s);
      }
    }
  }
}

/**
 * One backward step on a vector at byte offset `at` (time t): a = g_t + fNext * a, then
 * df_t (+)= a * (h_{t-1} - c_t) and dc_t (+)= (1 - f_t) * a, in that order (df and dc may be one
 * buffer). Returns a; fNext becomes f_t for the step before.
 */
// @ts-ignore: decorator
@inline function back4(
  c: usize, h: usize, g: usize, df: usize, dc: usize, at: usize, ld: usize, first: bool,
  fv: v128, fNext: v128, a: v128, accDf: bool, accDc: bool,
): v128 {
  a = madd(fNext, a, v128.load(g + at));
  if (df != 0) {
    // h_{t-1}, or 0 at t = 0 (masked, so that no load ever reads before h).
    const hPrev = v128.and(v128.load(h + at - (first ? 0 : ld)), first ? f32x4.splat(0) : i32x4.splat(-1));
    let x = f32x4.mul(a, f32x4.sub(hPrev, v128.load(c + at)));
    if (accDf) x = f32x4.add(x, v128.load(df + at));
    v128.store(df + at, x);
  }
  if (dc != 0) {
    let x = f32x4.mul(f32x4.sub(f32x4.splat(1), fv), a);
    if (accDc) x = f32x4.add(x, v128.load(dc + at));
    v128.store(dc + at, x);
  }
  return a;
}

/**
 * df, dc (+)= the gradients of recurrence_forward given its output h and the gradient g of h
 * (all (B, T, C)). A zero df or dc skips that gradient; flags bit 0 accumulates into df, bit 1
 * into dc. df is written before dc at each element, so they may share a buffer (dc accumulating).
 */
export function recurrence_backward(
  f: usize, c: usize, h: usize, g: usize, df: usize, dc: usize, T: i32, C: i32, flags: i32, start: i32, end: i32,
): void {
  const nb = blocks(C);
  const ld = <usize>C * 4;
  const accDf = (flags & 1) != 0, accDc = (flags & 2) != 0;
  for (let task = start; task < end; task++) {
    const b = task / nb, c0 = (task % nb) * CB, c1 = min(c0 + CB, C);
    const base = <usize>b * <usize>T * ld + <usize>c0 * 4;
    const fb = f + base, cb = c + base, hb = h + base, gb = g + base;
    const dfb: usize = df == 0 ? 0 : df + base, dcb: usize = dc == 0 ? 0 : dc + base;
    if (c1 - c0 == CB) {
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let n0 = f32x4.splat(0), n1 = f32x4.splat(0), n2 = f32x4.splat(0), n3 = f32x4.splat(0);
      for (let t = T - 1; t >= 0; t--) {
        const at = <usize>t * ld, first = t == 0;
        const f0 = v128.load(fb + at), f1 = v128.load(fb + at, 16), f2 = v128.load(fb + at, 32), f3 = v128.load(fb + at, 48);
        a0 = back4(cb, hb, gb, dfb, dcb, at, ld, first, f0, n0, a0, accDf, accDc);
        a1 = back4(cb, hb, gb, dfb, dcb, at + 16, ld, first, f1, n1, a1, accDf, accDc);
        a2 = back4(cb, hb, gb, dfb, dcb, at + 32, ld, first, f2, n2, a2, accDf, accDc);
        a3 = back4(cb, hb, gb, dfb, dcb, at + 48, ld, first, f3, n3, a3, accDf, accDc);
        n0 = f0; n1 = f1; n2 = f2; n3 = f3;
      }
      continue;
    }
    let ch = c0;
    for (; ch + 4 <= c1; ch += 4) {
      const o = <usize>(ch - c0) * 4;
      let a = f32x4.splat(0), n = f32x4.splat(0);
      for (let t = T - 1; t >= 0; t--) {
        const at = <usize>t * ld + o;
        const fv = v128.load(fb + at);
        a = back4(cb, hb, gb, dfb, dcb, at, ld, t == 0, fv, n, a, accDf, accDc);
        n = fv;
      }
    }
    for (; ch < c1; ch++) {
      const o = <usize>(ch - c0) * 4;
      let a: f32 = 0, n: f32 = 0;
      for (let t = T - 1; t >= 0; t--) {
        const at = <usize>t * ld + o;
        const fv = load<f32>(fb + at);
        a = load<f32>(gb + at) + n * a;
        if (dfb != 0) {
          const hLoad = load<f32>(hb + at - (t == 0 ? 0 : ld));
          const hPrev: f32 = t == 0 ? 0 : hLoad;
          let x = a * (hPrev - load<f32>(cb + at));
          if (accDf) x += load<f32>(dfb + at);
          store<f32>(dfb + at, x);
        }
        if (dcb != 0) {
          let x = (<f32>1 - fv) * a;
          if (accDc) x += load<f32>(dcb + at);
          store<f32>(dcb + at, x);
        }
        n = fv;
      }
    }
  }
}
