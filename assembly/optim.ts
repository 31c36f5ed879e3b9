// Optimizer updates over [start, end) of a flat parameter.

/**
 * AdamW with decoupled weight decay:
 * m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr * (m/bc1 / (sqrt(v/bc2) + eps) + wd * p),
 * where bc1 = 1 - b1^t and bc2 = 1 - b2^t are the bias corrections of step t.
 */
export function adamw_update(
  p: usize, g: usize, m: usize, v: usize, lr: f32, b1: f32, b2: f32, eps: f32, wd: f32, bc1: f32, bc2: f32,
  start: i32, end: i32,
): void {
  const vb1 = f32x4.splat(b1), vb1c = f32x4.splat(1 - b1);
  const vb2 = f32x4.splat(b2), vb2c = f32x4.splat(1 - b2);
  const vlr = f32x4.splat(lr), veps = f32x4.splat(eps), vwd = f32x4.splat(wd);
  const vbc1 = f32x4.splat(1 / bc1), vbc2 = f32x4.splat(1 / bc2);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i * 4;
    const gv = v128.load(g + o);
    const mv = f32x4.add(f32x4.mul(vb1, v128.load(m + o)), f32x4.mul(vb1c, gv));
    const vv = f32x4.add(f32x4.mul(vb2, v128.load(v + o)), f32x4.mul(vb2c, f32x4.mul(gv, gv)));
    v128.store(m + o, mv);
    v128.store(v + o, vv);
    const pv = v128.load(p + o);
    const step = f32x4.add(f32x4.div(f32x4.mul(mv, vbc1), f32x4.add(f32x4.sqrt(f32x4.mul(vv, vbc2)), veps)), f32x4.mul(vwd, pv));
    v128.store(p + o, f32x4.sub(pv, f32x4.mul(vlr, step)));
  }
  for (; i < end; i++) {
    const o = <usize>i * 4;
    const gv = load<f32>(g + o);
    const mv = b1 * load<f32>(m + o) + (1 - b1) * gv;
    const vv = b2 * load<f32>(v + o) + (1 - b2) * gv * gv;
    store<f32>(m + o, mv);
    store<f32>(v + o, vv);
    const pv = load<f32>(p + o);
    store<f32>(p + o, pv - lr * (mv / bc1 / (Mathf.sqrt(vv / bc2) + eps) + wd * pv));
  }
}
