// Reverse-mode autograd over coarse ops. An op computes its output with kernels and, when any
// input needs a gradient, records a backward closure on the tape. `backward(loss)` runs the
// closures in reverse. A closure writes input gradients through `gradInto`, which tells it
// whether to overwrite (first writer this step) or accumulate, so nothing is zero-filled.
import { Tensor } from './tensor.js';
import * as K from './kernels.js';

interface TapeEntry {
  output: Tensor;
  backward: (gradOut: Tensor) => void;
  section: string;
}

let tape: TapeEntry[] = [];
let gradEnabled = true;

// Time accounting per named section (mixer, glu, head, ...), forward and backward together.
let currentSection = 'other';
let sectionTimes: Map<string, number> | null = null;
/** Milliseconds spent in nested sections, per open section (subtracted from the outer one). */
const childTime: number[] = [];

/** Start adding up milliseconds per section (forward in `section`, backward per recorded op). */
export function startSectionTiming(): void {
  sectionTimes = new Map();
}

/** Stop timing and return milliseconds per section. */
export function takeSectionTimes(): Map<string, number> {
  const t = sectionTimes ?? new Map<string, number>();
  sectionTimes = null;
  return t;
}

function addTime(name: string, ms: number): void {
  if (sectionTimes) sectionTimes.set(name, (sectionTimes.get(name) ?? 0) + ms);
}

/**
 * Run fn as part of `name`: its forward time and the backward time of the ops it records.
 * A section inside another counts once, in the inner one.
 */
export function section<T>(name: string, fn: () => T): T {
  const prev = currentSection;
  currentSection = name;
  if (!sectionTimes) {
    try {
      return fn();
    } finally {
      currentSection = prev;
    }
  }
  const t0 = performance.now();
  childTime.push(0);
  try {
    return fn();
  } finally {
    const inclusive = performance.now() - t0;
    const inner = childTime.pop()!;
    addTime(name, inclusive - inner);
    if (childTime.length > 0) childTime[childTime.length - 1] += inclusive;
    currentSection = prev;
  }
}

/** Time fn as `name` when section timing is on (for work outside forward/backward, e.g. the optimizer). */
export function timed<T>(name: string, fn: () => T): T {
  return section(name, fn);
}

/** Whether ops currently record for backward. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run fn without recording (evaluation, inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** True when an op on these inputs must record a backward step. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  if (!gradEnabled) return false;
  for (const t of inputs) if (t && t.requiresGrad) return true;
  return false;
}

/** Record that `output` was computed from inputs needing grad; `backward` gets d(loss)/d(output). */
export function record(output: Tensor, backward: (gradOut: Tensor) => void): Tensor {
  output.requiresGrad = true;
  tape.push({ output, backward, section: currentSection });
  return output;
}

/**
 * Hand t's gradient buffer to `write(grad, accumulate)`: accumulate is false for the first write
 * of a step (the buffer holds garbage then) and true afterwards.
 */
export function gradInto(t: Tensor, write: (grad: Tensor, accumulate: boolean) => void): void {
  if (!t.requiresGrad) return;
  if (!t.grad) {
    t.grad = Tensor.empty(t.shape);
    if (t.isParam) t.grad.keep();
    t.gradValid = false;
  }
  write(t.grad, t.gradValid);
  t.gradValid = true;
}

/**
 * The gradient buffers of two inputs that one fused kernel writes together: their pointers (0 for
 * an input that needs none) and accumulate flags. Both are collected before the kernel runs; when
 * a and b are one tensor, b's is handed `accumulate`, so the kernel must write a's gradient before
 * b's at each element.
 */
export function gradPair(a: Tensor, b: Tensor): { ptrs: [number, number]; accumulate: [boolean, boolean] } {
  const ptrs: [number, number] = [0, 0];
  const accumulate: [boolean, boolean] = [false, false];
  [a, b].forEach((t, i) => gradInto(t, (g, acc) => {
    ptrs[i] = g.ptr;
    accumulate[i] = acc;
  }));
  return { ptrs, accumulate };
}

/** The gradient of t if anything wrote it this step (else null: no path from the loss). */
export function gradOf(t: Tensor): Tensor | null {
  return t.grad && t.gradValid ? t.grad : null;
}

/**
 * Back-propagate from a scalar loss (seed d loss = `seed`, default 1) through everything
 * recorded since the last backward or clearTape, then clear the tape.
 */
export function backward(loss: Tensor, seed = 1): void {
  if (loss.size !== 1) throw new Error(`backward needs a scalar loss, got shape [${loss.shape.join(', ')}]`);
  gradInto(loss, (g) => K.fill(g.ptr, 1, seed));
  const entries = tape;
  tape = [];
  for (let i = entries.length - 1; i >= 0; i--) {
    const { output, backward: bw, section: name } = entries[i];
    const g = gradOf(output);
    if (!g) continue;
    if (sectionTimes) {
      const t0 = performance.now();
      bw(g);
      addTime(name, performance.now() - t0);
    } else {
      bw(g);
    }
  }
}

/** Drop whatever was recorded (e.g. after an evaluation that ran with gradients on). */
export function clearTape(): void {
  tape = [];
}

/** Mark every parameter's gradient stale: the next backward overwrites instead of adding. */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) p.gradValid = false;
}
