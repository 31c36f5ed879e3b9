import { dot } from './simd';

// RMSNorm and LayerNorm over the last axis (rows x D), forward and backward. Weight and bias
// pointers may be 0 for "none". Weight/bias gradients go into per-thread partial rows
// (partials + tid * D floats, zeroed by the caller) that sum_partials then adds up.


/** y = x * rstd * w, rstd[r] = 1 / sqrt(mean(x^2) + eps). */
export function rmsnorm_forward(x: usize, w: usize, y: usize, rstd: usize, D: i32, eps: f32, start: i32, end: i32): void {
  for (let r = start; r < end; r++) {
    const xr = x + <usize>r * <usize>D * 4;
    const yr = y + <usize>r * <usize>D * 4;
    const rs: f32 = 1 / Mathf.sqrt(dot(xr, xr, D) / <f32>D + eps);
    store<f32>(rstd + <usize>r * 4, rs);
    const s = f32x4.splat(rs);
    let i = 0;
    for (; i + 4 <= D; i += 4) {
      let v = f32x4.mul(v128.load(xr + <usize>i * 4), s);
      if (w != 0) v = f32x4.mul(v, v128.load(w + <usize>i * 4));
      v128.store(yr + <usize>i * 4, v);
    }
    for (; i < D; i++) {
      let v = load<f32>(xr + <usize>i * 4) * rs;
      if (w != 0) v *= load<f32>(w + <usize>i * 4);
      store<f32>(yr + <usize>i * 4, v);
    }
  }
}

/** dx (+)= rstd * g - rstd^3 * x * (g . x) / D with g = dy * w; dw partial += dy * x * rstd. */
export function rmsnorm_backward(
  x: usize, w: usize, rstd: usize, dy: usize, dx: usize, dwPartials: usize, D: i32, accumulate: i32,
  start: i32, end: i32, tid: i32,
): void {
  const dwp = dwPartials + <usize>tid * <usize>D * 4;
  for (let r = start; r < end; r++) {
    const off = <usize>r * <usize>D * 4;
    const xr = x + off, dyr = dy + off, dxr = dx + off;
    const rs = load<f32>(rstd + <usize>r * 4);
    let gx: f32 = 0;
    for (let i = 0; i < D; i++) {
      let g = load<f32>(dyr + <usize>i * 4);
      if (w != 0) g *= load<f32>(w + <usize>i * 4);
      gx += g * load<f32>(xr + <usize>i * 4);
    }
    const c = rs * rs * rs * gx / <f32>D;
    const rsv = f32x4.splat(rs), cv = f32x4.splat(c);
    let i = 0;
    for (; i + 4 <= D; i += 4) {
      const p = <usize>i * 4;
      const xv = v128.load(xr + p);
      const dyv = v128.load(dyr + p);
      let g = dyv;
      if (w != 0) {
        g = f32x4.mul(g, v128.load(w + p));
        if (dwPartials != 0) v128.store(dwp + p, f32x4.add(v128.load(dwp + p), f32x4.mul(dyv, f32x4.mul(xv, rsv))));
      }
      let v = f32x4.sub(f32x4.mul(rsv, g), f32x4.mul(cv, xv));
      if (accumulate != 0) v = f32x4.add(v, v128.load(dxr + p));
      v128.store(dxr + p, v);
    }
    for (; i < D; i++) {
      const p = <usize>i * 4;
      const xv = load<f32>(xr + p);
      const dyv = load<f32>(dyr + p);
      let g = dyv;
      if (w != 0) {
        g *= load<f32>(w + p);
        if (dwPartials != 0) store<f32>(dwp + p, load<f32>(dwp + p) + dyv * xv * rs);
      }
      let v = rs * g - c * xv;
      if (accumulate != 0) v += load<f32>(dxr + p);
      store<f32>(dxr + p, v);
    }
  }
}

/** y = (x - mean) * rstd * w + b; mean and rstd saved per row. */
export function layernorm_forward(x: usize, w: usize, b: usize, y: usize, mean: usize, rstd: usize, D: i32, eps: f32, start: i32, end: i32): void {
  for (let r = start; r < end; r++) {
    const xr = x + <usize>r * <usize>D * 4;
    const yr = y + <usize>r * <usize>D * 4;
    let s: f32 = 0;
    for (let i = 0; i < D; i++) s += load<f32>(xr + <usize>i * 4);
    const mu = s / <f32>D;
    let v: f32 = 0;
    for (let i = 0; i < D; i++) {
      const d = load<f32>(xr + <usize>i * 4) - mu;
      v += d * d;
    }
    const rs: f32 = 1 / Mathf.sqrt(v / <f32>D + eps);
    store<f32>(mean + <usize>r * 4, mu);
    store<f32>(rstd + <usize>r * 4, rs);
    for (let i = 0; i < D; i++) {
      let o = (load<f32>(xr + <usize>i * 4) - mu) * rs;
      if (w != 0) o *= load<f32>(w + <usize>i * 4);
      if (b != 0) o += load<f32>(b + <usize>i * 4);
      store<f32>(yr + <usize>i * 4, o);
    }
  }
}

/**
 * dx (+)= rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w, xhat = (x - mean) * rstd;
 * partials + tid*2D: dw partial (first D) += dy * xhat, db partial (next D) += dy.
 */
export function layernorm_backward(
  x: usize, w: usize, mean: usize, rstd: usize, dy: usize, dx: usize, partials: usize, D: i32, accumulate: i32,
  start: i32, end: i32, tid: i32,
): void {
  const dwp = partials + <usize>tid * <usize>D * 8;
  const dbp = dwp + <usize>D * 4;
  for (let r = start; r < end; r++) {
    const off = <usize>r * <usize>D * 4;
    const xr = x + off, dyr = dy + off, dxr = dx + off;
    const mu = load<f32>(mean + <usize>r * 4);
    const rs = load<f32>(rstd + <usize>r * 4);
    let sg: f32 = 0, sgx: f32 = 0;
    for (let i = 0; i < D; i++) {
      const p = <usize>i * 4;
      const xh = (load<f32>(xr + p) - mu) * rs;
      const dyv = load<f32>(dyr + p);
      let g = dyv;
      if (w != 0) g *= load<f32>(w + p);
      sg += g;
      sgx += g * xh;
      if (partials != 0) {
        store<f32>(dwp + p, load<f32>(dwp + p) + dyv * xh);
        store<f32>(dbp + p, load<f32>(dbp + p) + dyv);
      }
    }
    const mg = sg / <f32>D, mgx = sgx / <f32>D;
    for (let i = 0; i < D; i++) {
      const p = <usize>i * 4;
      const xh = (load<f32>(xr + p) - mu) * rs;
      let g = load<f32>(dyr + p);
      if (w != 0) g *= load<f32>(w + p);
      let v = rs * (g - mg - xh * mgx);
      if (accumulate != 0) v += load<f32>(dxr + p);
      store<f32>(dxr + p, v);
    }
  }
}
