// Embedding lookup: out[r, :] = table[ids[r], :] (ids i32, table V x D).

export function embedding_forward(table: usize, ids: usize, out: usize, D: i32, start: i32, end: i32): void {
  const rowBytes = <usize>D * 4;
  for (let r = start; r < end; r++) {
    const src = table + <usize>load<i32>(ids + <usize>r * 4) * rowBytes;
    memory.copy(out + <usize>r * rowBytes, src, rowBytes);
  }
}

/**
 * dtable[ids[r], c] += dout[r, c] for all rows r and the columns [start, end): threads split
 * columns, not rows, so two threads never add into the same row of a repeated id.
 */
export function embedding_backward(dout: usize, ids: usize, dtable: usize, rows: i32, D: i32, start: i32, end: i32): void {
  const rowBytes = <usize>D * 4;
  for (let r = 0; r < rows; r++) {
    const dst = dtable + <usize>load<i32>(ids + <usize>r * 4) * rowBytes;
    const src = dout + <usize>r * rowBytes;
    let c = start;
    for (; c + 4 <= end; c += 4) {
      const p = <usize>c * 4;
      v128.store(dst + p, f32x4.add(v128.load(dst + p), v128.load(src + p)));
    }
    for (; c < end; c++) {
      const p = <usize>c * 4;
      store<f32>(dst + p, load<f32>(dst + p) + load<f32>(src + p));
    }
  }
}
