// Config validation: the schema covers every field, unknown fields are refused with the nearest
// name, and every value is checked for type and range.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TernlmError } from '../../src/core/errors.js';
import { closestName, editDistance } from '../../src/core/input-checks.js';
import { MODEL_DEFAULTS, MODEL_FAMILIES } from '../../src/models/index.js';
import { configFields, loadTrainConfig, parseOverrides, TRAIN_DEFAULTS, withOverrides } from '../../src/train/config.js';

/** Dotted paths of every value in `o` (arrays are values). */
function leafPaths(o: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(o).flatMap(([k, v]) =>
    v && typeof v === 'object' && !Array.isArray(v) ? leafPaths(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`]);
}

const refuses = (overrides: unknown, pattern: RegExp): void => {
  assert.throws(() => withOverrides(TRAIN_DEFAULTS, overrides), (err: unknown) => err instanceof TernlmError && pattern.test(err.message));
};

describe('config schema', () => {
  it('has a row for every field of the defaults', () => {
    for (const family of MODEL_FAMILIES) {
      const defaults = { ...TRAIN_DEFAULTS, model: MODEL_DEFAULTS[family] } as unknown as Record<string, unknown>;
      for (const path of leafPaths(defaults)) assert.ok(path in configFields(family), `no schema row for ${path} (${family})`);
      withOverrides(TRAIN_DEFAULTS, { model: { family } });
    }
  });

  it('starts another family from its own defaults and refuses the fields of other families', () => {
    const g = withOverrides(TRAIN_DEFAULTS, { model: { family: 'gpt2', heads: 8 } });
    assert.deepEqual(g.model, { ...MODEL_DEFAULTS.gpt2, heads: 8 });
    refuses({ model: { family: 'gpt2', kernelSize: 4 } }, /^unknown config field 'model\.kernelSize' — it is a field of flashlm models, and this config's model\.family is gpt2$/);
    refuses({ model: { family: 'bitnet', heads: 4, kvHeads: 3 } }, /model\.heads 4 must be a multiple of model\.kvHeads 3/);
    refuses({ model: { family: 'gpt2', dim: 100, heads: 3 } }, /model\.dim 100 must be a multiple of model\.heads 3/);
    refuses({ model: { family: 'bitnet', dim: 60, heads: 4, kvHeads: 1 } }, /head size .* 15 must be even/);
  });

  it('accepts the defaults and every value at its limits', () => {
    withOverrides(TRAIN_DEFAULTS, {});
    withOverrides(TRAIN_DEFAULTS, { model: { layers: 1, dropout: 0 }, warmupSteps: 0, minLrRatio: 1, gradClip: 0, sampleTokens: 0, seed: 2 ** 32 - 1 });
    withOverrides(TRAIN_DEFAULTS, { model: { layers: 64, dim: 64, head: { type: 'adaptive', cutoffs: [100, 1000] } } });
  });

  it('refuses unknown fields with the nearest name', () => {
    refuses({ lrr: 0.1 }, /^unknown config field 'lrr' — did you mean 'lr'\?$/);
    refuses({ model: { dims: 3 } }, /^unknown config field 'model\.dims' — did you mean 'model\.dim'\?$/);
    refuses({ model: { nosuch: 3 } }, /^unknown config field 'model\.nosuch' — the fields of model are family, /);
    refuses({ xyzzy: 1 }, /^unknown config field 'xyzzy' — the fields are listed in docs\/training\.md/);
    refuses({ dropout: 0.1 }, /did you mean 'model\.dropout'\?/);
    refuses({ model: 3 }, /^config field 'model' must be an object of fields, got 3$/);
  });

  it('checks every field type and range', () => {
    const cases: [unknown, RegExp][] = [
      [{ model: { layers: -2 } }, /^config: model\.layers must be an integer from 1 to 64, got -2$/],
      [{ model: { layers: 1.5 } }, /model\.layers must be an integer from 1 to 64, got 1\.5/],
      [{ model: { dim: 0 } }, /model\.dim must be an integer from 4 to 2048, got 0/],
      [{ model: { dim: 1e9 } }, /model\.dim must be an integer from 4 to 2048, got 1000000000/],
      [{ model: { dim: '256' } }, /model\.dim must be an integer .* got "256"/],
      [{ model: { recurrence: 0 } }, /model\.recurrence must be an integer from 1/],
      [{ model: { kernelSize: 0 } }, /model\.kernelSize must be an integer from 1/],
      [{ model: { dilations: [] } }, /model\.dilations must be a list of 1 to 64 integers/],
      [{ model: { dilations: [1, 0] } }, /model\.dilations must be a list/],
      [{ model: { gluMult: 0 } }, /model\.gluMult must be a number greater than 0 and at most 16, got 0/],
      [{ model: { precision: 'int4' } }, /model\.precision must be one of ternary, int8, fp32, got "int4"/],
      [{ model: { quantizeActivations: 'yes' } }, /model\.quantizeActivations must be true or false/],
      [{ model: { frozenEmbeddings: 1 } }, /model\.frozenEmbeddings must be true or false/],
      [{ model: { contextLength: 0 } }, /model\.contextLength must be an integer from 1/],
      [{ model: { head: { type: 'mixture' } } }, /model\.head\.type must be one of softmax, hierarchical, adaptive/],
      [{ model: { head: { type: 'softmax', tied: 'no' } } }, /model\.head\.tied must be true or false/],
      [{ model: { head: { type: 'adaptive', cutoffs: [1000, 100] } } }, /model\.head\.cutoffs must be a list of 1 to 16 increasing integers/],
      [{ model: { dropout: 1 } }, /model\.dropout must be a number of at least 0 and less than 1, got 1/],
      [{ model: { family: 'llama' } }, /model\.family must be one of flashlm, gpt2, bitnet, mmfree, flashlm-mlp, cpuflow, mof, got "llama"/],
      [{ model: { family: 'flashlm-mlp', layers: 1 } }, /^config: a flashlm-mlp model needs model\.layers of at least 2/],
      [{ model: { family: 'flashlm-mlp', hidden: 0 } }, /model\.hidden must be an integer from 1 to 8192, got 0/],
      [{ model: { head: { type: 'two-level', classes: 0 } } }, /model\.head\.classes must be an integer from 1/],
      [{ model: { family: 'cpuflow', stateDim: 0 } }, /model\.stateDim must be an integer from 1 to 2048, got 0/],
      [{ model: { family: 'cpuflow', scanEps: 0 } }, /model\.scanEps must be a number greater than 0 and at most 1, got 0/],
      [{ fsp: { alpha: -1 } }, /fsp\.alpha must be a number from 0 to 1000, got -1/],
      [{ fsp: { rate: 0 } }, /fsp\.rate must be an integer from 1/],
      [{ fsp: { posWeight: 0 } }, /fsp\.posWeight must be a number greater than 0/],
      [{ fsp: { alpha: 0.1, tau: 128 } }, /^config: fsp\.tau 128 leaves no position of a 128-token sequence with that many targets after it — make fsp\.tau smaller than seqLen, or set fsp\.alpha 0$/],
      [{ batchSize: 0 }, /batchSize must be an integer from 1/],
      [{ seqLen: 1.5 }, /seqLen must be an integer/],
      [{ curriculum: [{ seqLen: 64, until: 0.5 }, { seqLen: 128, until: 0.4 }] }, /curriculum must be a list of at most 64 phases/],
      [{ curriculum: [{ seqLen: 64, until: 1, extra: 1 }] }, /phase 1 has an unknown field 'extra'/],
      [{ optimizer: 'sgd' }, /optimizer must be one of adamw, muon, normuon/],
      [{ lr: 0 }, /^config: lr must be a number greater than 0 and at most 10, got 0$/],
      [{ lr: 'fast' }, /lr must be a number/],
      [{ muonLr: -1 }, /muonLr must be a number greater than 0/],
      [{ schedule: 'linear' }, /schedule must be one of cosine, wsd/],
      [{ warmupSteps: -1 }, /warmupSteps must be an integer from 0/],
      [{ minLrRatio: 2 }, /minLrRatio must be a number from 0 to 1, got 2/],
      [{ decayFraction: -0.1 }, /decayFraction must be a number from 0 to 1/],
      [{ weightDecay: -1 }, /weightDecay must be a number from 0 to 10/],
      [{ beta1: 1 }, /beta1 must be a number .*less than 1/],
      [{ beta2: -0.5 }, /beta2 must be a number/],
      [{ gradClip: -1 }, /gradClip must be a number from 0/],
      [{ gradAccumulation: 0 }, /gradAccumulation must be an integer from 1 to 1024/],
      [{ ternaryStart: -1 }, /ternaryStart must be an integer from 0/],
      [{ logEvery: 0 }, /logEvery must be an integer from 1/],
      [{ evalEvery: 0 }, /evalEvery must be an integer from 1/],
      [{ evalBatches: 0 }, /evalBatches must be an integer from 1/],
      [{ sampleTokens: -1 }, /sampleTokens must be an integer from 0/],
      [{ checkpointMinutes: 0 }, /checkpointMinutes must be a number greater than 0/],
      [{ seed: -1 }, /seed must be an integer from 0 to 4294967295/],
      [{ name: 'a/b' }, /name must be a name of 1 to 100 letters/],
      [{ initEmbeddings: 'glove' }, /initEmbeddings must be random, corpus or gpt2:<model\.safetensors>, got "glove"/],
      [{ lr: null }, /lr must be a number .* got null/],
      [{ seqLen: 512 }, /sequence length 512 exceeds model\.contextLength 256/],
      [{ model: { dim: 2048, layers: 64 } }, /need about [\d.]+ GiB .* more than the 3 GiB of the 4 GiB wasm memory/],
    ];
    for (const [overrides, pattern] of cases) refuses(overrides, pattern);
  });

  it('names the config file that holds a bad field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ternlm-config-'));
    try {
      const path = join(dir, 'c.json');
      writeFileSync(path, JSON.stringify({ name: 'c', batchsize: 4 }));
      assert.throws(() => loadTrainConfig(path), { message: `${path}: unknown config field 'batchsize' — did you mean 'batchSize'?` });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--set values parse as JSON, and a value cannot also be a group', () => {
    assert.deepEqual(parseOverrides(['lr=0.1', 'model.head.type=adaptive', 'name=x']), { lr: 0.1, model: { head: { type: 'adaptive' } }, name: 'x' });
    assert.throws(() => parseOverrides(['lr=1', 'lr.x=2']), /lr is not a group of fields/);
  });
});

describe('nearest names', () => {
  it('edit distance counts a swap of neighbours as one edit', () => {
    assert.equal(editDistance('steps', 'stpes'), 1);
    assert.equal(editDistance('lrr', 'lr'), 1);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
  });
  it('suggests only names that are close', () => {
    assert.equal(closestName('lrr', ['lr', 'seed']), 'lr');
    assert.equal(closestName('BatchSize', ['batchSize']), 'batchSize');
    assert.equal(closestName('nosuch', ['lr', 'seed']), undefined);
  });
});
