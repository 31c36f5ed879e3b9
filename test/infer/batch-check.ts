// What the tests of the StepEngine families (FlashLM, MatMul-free LM, CPUFlow, FlashLM-MLP, mof)
// add to assertStepBatchMatchesStep: a batch larger than any before it (the engine's workspace
// grows), a state passed twice, and states that go on alone after being batched.
import assert from 'node:assert/strict';
import { TernlmError } from '../../src/core/errors.js';
import { join } from 'node:path';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import type { InferenceModel, InferenceState } from '../../src/infer/model.js';
import type { ModelConfig } from '../../src/models/index.js';
import { FLIP_TOLERANCE, TOLERANCE, exportedEngine, makeModel, randomTokens } from './engine-check.js';
import { logSoftmax, maxDiff } from './logprobs.js';

/** Sequences in the large batch: more than any batch assertStepBatchMatchesStep makes. */
export const LARGE_BATCH = 40;

/**
 * LARGE_BATCH sequences with prompts of 1 to 4 tokens: five of them stepped as a batch, then
 * all of them, twice, in reverse order; then three of them step alone and take a prompt alone.
 * Every state's logits must be what `step` and `prefill` give its twin that was never batched
 * (differences above TOLERANCE at one comparison in 20 at most, none above FLIP_TOLERANCE). A
 * batch holding one state twice is refused and moves no state.
 */
export function assertLargeBatch(engine: InferenceModel, seed: number): void {
  assert.ok(engine.stepBatch, `the ${engine.family} engine has no stepBatch`);
  const stepBatch = engine.stepBatch.bind(engine);
  const V = engine.vocabSize;
  const prompts = Array.from({ length: LARGE_BATCH }, (_, i) => randomTokens(1 + (i % 4), V, seed + i));
  const batched = prompts.map((p) => { const s = engine.newState(); engine.prefill(s, p); return s; });
  const alone = prompts.map((p) => { const s = engine.newState(); engine.prefill(s, p); return s; });
  let compared = 0;
  const above: string[] = [];
  const compare = (got: Float32Array, expected: Float32Array, a: InferenceState, b: InferenceState, what: string): void => {
    const diff = maxDiff(logSoftmax(got), logSoftmax(expected));
    compared++;
    if (diff > TOLERANCE) above.push(what);
    assert.ok(diff <= FLIP_TOLERANCE, `${what}: max |log-probability difference| ${diff} > ${FLIP_TOLERANCE}`);
    assert.equal(a.pos, b.pos, `${what}: at position ${a.pos}, its twin at ${b.pos}`);
  };
  try {
    const batches = [[0, 1, 2, 3, 4], batched.map((_, i) => LARGE_BATCH - 1 - i), batched.map((_, i) => LARGE_BATCH - 1 - i)];
    batches.forEach((order, t) => {
      const tokens = order.map((i) => (seed + 7 * t + 13 * i) % V);
      const out = stepBatch(order.map((i) => batched[i]), tokens);
      assert.equal(out.length, order.length);
      order.forEach((i, j) => compare(out[j], engine.step(alone[i], tokens[j]), batched[i], alone[i], `batch ${t}, sequence ${i}`));
    });
    for (const i of [0, 17, LARGE_BATCH - 1]) {
      compare(engine.step(batched[i], 5), engine.step(alone[i], 5), batched[i], alone[i], `sequence ${i} stepped alone`);
      const prompt = randomTokens(3, V, seed * 3 + i);
      compare(engine.prefill(batched[i], prompt), engine.prefill(alone[i], prompt), batched[i], alone[i], `sequence ${i} prefilled alone`);
    }
    assert.ok(above.length <= Math.max(1, Math.floor(compared / 20)), `differences above ${TOLERANCE} at ${above.join(', ')}`);

    const before = batched.map((s) => s.pos);
    assert.throws(() => stepBatch([batched[0], batched[1], batched[0]], [1, 2, 3]),
      (e: unknown) => e instanceof TernlmError && /each state once/.test(e.message));
    assert.deepEqual(batched.map((s) => s.pos), before, 'a refused batch moves no state');
  } finally {
    for (const s of [...batched, ...alone]) s.dispose();
  }
}

/** assertLargeBatch on a random model of `config`, exported (f32) into `dir` and loaded. */
export function checkLargeBatch(config: ModelConfig, seed: number, dir: string, tokenizer: Tokenizer): void {
  const model = makeModel(config, seed);
  const engine = exportedEngine(model, tokenizer, join(dir, `batch-${seed}.safetensors`));
  try {
    assertLargeBatch(engine, seed);
  } finally {
    engine.dispose();
    model.dispose();
  }
}
