// Paths and small helpers shared by the inference tests.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import { loadInferenceModel, resolveTokenizer } from '../../src/infer/load.js';
import type { InferenceModel, InferenceState } from '../../src/infer/model.js';

/** ../shared/data beside the repository (compiled tests live in dist/test/infer/). */
export const SHARED_DATA = fileURLToPath(new URL('../../../../shared/data/', import.meta.url));
export const STORIES260K = join(SHARED_DATA, 'models/llama2c/stories260K.bin');
export const TOK512 = join(SHARED_DATA, 'models/llama2c/tok512.bin');
/** The CLI entry point, compiled. */
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** Skip reason for tests that need stories260K and its tokenizer, or false when they are there. */
export const needsStories = existsSync(STORIES260K) && existsSync(TOK512)
  ? false
  : `needs ${STORIES260K} and tok512.bin (the shared data folder beside the repository) — absent here`;

/** Start the runtime on `threads` threads and load stories260K with its tokenizer (tests under needsStories). */
export async function loadStories(threads: number): Promise<{ model: InferenceModel; tokenizer: Tokenizer }> {
  await initRuntime({ threads });
  const model = loadInferenceModel(STORIES260K);
  return { model, tokenizer: resolveTokenizer(STORIES260K, model) };
}

export function tempDir(prefix = 'ternlm-infer-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TinyShape {
  dim: number; hidden: number; layers: number; heads: number; kvHeads: number; vocab: number; seqLen: number;
  /** Separate classifier (written after freq_cis, vocab stored negative). */
  unshared: boolean;
}

/**
 * Write a llama2.c v0 file with random weights (RMSNorm weights near 1) and the given shape;
 * freq_cis is filled with garbage on purpose: readers must skip it.
 */
export function writeTinyLlama2c(path: string, s: TinyShape, seed = 1): void {
  const rng = new Rng(seed);
  const kvDim = (s.dim / s.heads) * s.kvHeads;
  const parts: Float32Array[] = [];
  const rand = (n: number, scale: number): void => {
    parts.push(Float32Array.from({ length: n }, () => rng.normal() * scale));
  };
  const norm = (n: number): void => {
    parts.push(Float32Array.from({ length: n }, () => 1 + 0.1 * rng.normal()));
  };
  rand(s.vocab * s.dim, 1);
  norm(s.layers * s.dim);
  rand(s.layers * s.dim * s.dim, 1 / Math.sqrt(s.dim));
  rand(s.layers * kvDim * s.dim, 1 / Math.sqrt(s.dim));
  rand(s.layers * kvDim * s.dim, 1 / Math.sqrt(s.dim));
  rand(s.layers * s.dim * s.dim, 1 / Math.sqrt(s.dim));
  norm(s.layers * s.dim);
  rand(s.layers * s.hidden * s.dim, 1 / Math.sqrt(s.dim));
  rand(s.layers * s.dim * s.hidden, 1 / Math.sqrt(s.hidden));
  rand(s.layers * s.hidden * s.dim, 1 / Math.sqrt(s.dim));
  norm(s.dim);
  parts.push(new Float32Array(s.seqLen * (s.dim / s.heads)).fill(123.5));
  if (s.unshared) rand(s.vocab * s.dim, 1);
  const header = Int32Array.of(s.dim, s.hidden, s.layers, s.heads, s.kvHeads, s.unshared ? -s.vocab : s.vocab, s.seqLen);
  writeFileSync(path, Buffer.concat([header, ...parts].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))));
}

/** `model` with a record of every batch it was given, each pass `delayMs` long; without stepBatch when `batched` is false. */
export function recordedModel(model: InferenceModel, delayMs: number, batched = true): InferenceModel & { sizes: number[] } {
  const sizes: number[] = [];
  const wait = (): void => {
    const until = performance.now() + delayMs;
    while (performance.now() < until);
  };
  return {
    family: model.family, config: model.config, vocabSize: model.vocabSize, contextLength: model.contextLength, startToken: model.startToken, tokenizer: model.tokenizer,
    sizes,
    newState: () => model.newState(),
    reset: (s) => model.reset(s),
    prefill: (s, t) => model.prefill(s, t),
    step: (s, t) => {
      sizes.push(1);
      wait();
      return model.step(s, t);
    },
    ...(batched ? {
      stepBatch: (states: readonly InferenceState[], tokens: readonly number[]) => {
        sizes.push(states.length);
        wait();
        return model.stepBatch!(states, tokens);
      },
    } : {}),
    dispose: () => {},
  };
}
