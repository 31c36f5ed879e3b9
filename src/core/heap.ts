// The allocator of the shared wasm memory: first-fit over a sorted free list, blocks aligned to
// 64 bytes (a cache line, and enough for any SIMD load), coalescing on free, growing the memory
// when nothing fits. Training allocates the same sizes in the same order every step, so the
// free list settles and memory stays flat.
import { PAGE_BYTES, MAX_PAGES, RESERVED_BYTES } from './wasm.js';

const ALIGN = 64;

export class Heap {
  /** Free blocks as parallel sorted arrays of offsets and sizes. */
  private freeOff: number[] = [];
  private freeSize: number[] = [];
  private readonly used = new Map<number, number>();
  private top: number;
  private inUse = 0;
  private peak = 0;

  constructor(private readonly memory: WebAssembly.Memory) {
    this.top = RESERVED_BYTES;
    const end = memory.buffer.byteLength;
    this.freeOff.push(this.top);
    this.freeSize.push(end - this.top);
    this.top = end;
  }

  /** Bytes handed out and not yet freed, and the most that ever were. */
  stats(): { inUse: number; peak: number; memoryBytes: number } {
    return { inUse: this.inUse, peak: this.peak, memoryBytes: this.memory.buffer.byteLength };
  }

  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.freeOff.length; i++) {
      if (this.freeSize[i] >= size) {
        const off = this.freeOff[i];
        if (this.freeSize[i] === size) {
          this.freeOff.splice(i, 1);
          this.freeSize.splice(i, 1);
        } else {
          this.freeOff[i] += size;
          this.freeSize[i] -= size;
        }
        return this.take(off, size);
      }
    }
    // Nothing fits: grow, merging with a free block that ends at the old top.
    const last = this.freeOff.length - 1;
    const tailFree = last >= 0 && this.freeOff[last] + this.freeSize[last] === this.top ? this.freeSize[last] : 0;
    const need = size - tailFree;
    const pages = Math.ceil(need / PAGE_BYTES);
    const current = this.memory.buffer.byteLength / PAGE_BYTES;
    if (current + pages > MAX_PAGES) {
      throw new Error(`out of memory: ${bytes} more bytes would pass the 4 GiB limit of wasm32 (in use ${this.inUse})`);
    }
    this.memory.grow(pages);
    const newTop = this.memory.buffer.byteLength;
    if (tailFree > 0) {
      this.freeSize[last] += newTop - this.top;
    } else {
      this.freeOff.push(this.top);
      this.freeSize.push(newTop - this.top);
    }
    this.top = newTop;
    return this.alloc(bytes);
  }

  private take(off: number, size: number): number {
    this.used.set(off, size);
    this.inUse += size;
    if (this.inUse > this.peak) this.peak = this.inUse;
    return off;
  }

  free(off: number): void {
    const size = this.used.get(off);
    if (size === undefined) throw new Error(`free of unallocated offset ${off}`);
    this.used.delete(off);
    this.inUse -= size;
    // Binary search for the insertion point, then merge with neighbours.
    let lo = 0, hi = this.freeOff.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.freeOff[mid] < off) lo = mid + 1;
      else hi = mid;
    }
    const prevEnd = lo > 0 ? this.freeOff[lo - 1] + this.freeSize[lo - 1] : -1;
    const nextOff = lo < this.freeOff.length ? this.freeOff[lo] : -1;
    if (prevEnd === off && nextOff === off + size) {
      this.freeSize[lo - 1] += size + this.freeSize[lo];
      this.freeOff.splice(lo, 1);
      this.freeSize.splice(lo, 1);
    } else if (prevEnd === off) {
      this.freeSize[lo - 1] += size;
    } else if (nextOff === off + size) {
      this.freeOff[lo] = off;
      this.freeSize[lo] += size;
    } else {
      this.freeOff.splice(lo, 0, off);
      this.freeSize.splice(lo, 0, size);
    }
  }
}
