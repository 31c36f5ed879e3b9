// Tensor: a view into the shared wasm memory (byte offset, shape, dtype). TypeScript code never
// loops over elements of a tensor; it hands pointers and shapes to kernels.
//
// Lifetime: tensors created inside `scope(fn)` are freed when fn returns (unless kept or
// returned), so a training step allocates and frees the same blocks each time. Parameters are
// created outside any scope and live until disposed.
import { rt } from './runtime.js';

export type DType = 'f32' | 'i32' | 'i16' | 'u8';
const BYTES: Record<DType, number> = { f32: 4, i32: 4, i16: 2, u8: 1 };

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

const scopes: Tensor[][] = [];

export class Tensor {
  readonly ptr: number;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  /** The tensor whose memory this one views, or null if it owns its block. */
  readonly base: Tensor | null;
  /** Gradient buffer (same shape), created by the first backward op that reaches this tensor. */
  grad: Tensor | null = null;
  /** False until something wrote `grad` this step: the first writer overwrites, later ones add. */
  gradValid = false;
  /** Whether gradients flow into this tensor (parameters, and results of ops on them). */
  requiresGrad = false;
  /** A trainable parameter: its grad lives as long as it does. */
  isParam = false;
  /** Optional name (parameters: their path in the model). */
  name = '';
  private disposed = false;

  private constructor(ptr: number, shape: readonly number[], dtype: DType, base: Tensor | null) {
    this.ptr = ptr;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = numel(shape);
    this.base = base;
    if (scopes.length > 0) scopes[scopes.length - 1].push(this);
  }

  /** Uninitialised tensor (kernels that fill it overwrite every element). */
  static empty(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape.join(', ')}]`);
    }
    const ptr = rt().heap.alloc(Math.max(1, numel(shape)) * BYTES[dtype]);
    return new Tensor(ptr, shape, dtype, null);
  }

  static zeros(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const t = Tensor.empty(shape, dtype);
    t.bytes().fill(0);
    return t;
  }

  static from(data: ArrayLike<number>, shape: readonly number[] = [data.length], dtype: DType = 'f32'): Tensor {
    if (numel(shape) !== data.length) throw new Error(`${data.length} values do not fill shape [${shape.join(', ')}]`);
    const t = Tensor.empty(shape, dtype);
    t.typed().set(data);
    return t;
  }

  get bytesPerElement(): number {
    return BYTES[this.dtype];
  }

  /** A view of the same memory with another shape (same number of elements). */
  reshape(shape: readonly number[]): Tensor {
    const s = [...shape];
    const neg = s.indexOf(-1);
    if (neg >= 0) s[neg] = this.size / numel(s.filter((_, i) => i !== neg));
    if (numel(s) !== this.size) throw new Error(`cannot reshape [${this.shape.join(', ')}] to [${shape.join(', ')}]`);
    const v = new Tensor(this.ptr, s, this.dtype, this.base ?? this);
    v.requiresGrad = this.requiresGrad;
    return v;
  }

  /** A view of `count` consecutive rows (along the first axis) starting at `start`. */
  rows(start: number, count: number): Tensor {
    const rowSize = this.size / this.shape[0];
    if (start < 0 || start + count > this.shape[0]) throw new Error(`rows ${start}..${start + count} out of range ${this.shape[0]}`);
    return new Tensor(this.ptr + start * rowSize * BYTES[this.dtype], [count, ...this.shape.slice(1)], this.dtype, this.base ?? this);
  }

  /** Element view (valid until the memory grows: take it, use it, drop it). */
  typed(): Float32Array | Int32Array | Int16Array | Uint8Array {
    const buf = rt().memory.buffer;
    switch (this.dtype) {
      case 'f32': return new Float32Array(buf, this.ptr, this.size);
      case 'i32': return new Int32Array(buf, this.ptr, this.size);
      case 'i16': return new Int16Array(buf, this.ptr, this.size);
      default: return new Uint8Array(buf, this.ptr, this.size);
    }
  }

  f32(): Float32Array {
    if (this.dtype !== 'f32') throw new Error(`tensor is ${this.dtype}, not f32`);
    return new Float32Array(rt().memory.buffer, this.ptr, this.size);
  }

  bytes(): Uint8Array {
    return new Uint8Array(rt().memory.buffer, this.ptr, this.size * BYTES[this.dtype]);
  }

  /** A copy of the values as a plain array (tests, logging). */
  toArray(): number[] {
    return Array.from(this.typed());
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item() of a tensor with ${this.size} elements`);
    return this.typed()[0];
  }

  /** Free the memory now (views free nothing; their base does). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.base === null) rt().heap.free(this.ptr);
    if (this.grad && !this.isParam) this.grad.dispose();
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Take this tensor out of the current scope so that it outlives it. */
  keep(): this {
    for (let i = scopes.length - 1; i >= 0; i--) {
      const idx = scopes[i].lastIndexOf(this);
      if (idx >= 0) {
        scopes[i].splice(idx, 1);
        break;
      }
    }
    return this;
  }
}

/**
 * Run fn; free every tensor created inside except those in its result (a tensor, or an array
 * or object of tensors). Nested scopes hand kept results to the enclosing scope.
 */
export function scope<T>(fn: () => T): T {
  scopes.push([]);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    const created = scopes.pop()!;
    for (const t of created) t.dispose();
    throw err;
  }
  const created = scopes.pop()!;
  const keep = new Set<Tensor>();
  collectTensors(result, keep);
  for (const t of created) {
    if (keep.has(t)) {
      if (scopes.length > 0) scopes[scopes.length - 1].push(t);
    } else if (!t.isParam) {
      t.dispose();
    }
  }
  return result;
}

function collectTensors(v: unknown, out: Set<Tensor>): void {
  if (v instanceof Tensor) {
    out.add(v);
    if (v.base) out.add(v.base);
  } else if (Array.isArray(v)) {
    for (const x of v) collectTensors(x, out);
  } else if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) collectTensors(x, out);
  }
}
