// Training configuration: a JSON file in configs/, every field overridable from the CLI.
import { readFileSync } from 'node:fs';
import { TernlmError } from '../core/errors.js';
import { closestName, describeRange, inRange, type NumberRange } from '../core/input-checks.js';
import { ffnHidden } from '../models/bitnet.js';
import { gluHidden } from '../models/flashlm.js';
import { ffnHidden as mmfreeFfnHidden } from '../models/mmfree.js';
import { mlpShapes } from '../models/flashlm-mlp.js';
import { patternRegExp } from '../models/precision.js';
import { FSP_DEFAULTS, type FspConfig } from './fsp.js';
import { ffnHidden as mofFfnHidden, gruWidth as mofGruWidth } from '../models/mof.js';
import { MODEL_DEFAULTS, MODEL_FAMILIES, type DistributiveOmit, type ModelConfig, type ModelFamily } from '../models/index.js';

export interface CurriculumPhase {
  /** Sequence length of this phase. */
  seqLen: number;
  /** The phase lasts until this fraction of the run (by steps, or by time with --time). */
  until: number;
}

export interface TrainConfig {
  name: string;
  /** The model: `family` picks its class and fields (src/models/). */
  model: DistributiveOmit<ModelConfig, 'vocabSize'>;
  batchSize: number;
  /** Sequence length when there is no curriculum. */
  seqLen: number;
  curriculum: CurriculumPhase[];
  optimizer: 'adamw' | 'muon' | 'normuon';
  /** Peak learning rate of AdamW (and of everything AdamW updates under Muon). */
  lr: number;
  /** Peak learning rate of the Muon-updated matrices. */
  muonLr: number;
  schedule: 'cosine' | 'wsd';
  warmupSteps: number;
  minLrRatio: number;
  /** WSD: the final fraction of the run that decays. */
  decayFraction: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  gradClip: number;
  gradAccumulation: number;
  /** Train in float until this step, then ternarize (BitNet's float warm-up). */
  ternaryStart: number;
  logEvery: number;
  evalEvery: number;
  evalBatches: number;
  /** Tokens per sample written at each eval (0: none). */
  sampleTokens: number;
  checkpointMinutes: number;
  seed: number;
  /** Token embeddings at the start: random, from the corpus (PPMI + SVD), or 'gpt2:<model.safetensors>'. */
  initEmbeddings: string;
  /** Draw report.html and report.png (the run's plots) into the run folder when the run ends or is stopped. */
  report: boolean;
  /** Future-set prediction, an auxiliary training objective (src/train/fsp.ts); alpha 0 = off. */
  fsp: FspConfig;
}

export const TRAIN_DEFAULTS: TrainConfig = {
  name: 'flashlm',
  model: MODEL_DEFAULTS.flashlm,
  batchSize: 16,
  seqLen: 128,
  curriculum: [],
  optimizer: 'adamw',
  lr: 3e-3,
  muonLr: 0.02,
  schedule: 'cosine',
  warmupSteps: 100,
  minLrRatio: 0.1,
  decayFraction: 0.2,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  gradClip: 1,
  gradAccumulation: 1,
  ternaryStart: 0,
  logEvery: 10,
  evalEvery: 200,
  evalBatches: 16,
  sampleTokens: 64,
  checkpointMinutes: 1,
  seed: 1,
  initEmbeddings: 'random',
  report: true,
  fsp: FSP_DEFAULTS,
};

/** Deep-merge b over a (plain objects merge, arrays and values replace). */
function merge<T>(a: T, b: unknown): T {
  if (b === undefined) return a;
  if (a && typeof a === 'object' && !Array.isArray(a) && b && typeof b === 'object' && !Array.isArray(b)) {
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
    for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = merge(out[k], v);
    return out as T;
  }
  return b as T;
}

/** Read a config JSON file over the defaults; unknown fields and bad values name the file. */
export function loadTrainConfig(path: string): TrainConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TernlmError(e.code === 'ENOENT' ? `config ${path} not found` : `config ${path} is not valid JSON: ${e.message}`);
  }
  try {
    return withOverrides(TRAIN_DEFAULTS, raw);
  } catch (err) {
    if (err instanceof TernlmError) throw new TernlmError(`${path}: ${err.message}`);
    throw err;
  }
}

/** `base` with `overrides` merged over it; refuses unknown fields and out-of-range values. */
export function withOverrides(base: TrainConfig, overrides: unknown): TrainConfig {
  const family = familyOf(base, overrides);
  if (overrides !== undefined) checkFieldNames(overrides, '', family);
  // A config of another family starts from that family's model defaults, not the base's fields.
  const start = family === base.model.family ? base : { ...base, model: MODEL_DEFAULTS[family] };
  const c = merge(start, overrides);
  validate(c);
  return c;
}

/** The model family the overrides ask for (else the base's), refused when unknown. */
function familyOf(base: TrainConfig, overrides: unknown): ModelFamily {
  const model = isPlainObject(overrides) ? overrides.model : undefined;
  const family = isPlainObject(model) && model.family !== undefined ? model.family : base.model.family;
  if (typeof family !== 'string' || !(MODEL_FAMILIES as string[]).includes(family)) {
    throw new TernlmError(`config: model.family must be one of ${MODEL_FAMILIES.join(', ')}, got ${JSON.stringify(family)}`);
  }
  return family as ModelFamily;
}

/**
 * `key.path=value` overrides from the CLI (`--set model.dim=128 --set lr=0.001`): values parse
 * as JSON when they can (numbers, booleans, arrays), else stay strings.
 */
export function parseOverrides(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new TernlmError(`--set expects key=value, got '${pair}'`);
    const keys = pair.slice(0, eq).split('.');
    let value: unknown = pair.slice(eq + 1);
    try {
      value = JSON.parse(value as string);
    } catch {
      /* a plain string */
    }
    let node = out;
    for (const k of keys.slice(0, -1)) {
      const next = (node[k] ??= {});
      // `--set lr=1 --set lr.x=2`: lr is a value, not a group, so lr.x is not a field.
      if (typeof next !== 'object' || next === null || Array.isArray(next)) throw new TernlmError(`unknown config field '${pair.slice(0, eq)}' — ${keys.slice(0, -1).join('.')} is not a group of fields`);
      node = next as Record<string, unknown>;
    }
    node[keys[keys.length - 1]] = value;
  }
  return out;
}

// ---- The schema: one row per config field -------------------------------------------------

/** How one config field is checked. `optional` fields may be absent. */
export type FieldRule = { optional?: boolean } & (
  | ({ type: 'integer' } & NumberRange)
  | ({ type: 'number' } & NumberRange)
  | { type: 'enum'; values: readonly string[] }
  | { type: 'boolean' }
  /** `pattern` and `expected` describe the allowed strings. */
  | { type: 'string'; pattern: RegExp; expected: string }
  | { type: 'integers'; min: number; max: number; maxLength: number; increasing?: boolean }
  | { type: 'curriculum'; maxPhases: number }
  /** Pattern -> precision (src/models/precision.ts). */
  | { type: 'precisions'; maxPatterns: number }
);

const integer = (min: number, max: number): FieldRule => ({ type: 'integer', min, max });
const number = (min: number, max: number, open: { aboveMin?: boolean; belowMax?: boolean } = {}): FieldRule => ({ type: 'number', min, max, ...open });
const oneOf = (...values: string[]): FieldRule => ({ type: 'enum', values });
const boolean: FieldRule = { type: 'boolean' };

/**
 * Upper limits. Training keeps everything in one wasm32 memory of at most 4 GiB: each parameter
 * costs 16 bytes (weight, gradient, two AdamW moments) and the activations kept for the backward
 * pass grow with batchSize × seqLen × dim × layers × recurrence. A model.dim of 2048 with GPT-2's
 * 50,257 tokens already needs 1.6 GiB for the embedding alone, so no single field may go past a
 * limit that fits on its own; combinations are checked by `trainingBytes` below. The step and
 * count limits (1e9) are only there to catch typos.
 */
const MAX_DIM = 2048;
const MAX_CONTEXT = 16384;
const MAX_COUNT = 1e9;
const MAX_SEED = 2 ** 32 - 1;

const HEAD_FIELDS: Record<string, FieldRule> = {
  'model.head.type': oneOf('softmax', 'hierarchical', 'adaptive', 'two-level'),
  'model.head.tied': { ...boolean, optional: true },
  'model.head.cutoffs': { type: 'integers', min: 1, max: 1 << 20, maxLength: 16, increasing: true, optional: true },
  'model.head.classes': { ...integer(1, 1 << 20), optional: true },
};

/** Fields every family has (see BaseModelConfig). */
const BASE_MODEL_FIELDS: Record<string, FieldRule> = {
  'model.family': oneOf(...MODEL_FAMILIES),
  // Written into a run's config.json; the data's vocabulary size wins when training.
  'model.vocabSize': { ...integer(2, 1 << 20), optional: true },
  'model.dim': integer(4, MAX_DIM),
  'model.layers': integer(1, 64),
  'model.contextLength': integer(1, MAX_CONTEXT),
  'model.frozenEmbeddings': boolean,
  'model.dropout': number(0, 1, { belowMax: true }),
  ...HEAD_FIELDS,
};

/** How a family of BitLinear projections multiplies: every projection's precision, 8-bit activations, per-projection overrides. */
const PROJECTION_FIELDS: Record<string, FieldRule> = {
  'model.precision': oneOf('ternary', 'int8', 'fp32'),
  'model.quantizeActivations': boolean,
  'model.precisionOverrides': { type: 'precisions', maxPatterns: 1024, optional: true },
};

/**
 * The model fields of each family, by dotted path. A new field needs one row here (and its default
 * in the family's defaults); `test/train/config.test.ts` checks that every default has one.
 */
export const MODEL_FIELDS: { [F in ModelFamily]: Record<string, FieldRule> } = {
  flashlm: {
    ...BASE_MODEL_FIELDS,
    'model.recurrence': integer(1, 16),
    'model.kernelSize': integer(1, 64),
    'model.dilations': { type: 'integers', min: 1, max: MAX_CONTEXT, maxLength: 64 },
    'model.gluMult': number(0, 16, { aboveMin: true }),
    ...PROJECTION_FIELDS,
  },
  gpt2: {
    ...BASE_MODEL_FIELDS,
    'model.heads': integer(1, 256),
    // GPT-2's projections are fp32 but those chosen here (ternary ones with 8-bit activations).
    'model.precisionOverrides': PROJECTION_FIELDS['model.precisionOverrides'],
  },
  mmfree: {
    ...BASE_MODEL_FIELDS,
    'model.ffnMult': number(0, 16, { aboveMin: true }),
    ...PROJECTION_FIELDS,
  },
  'flashlm-mlp': {
    ...BASE_MODEL_FIELDS,
    'model.hidden': integer(1, 4 * MAX_DIM),
    ...PROJECTION_FIELDS,
  },
  cpuflow: {
    ...BASE_MODEL_FIELDS,
    'model.stateDim': integer(1, MAX_DIM),
    'model.ffnHidden': integer(1, 4 * MAX_DIM),
    'model.scanEps': number(0, 1, { aboveMin: true }),
    ...PROJECTION_FIELDS,
  },
  mof: {
    ...BASE_MODEL_FIELDS,
    'model.heads': integer(1, 256),
    'model.gruMult': number(0, 16, { aboveMin: true }),
    'model.ffnMult': number(0, 16, { aboveMin: true }),
    'model.routerDim': integer(1, MAX_DIM),
    ...PROJECTION_FIELDS,
    'model.frozenLayers': integer(0, 64),
    'model.embeddingMix': boolean,
  },
  bitnet: {
    ...BASE_MODEL_FIELDS,
    'model.heads': integer(1, 256),
    'model.kvHeads': integer(1, 256),
    'model.ffnMult': number(0, 16, { aboveMin: true }),
    'model.ffnHidden': { ...integer(1, 4 * MAX_DIM), optional: true },
    'model.ffn': oneOf('swiglu', 'relu2'),
    'model.ropeTheta': number(1, 1e9),
    ...PROJECTION_FIELDS,
    'model.inputNorm': { ...boolean, optional: true },
    'model.normEps': { ...number(0, 1, { aboveMin: true }), optional: true },
  },
};

/** The training fields (everything outside `model`), by dotted path. */
export const TRAIN_FIELDS: Record<string, FieldRule> = {
  name: { type: 'string', pattern: /^[\w.-]{1,100}$/, expected: 'a name of 1 to 100 letters, digits, ".", "-" or "_" (it names the run folder)' },
  batchSize: integer(1, 4096),
  seqLen: integer(1, MAX_CONTEXT),
  curriculum: { type: 'curriculum', maxPhases: 64 },
  optimizer: oneOf('adamw', 'muon', 'normuon'),
  lr: number(0, 10, { aboveMin: true }),
  muonLr: number(0, 10, { aboveMin: true }),
  schedule: oneOf('cosine', 'wsd'),
  warmupSteps: integer(0, MAX_COUNT),
  minLrRatio: number(0, 1),
  decayFraction: number(0, 1),
  weightDecay: number(0, 10),
  beta1: number(0, 1, { belowMax: true }),
  beta2: number(0, 1, { belowMax: true }),
  gradClip: number(0, 1e6), // 0: no clipping
  gradAccumulation: integer(1, 1024),
  ternaryStart: integer(0, MAX_COUNT),
  logEvery: integer(1, MAX_COUNT),
  evalEvery: integer(1, MAX_COUNT),
  evalBatches: integer(1, 1e6),
  sampleTokens: integer(0, MAX_CONTEXT),
  checkpointMinutes: number(0, 1e6, { aboveMin: true }),
  seed: integer(0, MAX_SEED),
  initEmbeddings: { type: 'string', pattern: /^(random|corpus|gpt2:.+)$/, expected: 'random, corpus or gpt2:<model.safetensors>' },
  report: boolean,
  'fsp.alpha': number(0, 1000),
  'fsp.tau': integer(1, MAX_CONTEXT),
  'fsp.rate': integer(1, MAX_CONTEXT),
  'fsp.posWeight': number(0, 1e6, { aboveMin: true }),
};

/** Every field of a config whose model is of `family`. */
export function configFields(family: ModelFamily): Record<string, FieldRule> {
  return { ...TRAIN_FIELDS, ...MODEL_FIELDS[family] };
}

/** Paths that hold a group of fields (model, model.head), derived from the table. */
function groupsOf(fields: Record<string, FieldRule>): Set<string> {
  return new Set(Object.keys(fields).flatMap((path) => {
    const parts = path.split('.');
    return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('.'));
  }));
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Refuse fields the schema of a `family` config does not know, suggesting the nearest known one. */
function checkFieldNames(value: unknown, prefix: string, family: ModelFamily): void {
  const group = prefix === '' ? 'the config' : `config field '${prefix}'`;
  if (!isPlainObject(value)) throw new TernlmError(`${group} must be an object of fields, got ${JSON.stringify(value)}`);
  const fields = configFields(family);
  const groups = groupsOf(fields);
  for (const [key, child] of Object.entries(value)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    if (groups.has(path)) checkFieldNames(child, path, family);
    else if (!(path in fields)) throw new TernlmError(`unknown config field '${path}' — ${suggestField(path, family)}`);
  }
}

function suggestField(path: string, family: ModelFamily): string {
  const owners = MODEL_FAMILIES.filter((f) => path in MODEL_FIELDS[f]);
  if (owners.length > 0) return `it is a field of ${owners.join(' and ')} models, and this config's model.family is ${family}`;
  const fields = configFields(family);
  const known = [...Object.keys(fields), ...groupsOf(fields)];
  // A misspelt path, or a nested field's own name given alone ('dim' for 'model.dim').
  const near = closestName(path, known) ?? known.find((p) => p.endsWith(`.${path}`));
  if (near) return `did you mean '${near}'?`;
  const dot = path.lastIndexOf('.');
  if (dot < 0) return 'the fields are listed in docs/training.md ("Config fields")';
  const group = path.slice(0, dot);
  const members = known.filter((p) => p.startsWith(`${group}.`) && !p.slice(group.length + 1).includes('.'));
  return `the fields of ${group} are ${members.map((p) => p.slice(group.length + 1)).join(', ')}`;
}

function valueAt(c: unknown, path: string): unknown {
  let node = c;
  for (const key of path.split('.')) node = isPlainObject(node) ? node[key] : undefined;
  return node;
}

/** Why `v` breaks `rule`, or null when it keeps it. */
function ruleBroken(rule: FieldRule, v: unknown): string | null {
  switch (rule.type) {
    case 'integer':
      return Number.isInteger(v) && inRange(v as number, rule) ? null : describeRange(rule, true);
    case 'number':
      return typeof v === 'number' && inRange(v, rule) ? null : describeRange(rule, false);
    case 'enum':
      return typeof v === 'string' && rule.values.includes(v) ? null : `one of ${rule.values.join(', ')}`;
    case 'boolean':
      return typeof v === 'boolean' ? null : 'true or false';
    case 'string':
      return typeof v === 'string' && rule.pattern.test(v) ? null : rule.expected;
    case 'integers': {
      const ok = Array.isArray(v) && v.length >= 1 && v.length <= rule.maxLength &&
        v.every((x, i) => Number.isInteger(x) && x >= rule.min && x <= rule.max && (!rule.increasing || i === 0 || x > v[i - 1]));
      return ok ? null : `a list of 1 to ${rule.maxLength} ${rule.increasing ? 'increasing ' : ''}integers from ${rule.min} to ${rule.max}`;
    }
    case 'precisions': {
      const expected = `an object of at most ${rule.maxPatterns} projection patterns (globs like "blocks.*.attn.*" or /regex/), each to ternary, int8 or fp32`;
      if (!isPlainObject(v) || Object.keys(v).length > rule.maxPatterns) return expected;
      for (const [pattern, precision] of Object.entries(v)) {
        if (pattern === '' || patternRegExp(pattern) === null) return `${expected} ('${pattern}' is not a valid pattern)`;
        if (precision !== 'ternary' && precision !== 'int8' && precision !== 'fp32') return `${expected} ('${pattern}' is set to ${JSON.stringify(precision)})`;
      }
      return null;
    }
    case 'curriculum': {
      const phases = `a list of at most ${rule.maxPhases} phases {"seqLen": 1 to ${MAX_CONTEXT}, "until": greater than the phase before and at most 1}`;
      if (!Array.isArray(v) || v.length > rule.maxPhases) return phases;
      for (const [i, phase] of v.entries()) {
        if (!isPlainObject(phase)) return phases;
        for (const key of Object.keys(phase)) if (key !== 'seqLen' && key !== 'until') return `${phases} (phase ${i + 1} has an unknown field '${key}')`;
        const { seqLen, until } = phase;
        const previous = i > 0 ? (v[i - 1] as CurriculumPhase).until : 0;
        if (!(Number.isInteger(seqLen) && (seqLen as number) >= 1 && (seqLen as number) <= MAX_CONTEXT)) return phases;
        if (!(typeof until === 'number' && until > previous && until <= 1)) return phases;
      }
      return null;
    }
  }
}

/**
 * Bytes of wasm memory a training run of this config needs, roughly: 16 per layer-stack
 * parameter (weight, gradient, two AdamW moments) plus the float activations kept for the
 * backward pass, per token and layer (and pass). The embedding and head depend on the
 * vocabulary, which only the data knows; they get the rest.
 */
function trainingBytes(c: TrainConfig): number {
  const m = c.model;
  const d = m.dim;
  let layerParams: number, activationsPerLayer: number, passes = 1;
  switch (m.family) {
    case 'flashlm': {
      const hidden = gluHidden(m);
      layerParams = 2 * d + m.kernelSize * d + d * d + 3 * d * hidden;
      activationsPerLayer = 6 * d + 4 * hidden;
      passes = m.recurrence;
      break;
    }
    case 'gpt2':
      layerParams = 12 * d * d + 13 * d;
      activationsPerLayer = 20 * d;
      break;
    case 'mmfree': {
      const hidden = mmfreeFfnHidden(m);
      layerParams = 4 * d * d + 3 * d * hidden + 2 * d;
      activationsPerLayer = 24 * d + 6 * hidden;
      break;
    }
    case 'flashlm-mlp': {
      // Per layer on average: its weights; activations: the input, its norm and 8-bit copy, the output and its ReLU.
      const shapes = mlpShapes(m);
      layerParams = shapes.reduce((n, [i, o]) => n + i * o, 2 * d) / m.layers;
      activationsPerLayer = shapes.reduce((n, [i, o]) => n + 3 * i + 2 * o, 6 * d) / m.layers;
      break;
    }
    case 'cpuflow': {
      const k = m.stateDim, hidden = m.ffnHidden;
      layerParams = 3 * d * k + k * k + k * d + 2 * d * hidden + 4 * d;
      activationsPerLayer = 12 * d + 12 * k + 3 * hidden;
      break;
    }
    case 'mof': {
      // GRU expert (F, C, O), attention (Q, K, V, O), thought, GLU, router; scores (T per head) per token.
      const gru = mofGruWidth(m), hidden = mofFfnHidden(m), r = m.routerDim;
      layerParams = 3 * d * gru + 5 * d * d + 3 * d * hidden + 2 * d * r + 2 * r + 8 * d + 2;
      activationsPerLayer = 8 * gru + 30 * d + 6 * hidden + 6 * r + 4 * m.heads * longestSeqLen(c);
      break;
    }
    case 'bitnet': {
      const hidden = ffnHidden(m), kvDim = (d / m.heads) * m.kvHeads;
      layerParams = 2 * d * d + 2 * d * kvDim + 3 * d * hidden + 2 * d;
      activationsPerLayer = 14 * d + 4 * kvDim + 6 * hidden;
      break;
    }
  }
  return 16 * m.layers * layerParams + 4 * c.batchSize * longestSeqLen(c) * m.layers * passes * activationsPerLayer;
}

/** Shape rules between model fields that no single field's range can say. */
function checkModelShape(m: TrainConfig['model']): void {
  if (m.family === 'flashlm-mlp' && m.layers < 2) throw new TernlmError(`config: a flashlm-mlp model needs model.layers of at least 2 (dim -> hidden ... hidden -> dim), got ${m.layers}`);
  if (m.family === 'flashlm' || m.family === 'mmfree' || m.family === 'flashlm-mlp' || m.family === 'cpuflow') return;
  if (m.family === 'mof' && m.frozenLayers > m.layers) {
    throw new TernlmError(`config: model.frozenLayers ${m.frozenLayers} is more than model.layers ${m.layers} — freeze at most every layer`);
  }
  if (m.dim % m.heads !== 0) throw new TernlmError(`config: model.dim ${m.dim} must be a multiple of model.heads ${m.heads}`);
  if (m.family === 'bitnet') {
    if (m.heads % m.kvHeads !== 0) throw new TernlmError(`config: model.heads ${m.heads} must be a multiple of model.kvHeads ${m.kvHeads}`);
    if ((m.dim / m.heads) % 2 !== 0) throw new TernlmError(`config: the head size model.dim / model.heads = ${m.dim / m.heads} must be even for rotary positions`);
  }
}

/** 3 of the 4 GiB of wasm32 memory; the last GiB is for the embedding, head and logits. */
const TRAINING_BYTES_LIMIT = 3 * 2 ** 30;

function validate(c: TrainConfig): void {
  for (const [path, rule] of Object.entries(configFields(c.model.family))) {
    const v = valueAt(c, path);
    if (v === undefined && rule.optional) continue;
    const expected = ruleBroken(rule, v);
    if (expected !== null) throw new TernlmError(`config: ${path} must be ${expected}, got ${JSON.stringify(v) ?? 'nothing'}`);
  }
  checkModelShape(c.model);
  const maxT = longestSeqLen(c);
  if (c.fsp.alpha > 0 && c.fsp.tau >= maxT) throw new TernlmError(`config: fsp.tau ${c.fsp.tau} leaves no position of a ${maxT}-token sequence with that many targets after it — make fsp.tau smaller than seqLen, or set fsp.alpha 0`);
  if (maxT > c.model.contextLength) throw new TernlmError(`config: sequence length ${maxT} exceeds model.contextLength ${c.model.contextLength}`);
  const bytes = trainingBytes(c);
  if (bytes > TRAINING_BYTES_LIMIT) {
    throw new TernlmError(`config: this model and batch need about ${(bytes / 2 ** 30).toFixed(1)} GiB for parameters, optimizer state and activations, more than the 3 GiB of the 4 GiB wasm memory left for them — make model.dim, model.layers, the feed-forward width, batchSize or seqLen smaller`);
  }
}

/** The longest sequence a run trains on: the base length or a curriculum phase's. */
function longestSeqLen(c: TrainConfig): number {
  return Math.max(c.seqLen, ...c.curriculum.map((p) => p.seqLen));
}

/** Sequence length at run progress p in [0, 1]. */
export function seqLenAt(c: TrainConfig, progress: number): number {
  for (const phase of c.curriculum) if (progress < phase.until) return phase.seqLen;
  return c.curriculum.length > 0 ? c.curriculum[c.curriculum.length - 1].seqLen : c.seqLen;
}
