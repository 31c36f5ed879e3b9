// The Llama engine (KV cache, one token per step) against a plain full-recompute reference, on
// the real stories260K checkpoint and on random tiny checkpoints of other shapes.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TernlmError } from '../../src/core/errors.js';
import { initRuntime, rt } from '../../src/core/runtime.js';
import { Llama2cTokenizer } from '../../src/data/llama2c-tokenizer.js';
import { Tensor } from '../../src/core/tensor.js';
import { LlamaModel } from '../../src/infer/llama.js';
import { loadInferenceModel, loadLlama2c, sniffModelFormat } from '../../src/infer/load.js';
import { assertClose } from '../helpers.js';
import { assertStepBatchMatchesStep } from './engine-check.js';
import { needsStories, STORIES260K, tempDir, TOK512, writeTinyLlama2c, type TinyShape } from './fixtures.js';
import { readRefModel, referenceGreedy, referenceLogits } from './reference-llama.js';

/** Relative agreement of float32 engines that sum in different orders. */
const TOL = 1e-4;

/** Engine logits at every position of `tokens`, one step at a time. */
function engineLogits(model: LlamaModel, tokens: number[]): Float32Array[] {
  const s = model.newState();
  try {
    return tokens.map((t) => Float32Array.from(model.step(s, t)));
  } finally {
    s.dispose();
  }
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** Greedy continuation by the engine: every new token costs one step. */
function engineGreedy(model: LlamaModel, prompt: number[], n: number): number[] {
  const s = model.newState();
  try {
    let logits = model.prefill(s, prompt);
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const next = argmax(logits);
      out.push(next);
      if (i + 1 < n) logits = model.step(s, next);
    }
    assert.equal(s.pos, prompt.length + n - 1, 'one step per new token');
    return out;
  } finally {
    s.dispose();
  }
}

before(async () => {
  await initRuntime({ threads: 2 });
});

describe('stories260K: engine vs full-recompute reference', { skip: needsStories }, () => {
  let model: LlamaModel;
  let tok: Llama2cTokenizer;
  let ref: ReturnType<typeof readRefModel>;
  before(() => {
    model = loadLlama2c(STORIES260K);
    tok = Llama2cTokenizer.fromFile(TOK512);
    ref = readRefModel(STORIES260K);
  });
  after(() => model?.dispose());

  it('reads the header of the checkpoint', () => {
    assert.deepEqual(
      { ...model.config },
      { dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, normEps: 1e-5, ropeTheta: 10000 },
    );
    assert.equal(model.contextLength, 512);
  });

  it('gives the reference logits at every position of a prompt', () => {
    const prompt = [tok.bosId, ...tok.encode('Once upon a time, there was a little dog named Max. He liked to run')];
    const want = referenceLogits(ref, prompt);
    const got = engineLogits(model, prompt);
    for (let t = 0; t < prompt.length; t++) assertClose(got[t], want[t], TOL, `position ${t}`);
  });

  it('decodes greedily to exactly the reference tokens (40 new tokens)', () => {
    const prompt = [tok.bosId, ...tok.encode('The cat sat')];
    const want = referenceGreedy(ref, prompt, 40);
    const got = engineGreedy(model, prompt, 40);
    assert.deepEqual(got, want, `engine: ${tok.decode(got)}\nreference: ${tok.decode(want)}`);
    assert.ok(new Set(got).size > 5, 'the continuation is not degenerate');
  });

  it('gives the same logits from weights given matrix by matrix (wq, wk, wv and w1, w3 apart)', () => {
    const c = model.config, w = model.weights, kvDim = (c.dim * c.nKvHeads) / c.nHeads;
    const copies: Tensor[] = [];
    const copy = (ptr: number, floats: number): number => {
      const t = Tensor.from(new Float32Array(rt().memory.buffer, ptr, floats));
      copies.push(Tensor.empty([1]), t); // a gap before each copy: no two are adjacent
      return t.ptr;
    };
    const apart = new LlamaModel(c, {
      ...w,
      wq: w.wq.map((p) => copy(p, c.dim * c.dim)),
      wk: w.wk.map((p) => copy(p, kvDim * c.dim)),
      wv: w.wv.map((p) => copy(p, kvDim * c.dim)),
      w1: w.w1.map((p) => copy(p, c.hiddenDim * c.dim)),
      w3: w.w3.map((p) => copy(p, c.hiddenDim * c.dim)),
    }, copies);
    try {
      const prompt = [tok.bosId, ...tok.encode('One day, a girl')];
      const want = engineLogits(model, prompt), got = engineLogits(apart, prompt);
      for (let t = 0; t < prompt.length; t++) assertClose(got[t], want[t], 1e-6, `position ${t}`);
      assertStepBatchMatchesStep(apart, 3);
    } finally {
      apart.dispose();
    }
  });

  it('prefill equals stepping, reset starts over, and two states do not interfere', () => {
    const prompt = [tok.bosId, ...tok.encode('Lily and Tom went to the park')];
    const stepped = engineLogits(model, prompt).at(-1)!;
    const a = model.newState(), b = model.newState();
    try {
      const viaPrefill = Float32Array.from(model.prefill(a, prompt));
      assertClose(viaPrefill, stepped, 1e-6, 'prefill');
      model.prefill(b, [tok.bosId, ...tok.encode('A big red ball')]);
      model.reset(a);
      assert.equal(a.pos, 0);
      assertClose(model.prefill(a, prompt), stepped, 1e-6, 'after reset');
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('fills the whole 512-token context, then refuses another token', () => {
    const s = model.newState();
    try {
      let logits = model.step(s, tok.bosId);
      while (s.pos < model.contextLength) logits = model.step(s, argmax(logits));
      assert.ok(logits.every(Number.isFinite));
      assert.throws(() => model.step(s, 5), (e: unknown) => e instanceof TernlmError && /context is full/.test(e.message));
      model.reset(s);
      assert.throws(() => model.step(s, 512), /outside the model's vocabulary/);
      assert.equal(s.pos, 0, 'a refused token does not advance the state');
    } finally {
      s.dispose();
    }
  });

  it('stepBatch gives each sequence the logits step gives it alone, in batches of 4 and of 40', () => {
    assertStepBatchMatchesStep(model, 5);
    const prompts = Array.from({ length: 40 }, (_, i) => [tok.bosId, ...tok.encode(`${'Once upon a time '.repeat(1 + (i % 3))}${i}`)]);
    const batched = prompts.map((p) => { const s = model.newState(); model.prefill(s, p); return s; });
    const alone = prompts.map((p) => { const s = model.newState(); model.prefill(s, p); return s; });
    try {
      for (let t = 0; t < 3; t++) {
        const tokens = prompts.map((_, i) => 10 + ((i * 7 + t) % 400));
        const out = model.stepBatch(batched, tokens);
        out.forEach((logits, i) => assertClose(logits, model.step(alone[i], tokens[i]), TOL, `sequence ${i}, token ${t}`));
      }
      // A batched state goes on alone.
      assertClose(model.step(batched[7], 3), model.step(alone[7], 3), TOL, 'a step after the batch');
    } finally {
      for (const s of [...batched, ...alone]) s.dispose();
    }
  });

  it('keeps memory flat: a step allocates nothing on the heap', () => {
    const s = model.newState();
    try {
      model.step(s, tok.bosId);
      const before = rt().heap.stats().inUse;
      for (let i = 0; i < 50; i++) model.step(s, 100 + i);
      assert.equal(rt().heap.stats().inUse, before);
    } finally {
      s.dispose();
    }
  });
});

describe('random tiny checkpoints of other shapes', () => {
  const shapes: [string, TinyShape][] = [
    ['multi-query, unshared classifier, head size 6', { dim: 24, hidden: 37, layers: 2, heads: 4, kvHeads: 1, vocab: 41, seqLen: 32, unshared: true }],
    ['multi-head (no grouping), head size 4', { dim: 16, hidden: 44, layers: 3, heads: 4, kvHeads: 4, vocab: 30, seqLen: 24, unshared: false }],
    ['grouped-query, head size 10', { dim: 40, hidden: 64, layers: 1, heads: 4, kvHeads: 2, vocab: 50, seqLen: 20, unshared: true }],
  ];
  for (const [name, shape] of shapes) {
    it(`${name}: logits and greedy decoding match the reference`, () => {
      const { dir, cleanup } = tempDir();
      try {
        const path = join(dir, 'tiny.bin');
        writeTinyLlama2c(path, shape, shape.dim);
        const model = loadLlama2c(path);
        try {
          const ref = readRefModel(path);
          const prompt = [1, 7, 3, 11, 2];
          const want = referenceLogits(ref, prompt);
          const got = engineLogits(model, prompt);
          for (let t = 0; t < prompt.length; t++) assertClose(got[t], want[t], TOL, `position ${t}`);
          const n = shape.seqLen - prompt.length; // up to the end of the context
          assert.deepEqual(engineGreedy(model, prompt, n), referenceGreedy(ref, prompt, n));
          assertStepBatchMatchesStep(model, shape.dim);
        } finally {
          model.dispose();
        }
      } finally {
        cleanup();
      }
    });
  }
});

describe('loading model files', () => {
  const shape: TinyShape = { dim: 8, hidden: 12, layers: 1, heads: 2, kvHeads: 1, vocab: 10, seqLen: 8, unshared: false };

  it('names a missing file, a directory, and a file that is no model', () => {
    const { dir, cleanup } = tempDir();
    try {
      assert.throws(() => loadInferenceModel(join(dir, 'nope.bin')), (e: unknown) => e instanceof TernlmError && /does not exist/.test(e.message));
      assert.throws(() => loadInferenceModel(dir), /is a directory/);
      const text = join(dir, 'notes.txt');
      writeFileSync(text, 'Once upon a time there was a text file that wanted to be a model.\n');
      assert.throws(() => loadInferenceModel(text), (e: unknown) => e instanceof TernlmError && /is not a model file/.test(e.message));
      const empty = join(dir, 'empty.bin');
      writeFileSync(empty, '');
      assert.throws(() => loadInferenceModel(empty), /is not a model file/);
      assert.throws(() => loadLlama2c(empty), /shorter than the 28-byte header/);
    } finally {
      cleanup();
    }
  });

  it('reports a truncated checkpoint with the sizes involved, and one with trailing bytes', () => {
    const { dir, cleanup } = tempDir();
    try {
      const full = join(dir, 'full.bin');
      writeTinyLlama2c(full, shape);
      const bytes = readFileSync(full);
      const cut = join(dir, 'cut.bin');
      writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
      assert.throws(() => loadInferenceModel(cut), (e: unknown) =>
        e instanceof TernlmError && /is truncated/.test(e.message) && e.message.includes(bytes.length.toLocaleString('en-US')));
      const long = join(dir, 'long.bin');
      writeFileSync(long, Buffer.concat([bytes, Buffer.alloc(8)]));
      assert.throws(() => loadInferenceModel(long), /describes/);
      loadInferenceModel(full).dispose();
    } finally {
      cleanup();
    }
  });

  it('recognises other formats by their first bytes and says what is supported', () => {
    const { dir, cleanup } = tempDir();
    try {
      const st = join(dir, 'model.safetensors');
      const json = Buffer.from('{"__metadata__":{}}');
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      writeFileSync(st, Buffer.concat([len, json]));
      assert.equal(sniffModelFormat(readFileSync(st)), 'safetensors');
      assert.throws(() => loadInferenceModel(st), /safetensors/);
      const v1 = join(dir, 'v1.bin');
      writeFileSync(v1, Buffer.concat([Buffer.from(Int32Array.of(0x616b3432, 1).buffer), Buffer.alloc(256)]));
      assert.throws(() => loadInferenceModel(v1), /version 1.*--version 0/);
      const gguf = join(dir, 'm.gguf');
      writeFileSync(gguf, Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(60)]));
      assert.throws(() => loadInferenceModel(gguf), /GGUF/);
    } finally {
      cleanup();
    }
  });
});
