// Causal depthwise dilated 1-D convolution, channels last.
// x, y: (B*T) x C rows, row r is time t = r % T of its sequence; w: Kw x C (tap-major); bias: C or 0.
// y[r, c] = bias[c] + sum_i w[i, c] * x[r - (Kw-1-i)*dil, c], taps before t = 0 read zeros.

export function conv1d_forward(x: usize, w: usize, bias: usize, y: usize, T: i32, C: i32, Kw: i32, dil: i32, start: i32, end: i32): void {
  const rowBytes = <usize>C * 4;
  for (let r = start; r < end; r++) {
    const t = r % T;
    const yr = y + <usize>r * rowBytes;
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const p = <usize>c * 4;
      let acc = bias != 0 ? v128.load(bias + p) : f32x4.splat(0);
      for (let i = 0; i < Kw; i++) {
        const back = (Kw - 1 - i) * dil;
        if (back > t) continue;
        acc = f32x4.add(acc, f32x4.mul(v128.load(w + <usize>i * rowBytes + p), v128.load(x + <usize>(r - back) * rowBytes + p)));
      }
      v128.store(yr + p, acc);
    }
    for (; c < C; c++) {
      const p = <usize>c * 4;
      let acc: f32 = bias != 0 ? load<f32>(bias + p) : 0;
      for (let i = 0; i < Kw; i++) {
        const back = (Kw - 1 - i) * dil;
        if (back > t) continue;
        acc += load<f32>(w + <usize>i * rowBytes + p) * load<f32>(x + <usize>(r - back) * rowBytes + p);
      }
      store<f32>(yr + p, acc);
    }
  }
}

/**
 * dx[r, c] (+)= sum_i w[i, c] * dy[r + (Kw-1-i)*dil, c] within the sequence; and, for the same
 * rows, the weight-gradient partial (wPartials + tid * Kw*C) += dy[r + back] * x[r] per tap.
 */
export function conv1d_backward(
  x: usize, w: usize, dy: usize, dx: usize, wPartials: usize, T: i32, C: i32, Kw: i32, dil: i32, accumulate: i32,
  start: i32, end: i32, tid: i32,
): void {
  const rowBytes = <usize>C * 4;
  const dwp = wPartials + <usize>tid * <usize>Kw * rowBytes;
  for (let r = start; r < end; r++) {
    const t = r % T;
    const xr = x + <usize>r * rowBytes;
    const dxr = dx + <usize>r * rowBytes;
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const p = <usize>c * 4;
      const xv = v128.load(xr + p);
      let acc = accumulate != 0 ? v128.load(dxr + p) : f32x4.splat(0);
      for (let i = 0; i < Kw; i++) {
        const fwd = (Kw - 1 - i) * dil;
        if (t + fwd >= T) continue;
        const g = v128.load(dy + <usize>(r + fwd) * rowBytes + p);
        acc = f32x4.add(acc, f32x4.mul(v128.load(w + <usize>i * rowBytes + p), g));
        if (wPartials != 0) {
          const d = dwp + <usize>i * rowBytes + p;
          v128.store(d, f32x4.add(v128.load(d), f32x4.mul(g, xv)));
        }
      }
      v128.store(dxr + p, acc);
    }
    for (; c < C; c++) {
      const p = <usize>c * 4;
      const xv = load<f32>(xr + p);
      let acc: f32 = accumulate != 0 ? load<f32>(dxr + p) : 0;
      for (let i = 0; i < Kw; i++) {
        const fwd = (Kw - 1 - i) * dil;
        if (t + fwd >= T) continue;
        const g = load<f32>(dy + <usize>(r + fwd) * rowBytes + p);
        acc += load<f32>(w + <usize>i * rowBytes + p) * g;
        if (wPartials != 0) {
          const d = dwp + <usize>i * rowBytes + p;
          store<f32>(d, load<f32>(d) + g * xv);
        }
      }
      store<f32>(dxr + p, acc);
    }
  }
}
