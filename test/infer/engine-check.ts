// What the engine tests of every exported family share: a random model whose quantization shows,
// its training log-probabilities, and the check that an engine reproduces them stepping one token
// at a time and a prompt at a time; the refusals every engine makes, and greedy generation through
// the CLI.
import assert from 'node:assert/strict';
import { noGrad } from '../../src/core/autograd.js';
import { TernlmError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import { join } from 'node:path';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import { loadInferenceModel } from '../../src/infer/load.js';
import type { InferenceModel } from '../../src/infer/model.js';
import { exportPacked, type ExportOptions } from '../../src/infer/packed.js';
import { createModel, type CpuflowConfig, type LanguageModel, type MmfreeConfig, type ModelConfig } from '../../src/models/index.js';
import { ternlm } from '../cli/run-cli.js';
import { logSoftmax, maxDiff } from './logprobs.js';

/**
 * Largest |engine - training| log-probability allowed: the engines multiply by exactly the
 * weights training multiplies by and quantize activations with the same kernels, so what is left
 * is f32 rounding (one-row products against the training GEMM); each test reports its own worst.
 */
export const TOLERANCE = 1e-4;

/**
 * Except where that rounding moves an 8-bit activation across a rounding boundary (a value within
 * an ulp of k + 0.5 steps): the position it happens at, and no other, then differs by up to a few
 * hundredths. Such a flip is allowed at one position in 20 (and at least one); a real mismatch (a
 * scale, a missed quantization, a wrong weight) shows at every position.
 */
export const FLIP_TOLERANCE = 0.05;
const FLIPS_PER_POSITION = 1 / 20;

/** A random model; its projection weights are scaled up so that every quantization (and any mismatch in it) shows. */
export function makeModel(config: ModelConfig, seed: number): LanguageModel<ModelConfig> {
  const V = config.vocabSize;
  const counts = Array.from({ length: V }, (_, i) => 1 + Math.round(1000 / (i + 1)));
  const model = createModel(config, new Rng(seed), counts);
  for (const { layer } of model.bitLayers()) layer.weight.f32().forEach((v, i, a) => (a[i] = v * 4));
  return model;
}

/** The training model's log-probabilities at every position of `tokens` (evaluation mode). */
export function trainingLogProbs(model: LanguageModel<ModelConfig>, tokens: number[]): Float32Array[] {
  const V = model.config.vocabSize;
  return noGrad(() => scope(() => {
    const lp = model.head.logProbs(model.hidden(Tensor.from(tokens, [1, tokens.length], 'i32'))).f32();
    return tokens.map((_, t) => Float32Array.from(lp.subarray(t * V, (t + 1) * V)));
  }));
}

export function randomTokens(n: number, V: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rng.int(V));
}

/**
 * Step `tokens` one at a time, then again as prompts (a first chunk, then the rest, which crosses
 * a prefill chunk boundary), and compare with the training forward pass. Returns the worst difference.
 */
export function assertEngineMatchesTraining(model: LanguageModel<ModelConfig>, engine: InferenceModel, tokens: number[]): number {
  const reference = trainingLogProbs(model, tokens);
  const state = engine.newState();
  let worst = 0;
  const flipped = new Set<number>();
  const check = (logits: Float32Array, t: number, how: string): void => {
    const diff = maxDiff(logSoftmax(logits), reference[t]);
    worst = Math.max(worst, diff);
    if (diff > TOLERANCE) flipped.add(t);
    assert.ok(diff <= FLIP_TOLERANCE, `${how}, position ${t}: max |log-probability difference| ${diff} > ${FLIP_TOLERANCE}`);
    assert.ok(flipped.size <= Math.max(1, Math.floor(tokens.length * FLIPS_PER_POSITION)),
      `${how}, position ${t}: differences above ${TOLERANCE} at positions ${[...flipped].join(', ')} — more than rounding flips explain`);
  };
  for (let t = 0; t < tokens.length; t++) check(engine.step(state, tokens[t]), t, 'step');
  engine.reset(state);
  const split = 5;
  check(engine.prefill(state, tokens.slice(0, split)), split - 1, 'prefill');
  check(engine.prefill(state, tokens.slice(split)), tokens.length - 1, 'prefill after a prefill');
  assert.equal(state.pos, tokens.length);
  state.dispose();
  return worst;
}

/**
 * stepBatch gives every state the logits `step` gives it alone: four sequences at different
 * positions (prompts of 1, 3, 6 and 2 tokens) stepped together for six tokens, in a different
 * order each time, then a batch of one. A batch holding a token outside the vocabulary (or, with
 * a context limit under 100, a full state) is refused and moves no state. Returns the worst
 * log-probability difference (the same flip allowance as against training).
 */
export function assertStepBatchMatchesStep(engine: InferenceModel, seed: number): number {
  assert.ok(engine.stepBatch, `the ${engine.family} engine has no stepBatch`);
  const stepBatch = engine.stepBatch.bind(engine);
  const V = engine.vocabSize;
  const prompts = [1, 3, 6, 2].map((n, i) => randomTokens(n, V, seed + i));
  const batched = prompts.map((p) => { const s = engine.newState(); engine.prefill(s, p); return s; });
  const alone = prompts.map((p) => { const s = engine.newState(); engine.prefill(s, p); return s; });
  let worst = 0, compared = 0;
  const flipped: string[] = [];
  try {
    for (let t = 0; t < 7; t++) {
      const order = t < 6 ? [0, 1, 2, 3].map((i) => (i + t) % 4) : [t % 4];
      const tokens = order.map((i) => (seed * 31 + t * 7 + i * 13) % V);
      const out: Float32Array[] = stepBatch(order.map((i) => batched[i]), tokens);
      assert.equal(out.length, order.length);
      order.forEach((i, j) => {
        const expected = logSoftmax(engine.step(alone[i], tokens[j]));
        const diff = maxDiff(logSoftmax(out[j]), expected);
        worst = Math.max(worst, diff);
        compared++;
        if (diff > TOLERANCE) flipped.push(`sequence ${i} token ${t}`);
        assert.ok(diff <= FLIP_TOLERANCE, `stepBatch, sequence ${i}, token ${t}: max |log-probability difference| ${diff} > ${FLIP_TOLERANCE}`);
        assert.equal(batched[i].pos, alone[i].pos, `stepBatch moved sequence ${i} to ${batched[i].pos}, step to ${alone[i].pos}`);
      });
    }
    assert.ok(flipped.length <= Math.max(1, Math.floor(compared * FLIPS_PER_POSITION)), `stepBatch differs from step above ${TOLERANCE} at ${flipped.join(', ')}`);
    const before = batched.map((s) => s.pos);
    assert.throws(() => stepBatch(batched.slice(0, 2), [1, V]), refusal(new RegExp(`token id ${V} is outside the`)));
    if (engine.contextLength < 100) {
      const full = engine.newState();
      try {
        engine.prefill(full, randomTokens(engine.contextLength, V, seed));
        assert.throws(() => stepBatch([batched[0], full], [1, 2]), refusal(/the context is full/));
      } finally {
        full.dispose();
      }
    }
    assert.deepEqual(batched.map((s) => s.pos), before, 'a refused batch moves no state');
    return worst;
  } finally {
    for (const s of [...batched, ...alone]) s.dispose();
  }
}

/** Export `model` to `path` (floats in f32 unless `opts` says otherwise) and load it back as an engine. */
export function exportedEngine(model: LanguageModel<ModelConfig>, tokenizer: Tokenizer, path: string, opts: ExportOptions = { floatDtype: 'f32' }): InferenceModel {
  exportPacked(model, tokenizer.toJSON(), path, opts);
  return loadInferenceModel(path);
}

/**
 * One engine case: a random model of `config`, exported (f32) into `dir` and loaded, must come
 * back as `engineClass` with the family and context length it should have, and reproduce the
 * training forward over 40 tokens, and its stepBatch against `step`. Returns the worst difference against training.
 */
export function checkExportedEngine(
  config: ModelConfig, seed: number, dir: string, tokenizer: Tokenizer,
  expected: { engineClass: abstract new (...args: never[]) => InferenceModel; contextLength: number },
): number {
  const model = makeModel(config, seed);
  const engine = exportedEngine(model, tokenizer, join(dir, `model-${seed}.safetensors`));
  try {
    assert.ok(engine instanceof expected.engineClass);
    assert.equal(engine.family, config.family);
    assert.equal(engine.contextLength, expected.contextLength);
    const worst = assertEngineMatchesTraining(model, engine, randomTokens(40, config.vocabSize, 100 + seed));
    if (engine.stepBatch) assertStepBatchMatchesStep(engine, seed);
    return worst;
  } finally {
    engine.dispose();
    model.dispose();
  }
}

const refusal = (pattern: RegExp) => (e: unknown): boolean => e instanceof TernlmError && pattern.test(e.message);

/**
 * A prompt with a token outside the vocabulary, or with no token, is refused and changes nothing;
 * reset forgets the past (the first token's logits come back).
 */
export function assertRefusalsAndReset(engine: InferenceModel): void {
  const V = engine.vocabSize;
  const state = engine.newState();
  const first = Float32Array.from(engine.step(state, 7));
  engine.prefill(state, randomTokens(5, V, 43));
  assert.throws(() => engine.prefill(state, [1, 2, V]), refusal(new RegExp(`token id ${V} is outside the vocabulary`)));
  assert.throws(() => engine.prefill(state, []), refusal(/at least one token/));
  assert.equal(state.pos, 6);
  engine.reset(state);
  assert.equal(state.pos, 0);
  assert.deepEqual(Float32Array.from(engine.step(state, 7)), first);
  state.dispose();
}

/** An engine of `contextLength` positions refuses a longer prompt, and a step past its end, with a clear error that changes nothing. */
export function assertContextLimit(engine: InferenceModel, contextLength: number): void {
  const full = refusal(new RegExp(`the context is full: this model holds ${contextLength} tokens`));
  const state = engine.newState();
  assert.throws(() => engine.prefill(state, randomTokens(contextLength + 1, engine.vocabSize, 43)), full);
  assert.equal(state.pos, 0);
  engine.prefill(state, randomTokens(contextLength - 1, engine.vocabSize, 44));
  engine.step(state, 3);
  assert.throws(() => engine.step(state, 3), full);
  assert.equal(state.pos, contextLength);
  state.dispose();
}

/**
 * `ternlm generate` on an exported file, greedily: the prompt comes back first, the summary line
 * follows on stderr, and a second run writes the same text. Returns the command (without
 * --max-tokens) for more runs.
 */
export async function assertGreedyGeneration(file: string): Promise<string[]> {
  const gen = ['generate', '--model', file, '--prompt', 'Once upon a time', '--temperature', '0', '--threads', '1'];
  const a = await ternlm([...gen, '--max-tokens', '8']);
  assert.equal(a.code, 0, a.stderr);
  assert.ok(a.stdout.startsWith('Once upon a time'), a.stdout);
  assert.match(a.stderr, /^\d+ tokens \((max tokens|end of text)\) at [\d.]+ tokens\/s; prompt \d+ tokens/);
  const b = await ternlm([...gen, '--max-tokens', '8']);
  assert.equal(b.stdout, a.stdout, 'greedy generation is deterministic');
  return gen;
}

/**
 * The engine cases of a family with BitLinear projections: ternary with 8-bit activations (tied
 * and untied softmax head), ternary with float activations, int8, fp32 (untied head), and a
 * hierarchical head.
 */
export function precisionCases<C extends MmfreeConfig | CpuflowConfig>(base: C): [string, C][] {
  return [
    ['ternary, 8-bit activations, tied softmax head', base],
    ['ternary, 8-bit activations, untied softmax head', { ...base, head: { type: 'softmax', tied: false } }],
    ['ternary, float activations', { ...base, quantizeActivations: false }],
    ['int8', { ...base, precision: 'int8', quantizeActivations: false }],
    ['fp32 (the float model), untied softmax head', { ...base, precision: 'fp32', quantizeActivations: false, head: { type: 'softmax', tied: false } }],
    ['ternary, hierarchical head', { ...base, head: { type: 'hierarchical' } }],
  ];
}
