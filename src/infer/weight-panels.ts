// Float weight matrices packed once for batched decoding. A GEMM multiplies by B packed into the
// backend's column panels; packing a weight matrix afresh for every pass of a few rows costs
// about as much as the product itself, so a batch packs each weight the first time it meets it
// and keeps the panels until the engine is disposed. One row stays a matrix-vector product on
// the weights as stored (no panels are made for single-sequence decoding).
import { gemmPacked, gemmPackedFloats, matvec, packGemmB } from '../core/kernels.js';
import { Tensor } from '../core/tensor.js';

export class WeightPanels {
  /** Panels of each weight, by the byte offset of its row-major (N x K) matrix. */
  private readonly panels = new Map<number, { N: number; K: number; packed: Tensor }>();

  /**
   * y (+)= x . W^T for `rows` rows: W (N x K) row-major at `w`, x rows of K floats `ldx` apart,
   * y rows of N floats `ldy` apart.
   */
  product(rows: number, N: number, K: number, w: number, x: number, ldx: number, y: number, ldy: number, accumulate: boolean): void {
    if (rows === 1) {
      matvec(N, K, w, K, x, y, accumulate);
      return;
    }
    gemmPacked(rows, N, K, x, ldx, 1, this.packedOf(w, N, K), y, ldy, accumulate);
  }

  /** Free every panel. */
  dispose(): void {
    for (const p of this.panels.values()) p.packed.dispose();
    this.panels.clear();
  }

  private packedOf(w: number, N: number, K: number): number {
    let p = this.panels.get(w);
    if (p === undefined) {
      const packed = Tensor.empty([gemmPackedFloats(N, K)]);
      packGemmB(K, N, w, 1, K, packed.ptr); // B = W^T: B(k, j) = W[j][k]
      p = { N, K, packed: packed.keep() };
      this.panels.set(w, p);
    }
    if (p.N !== N || p.K !== K) throw new Error(`WeightPanels: the weight at ${w} was packed as ${p.N}x${p.K}, now used as ${N}x${K}`);
    return p.packed.ptr;
  }
}
