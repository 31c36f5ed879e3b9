// What the engines on exported files (flashlm, gpt2, bitnet, mmfree, cpuflow, flashlm-mlp, mof) share: the file's weights
// in the wasm heap, the projection y = W x of one or more rows as training computes it, the
// output head, the KV cache, the memory of a state, and the batch workspace of the recurrent
// engines.
import { noGrad } from '../core/autograd.js';
import { TernlmError } from '../core/errors.js';
import * as K from '../core/kernels.js';
import { attentionDecode } from '../core/kernels-infer.js';
import { Rng } from '../core/rng.js';
import { Tensor, type DType } from '../core/tensor.js';
import { tokenizerFromJSON, type Tokenizer } from '../data/tokenizer.js';
import { headFromConfig, type Head } from '../heads/index.js';
import type { SafetensorsFile } from '../io/safetensors.js';
import type { ModelConfig, ModelFamily } from '../models/index.js';
import type { InferenceModel, InferenceState } from './model.js';
import { openPacked, readInt8Weight, readPackedTrits, type PackedMeta } from './packed.js';

/**
 * A projection y = W x, W (N x K) in the heap: ternary weights 2-bit packed (rows of
 * ternaryPaddedK(K) / 4 bytes) with their scale, times 8-bit activations; or an f32 matrix times
 * float activations. Int8 weights and ternary weights whose layer keeps float activations are
 * expanded to f32 at load: exactly the weights training multiplies by.
 */
export type Projection =
  | { kind: 'ternary-8bit-activations'; N: number; K: number; packed: number; alpha: number }
  | { kind: 'float'; N: number; K: number; weight: number };

/** Output rows [start, start + count) of a projection, as a projection of their own (a view). */
export function projectionRows(p: Projection, start: number, count: number): Projection {
  if (start < 0 || count < 1 || start + count > p.N) throw new Error(`projectionRows: rows [${start}, ${start + count}) of ${p.N}`);
  return p.kind === 'float'
    ? { ...p, N: count, weight: p.weight + start * p.K * 4 }
    : { ...p, N: count, packed: p.packed + start * (K.ternaryPaddedK(p.K) / 4) };
}

/** The tensors of one inference state, allocated together once and freed together. */
export class StateBuffers {
  private readonly tensors: Tensor[] = [];

  empty(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    return this.add(Tensor.empty(shape, dtype));
  }

  zeros(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    return this.add(Tensor.zeros(shape, dtype));
  }

  dispose(): void {
    for (const t of this.tensors) t.dispose();
    this.tensors.length = 0;
  }

  private add(t: Tensor): Tensor {
    this.tensors.push(t);
    return t;
  }
}

/** Runs the projections of one state, up to `maxRows` rows at a time; holds their 8-bit activations. */
export class Projector {
  private readonly q: Tensor; // (maxRows, ternaryPaddedK(maxK)) int16
  private readonly scales: Tensor; // (maxRows)

  constructor(buffers: StateBuffers, readonly maxRows: number, maxK: number) {
    this.q = buffers.empty([maxRows * K.ternaryPaddedK(maxK)], 'i16');
    this.scales = buffers.empty([maxRows]);
  }

  /** y (rows, p.N) (+)= x (rows, p.K) . W^T */
  run(p: Projection, x: number, y: number, rows: number, accumulate: boolean): void {
    if (rows > this.maxRows) throw new Error(`Projector: ${rows} rows, room for ${this.maxRows}`);
    if (p.kind === 'ternary-8bit-activations') {
      const Kp = K.ternaryPaddedK(p.K);
      K.quantizeRowsI8(x, rows, p.K, this.q.ptr, Kp, this.scales.ptr);
      K.ternaryMatvecPacked(this.q.ptr, this.scales.ptr, p.packed, p.alpha, y, p.N, rows, p.N, Kp, accumulate);
    } else if (rows === 1) {
      K.matvec(p.N, p.K, p.weight, p.K, x, y, accumulate);
    } else {
      K.matmul(rows, p.N, p.K, x, false, p.weight, true, y, accumulate);
    }
  }
}

/** y (rows, N) += bias (N) on every row. */
export function addBias(y: number, bias: number, N: number, rows: number): void {
  K.binaryForward('add', y, bias, N, y, rows * N);
}

/**
 * Keys and values of every layer at every position a state can hold (rows of kvDim =
 * kvHeads * headSize floats), and the attention weights' scratch.
 */
export class KVCache {
  readonly keys: Tensor; // (layers, positions, kvDim)
  readonly values: Tensor; // (layers, positions, kvDim)
  private readonly att: Tensor; // (heads, positions)
  private readonly kvDim: number;

  constructor(buffers: StateBuffers, layers: number, readonly positions: number, readonly heads: number, readonly kvHeads: number, readonly headSize: number) {
    this.kvDim = kvHeads * headSize;
    this.keys = buffers.empty([layers, positions, this.kvDim]);
    this.values = buffers.empty([layers, positions, this.kvDim]);
    this.att = buffers.empty([heads, positions]);
  }

  /** Byte offset of layer l's key row at position pos. */
  key(l: number, pos: number): number {
    return this.keys.ptr + (l * this.positions + pos) * this.kvDim * 4;
  }

  /** Byte offset of layer l's value row at position pos. */
  value(l: number, pos: number): number {
    return this.values.ptr + (l * this.positions + pos) * this.kvDim * 4;
  }

  /**
   * out (rows, heads * headSize) = causal attention of the queries q (rows, heads * headSize)
   * at positions pos.. pos + rows - 1 over layer l's cache, each up to its own position.
   */
  attend(l: number, q: number, out: number, pos: number, rows: number): void {
    const width = this.heads * this.headSize * 4;
    for (let i = 0; i < rows; i++) {
      attentionDecode(q + i * width, this.key(l, 0), this.value(l, 0), this.att.ptr, out + i * width,
        pos + i + 1, this.heads, this.kvHeads, this.headSize, this.positions);
    }
  }
}

/** Refuse a token id outside the vocabulary. */
export function checkToken(token: number, vocabSize: number): void {
  if (!(Number.isInteger(token) && token >= 0 && token < vocabSize)) {
    throw new TernlmError(`token id ${token} is outside the vocabulary (0..${vocabSize - 1})`);
  }
}

/**
 * The model's output head at inference: the classifier matrix of a full softmax (the token
 * embedding when tied), or a hierarchical / adaptive head rebuilt from the file.
 */
export class OutputHead {
  constructor(private readonly classifier: Tensor | null, private readonly head: Head | null, readonly vocabSize: number, readonly dim: number) {}

  /**
   * out (rows, vocabSize) = next-token logits of the hidden rows h (rows, dim), rows = h.size / dim:
   * log-probabilities for a head other than the full softmax. One row is a matrix-vector product,
   * several one product over all of them.
   */
  logits(h: Tensor, out: Tensor): void {
    const rows = h.size / this.dim;
    if (this.classifier) {
      if (rows === 1) K.matvec(this.vocabSize, this.dim, this.classifier.ptr, this.dim, h.ptr, out.ptr, false);
      else K.matmul(rows, this.vocabSize, this.dim, h.ptr, false, this.classifier.ptr, true, out.ptr, false);
      return;
    }
    noGrad(() => {
      const lp = this.head!.logProbs(h.reshape([rows, this.dim]));
      K.scale(lp.ptr, 1, out.ptr, rows * this.vocabSize, false);
      lp.dispose();
    });
  }

  dispose(): void {
    this.head?.dispose();
  }
}

type ConfigOf<F extends ModelFamily> = Extract<ModelConfig, { family: F }>;

/**
 * The tensors of an exported file in the heap, read by name as an engine builds itself. close()
 * when everything is read; dispose() frees the tensors with the engine.
 */
/** Epsilons of src/nn/layers.ts: LayerNorm's, and RMSNorm's (gain norms and BitLinear's input norm). */
export const LAYER_NORM_EPS = 1e-5;
export const RMS_NORM_EPS = 1e-6;

/** A LayerNorm's gain and bias: pointers to dim floats each. */
export interface LayerNormWeights {
  weight: number;
  bias: number;
}

export class PackedWeights<C extends ModelConfig = ModelConfig> {
  private file: SafetensorsFile | null;
  private readonly tensors: Tensor[] = [];
  private outputHead: OutputHead | null = null;

  private constructor(readonly path: string, file: SafetensorsFile, readonly meta: PackedMeta, readonly config: C, readonly tokenizer: Tokenizer) {
    this.file = file;
  }

  /** Open an exported file of `family` (`what` names the family in the refusal of another one). */
  static open<F extends ModelFamily>(path: string, family: F, what: string): PackedWeights<ConfigOf<F>> {
    const { file, meta } = openPacked(path);
    try {
      if (meta.config.family !== family) throw new TernlmError(`${path} holds a ${meta.config.family} model, not a ${what}`);
      return new PackedWeights(path, file, meta, meta.config as ConfigOf<F>, tokenizerFromJSON(meta.tokenizer, path));
    } catch (err) {
      file.close();
      throw err;
    }
  }

  /** What `read` builds from the file's tensors; then the file is closed, and on failure everything read is freed. */
  build<T>(read: (w: this) => T): T {
    try {
      return read(this);
    } catch (err) {
      this.dispose();
      throw err;
    } finally {
      this.close();
    }
  }

  /** A LayerNorm's gain and bias (`<name>.weight`, `<name>.bias`, dim floats each). */
  layerNorm(name: string, dim: number): LayerNormWeights {
    return { weight: this.float(`${name}.weight`, [dim]).ptr, bias: this.float(`${name}.bias`, [dim]).ptr };
  }

  /** A float tensor (f16 in the file is widened to f32), checked against `shape` when given. */
  float(name: string, shape?: readonly number[]): Tensor {
    const file = this.open();
    if (!file.has(name)) throw new TernlmError(`${this.path} has no tensor '${name}' — the file is not a complete ${this.config.family} export`);
    const info = file.info(name);
    if (shape && info.shape.join() !== shape.join()) {
      throw new TernlmError(`${this.path}: '${name}' is [${info.shape.join(', ')}], the config says [${shape.join(', ')}]`);
    }
    return this.adopt(Tensor.from(file.readF32(name), info.shape));
  }

  /** The weight `<name>.weight` (N x K) as the export stores it: ternary, int8 or float. */
  projection(name: string, N: number, Kd: number): Projection {
    const file = this.open();
    const weightName = `${name}.weight`;
    const tern = this.meta.ternary[weightName];
    const int8 = this.meta.int8[weightName];
    const stored = tern ?? int8;
    if (stored && (stored.N !== N || stored.K !== Kd)) throw new TernlmError(`${this.path}: '${weightName}' is ${stored.N}x${stored.K}, the config says ${N}x${Kd}`);
    if (tern) {
      const packed = readPackedTrits(file, weightName, tern);
      const alpha = file.readF32(`${weightName}.alpha`)[0];
      if (tern.quantizeActivations) return { kind: 'ternary-8bit-activations', N, K: Kd, packed: this.adopt(packed).ptr, alpha };
      // Float activations: training multiplies them by alpha * T in f32.
      const weight = Tensor.empty([N, Kd]);
      K.ternaryUnpackF32(packed.ptr, alpha, weight.ptr, N, Kd);
      packed.dispose();
      return { kind: 'float', N, K: Kd, weight: this.adopt(weight).ptr };
    }
    if (int8) return { kind: 'float', N, K: Kd, weight: this.adopt(readInt8Weight(file, weightName, int8)).ptr };
    return { kind: 'float', N, K: Kd, weight: this.float(weightName, [N, Kd]).ptr };
  }

  /** The output head; a tied full softmax (and a two-level head's word level) reads `embedding` (vocab, dim). */
  head(embedding: Tensor): OutputHead {
    const c = this.config, file = this.open();
    let head: OutputHead;
    if (this.meta.head === null || this.meta.head.kind === 'softmax') {
      head = new OutputHead(c.head.tied ? embedding : this.float('head.weight', [c.vocabSize, c.dim]), null, c.vocabSize, c.dim);
    } else {
      const rebuilt = headFromConfig(this.meta.head, new Rng(0), embedding);
      head = new OutputHead(null, rebuilt, c.vocabSize, c.dim);
      for (const { name, tensor } of rebuilt.namedParameters()) tensor.f32().set(file.readF32(`head.${name}`));
    }
    this.outputHead = head;
    return head;
  }

  /** Everything is read: close the file (the tensors stay). */
  close(): void {
    this.file?.close();
    this.file = null;
  }

  /** Free every tensor read (and the head); the engine is unusable afterwards. */
  dispose(): void {
    this.close();
    for (const t of this.tensors) t.dispose();
    this.tensors.length = 0;
    this.outputHead?.dispose();
    this.outputHead = null;
  }

  /** Free `t` with the weights (a table the engine computes from them). */
  adopt(t: Tensor): Tensor {
    this.tensors.push(t.keep());
    return t;
  }

  private open(): SafetensorsFile {
    if (!this.file) throw new Error(`${this.path} is closed: read every tensor before close()`);
    return this.file;
  }
}

/** The sizes a transformer's state is allocated for. */
export interface TransformerShape {
  dim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  contextLength: number;
  vocabSize: number;
  /** Feed-forward hidden width. */
  hidden: number;
}

/** Most prompt positions one forward pass of a transformer takes. */
const PREFILL_ROWS = 32;

/** Activations of up to `rows` positions and the KV cache of one sequence (GPT-2, BitNet), allocated once. */
export class TransformerState implements InferenceState {
  pos = 0;
  /** Most positions one forward pass takes (one for a new token, a chunk of a prompt). */
  readonly rows: number;
  readonly ids: Tensor; // (rows) int32
  readonly x: Tensor; // (rows, dim) residual stream
  readonly xb: Tensor; // (rows, dim) normed input of a block, then attention output
  readonly q: Tensor; // (rows, dim)
  readonly hb: Tensor; // (rows, hidden)
  readonly hb2: Tensor; // (rows, hidden) the second branch of a gated feed-forward
  readonly mean: Tensor; // (rows) a norm's saved statistics, unused at inference
  readonly rstd: Tensor; // (rows)
  readonly h: Tensor; // (dim) the last row's final hidden state
  readonly cache: KVCache;
  readonly projector: Projector;
  readonly logitsTensor: Tensor; // (vocab)
  /** View of logitsTensor; shared wasm memory never detaches, so it stays valid as memory grows. */
  readonly logits: Float32Array;
  private readonly buffers = new StateBuffers();

  constructor(c: TransformerShape) {
    const b = this.buffers, d = c.dim;
    this.rows = Math.min(PREFILL_ROWS, c.contextLength);
    this.ids = b.empty([this.rows], 'i32');
    this.x = b.empty([this.rows, d]);
    this.xb = b.empty([this.rows, d]);
    this.q = b.empty([this.rows, d]);
    this.hb = b.empty([this.rows, c.hidden]);
    this.hb2 = b.empty([this.rows, c.hidden]);
    this.mean = b.empty([this.rows]);
    this.rstd = b.empty([this.rows]);
    this.h = b.empty([d]);
    this.cache = new KVCache(b, c.layers, c.contextLength, c.heads, c.kvHeads, d / c.heads);
    this.projector = new Projector(b, this.rows, Math.max(d, c.hidden));
    this.logitsTensor = b.zeros([c.vocabSize]);
    this.logits = this.logitsTensor.f32();
  }

  dispose(): void {
    this.buffers.dispose();
  }
}

/**
 * A transformer engine with a KV cache on an exported file: a new token is a prompt of one, and
 * a prompt goes through `forward` a chunk of rows at a time. Each family writes its `forward`
 * and `classify`.
 */
export abstract class TransformerEngine<C extends ModelConfig> implements InferenceModel<TransformerState> {
  abstract readonly family: string;
  abstract readonly config: Readonly<Record<string, number | string | boolean>>;
  readonly vocabSize: number;
  /** The positions a state's KV cache holds. */
  readonly contextLength: number;
  readonly startToken: number;
  readonly tokenizer: Tokenizer;

  protected constructor(protected readonly weights: PackedWeights<C>, private readonly shape: TransformerShape) {
    this.vocabSize = shape.vocabSize;
    this.contextLength = shape.contextLength;
    this.tokenizer = weights.tokenizer;
    this.startToken = this.tokenizer.eotId;
  }

  get modelConfig(): C {
    return this.weights.config;
  }

  newState(): TransformerState {
    return new TransformerState(this.shape);
  }

  reset(s: TransformerState): void {
    s.pos = 0;
  }

  step(s: TransformerState, token: number): Float32Array {
    return this.prefill(s, [token]);
  }

  /** Every token is checked first, so a refused prompt changes nothing. */
  prefill(s: TransformerState, tokens: ArrayLike<number>): Float32Array {
    if (tokens.length === 0) throw new TernlmError('prefill needs at least one token');
    for (let i = 0; i < tokens.length; i++) checkToken(tokens[i], this.vocabSize);
    if (s.pos + tokens.length > this.contextLength) throw new TernlmError(`the context is full: this model holds ${this.contextLength} tokens`);
    const ids = s.ids.typed();
    let rows = 0;
    for (let start = 0; start < tokens.length; start += rows) {
      rows = Math.min(s.rows, tokens.length - start);
      for (let i = 0; i < rows; i++) ids[i] = tokens[start + i];
      this.forward(s, rows);
      s.pos += rows;
    }
    this.classify(s, rows - 1);
    return s.logits;
  }

  dispose(): void {
    this.weights.dispose();
  }

  /** Run s.ids[0 .. rows) through every layer at positions s.pos.., leaving the residuals in s.x. */
  protected abstract forward(s: TransformerState, rows: number): void;

  /** s.logits = the next-token logits after row `row` of s.x. */
  protected abstract classify(s: TransformerState, row: number): void;
}

/**
 * A StepEngine state: its family's memory (what carries the past from token to token) and its
 * logits, in buffers freed together; the activations of a pass live in the engine's
 * BatchWorkspace. A family allocates its memory from `buffers` and names it in `memory()`, which
 * `clear` zeroes.
 */
export abstract class StepStateBase implements InferenceState {
  pos = 0;
  protected readonly buffers = new StateBuffers();
  readonly logitsTensor: Tensor; // (vocab)
  /** View of logitsTensor; shared wasm memory never detaches, so it stays valid as memory grows. */
  readonly logits: Float32Array;

  constructor(vocabSize: number) {
    this.logitsTensor = this.buffers.zeros([vocabSize]);
    this.logits = this.logitsTensor.f32();
  }

  /** The tensors that carry the past from token to token. */
  protected abstract memory(): readonly Tensor[];

  /** Back to position 0 with an empty memory. */
  clear(): void {
    this.pos = 0;
    for (const t of this.memory()) t.bytes().fill(0);
  }

  dispose(): void {
    this.buffers.dispose();
  }
}

/** The buffers of one workspace size: `capacity` rows of each. */
interface WorkspaceRows<N extends string> {
  capacity: number;
  named: Record<N, Tensor>; // (capacity, widths[name])
  ids: Tensor; // (capacity) int32
  mean: Tensor; // (capacity) a LayerNorm's saved means, unused at inference
  rstd: Tensor; // (capacity) a norm's saved reciprocal deviations
  logits: Tensor; // (capacity, vocab)
  projector: Projector;
}

/**
 * The activations of one pass of a StepEngine over a batch of rows, row i belonging to sequence
 * i: every buffer the family names (`widths`: floats a row), the token ids, a norm's statistics,
 * the projector's 8-bit activations and the logits. Sized for the largest batch seen: `reserve`
 * reallocates every buffer when a batch has more rows (contents do not carry over).
 */
export class BatchWorkspace<N extends string> {
  private buffers = new StateBuffers();
  private current: WorkspaceRows<N>;

  /** `widestInput`: the longest input row of any projection. */
  constructor(private readonly widths: Readonly<Record<N, number>>, private readonly vocabSize: number, private readonly widestInput: number) {
    this.current = this.allocate(1);
  }

  /** Room for `rows` rows in every buffer. */
  reserve(rows: number): void {
    if (rows <= this.current.capacity) return;
    this.buffers.dispose();
    this.current = this.allocate(rows);
  }

  get ids(): Tensor {
    return this.current.ids;
  }

  get mean(): Tensor {
    return this.current.mean;
  }

  get rstd(): Tensor {
    return this.current.rstd;
  }

  get projector(): Projector {
    return this.current.projector;
  }

  /** Byte offset of buffer `name` (row i at + i * widths[name] * 4). */
  ptr(name: N): number {
    return this.current.named[name].ptr;
  }

  /** The first `rows` rows of buffer `name`, (rows, widths[name]). */
  view(name: N, rows: number): Tensor {
    return this.current.named[name].rows(0, rows);
  }

  /** The first `rows` rows of the logits, (rows, vocab). */
  logits(rows: number): Tensor {
    return this.current.logits.rows(0, rows);
  }

  /**
   * Copy each memory tensor m_i (layers, width) of the batch's states into buffer `name`, laid
   * out (layers, rows, width): layer l of row i at float (l * rows + i) * width, so that a layer's
   * rows are contiguous for the elementwise kernels.
   */
  gather(name: N, memories: readonly Tensor[], layers: number): void {
    this.copyMemory(name, memories, layers, 'in');
  }

  /** The reverse of `gather`: buffer `name`'s rows back into each state's memory tensor. */
  scatter(name: N, memories: readonly Tensor[], layers: number): void {
    this.copyMemory(name, memories, layers, 'out');
  }

  dispose(): void {
    this.buffers.dispose();
  }

  private copyMemory(name: N, memories: readonly Tensor[], layers: number, direction: 'in' | 'out'): void {
    const rows = memories.length, base = this.ptr(name);
    memories.forEach((m, i) => {
      const width = m.size / layers, row = base + i * width * 4;
      if (direction === 'in') K.copyRows(m.ptr, width, 0, row, rows * width, 0, layers, 1, width, false);
      else K.copyRows(row, rows * width, 0, m.ptr, width, 0, layers, 1, width, false);
    });
  }

  private allocate(capacity: number): WorkspaceRows<N> {
    const b = this.buffers;
    const named = {} as Record<N, Tensor>;
    for (const name of Object.keys(this.widths) as N[]) named[name] = b.empty([capacity, this.widths[name]]);
    return {
      capacity, named, ids: b.empty([capacity], 'i32'), mean: b.empty([capacity]), rstd: b.empty([capacity]),
      logits: b.empty([capacity, this.vocabSize]), projector: new Projector(b, capacity, this.widestInput),
    };
  }
}

/**
 * An engine whose state is a fixed-size memory (a recurrence), so that it has no context limit
 * (unless the family sets one: CPUFlow's position table). Every token goes through one pass over
 * a batch of rows in the engine's workspace, row i belonging to state i at its own position: a
 * prompt is passes of one row, `stepBatch` one pass of several. Each family writes `advance` (the
 * batch's tokens through every layer) and `classify` (the logits after the rows just advanced).
 */
export abstract class StepEngine<C extends ModelConfig, S extends StepStateBase> implements InferenceModel<S> {
  abstract readonly family: string;
  abstract readonly config: Readonly<Record<string, number | string | boolean>>;
  readonly vocabSize: number;
  readonly contextLength: number = Infinity;
  readonly startToken: number;
  readonly tokenizer: Tokenizer;
  /** The activations of a pass (the family names its buffers). */
  protected abstract readonly batch: BatchWorkspace<string>;

  protected constructor(protected readonly weights: PackedWeights<C>) {
    this.vocabSize = weights.config.vocabSize;
    this.tokenizer = weights.tokenizer;
    this.startToken = this.tokenizer.eotId;
  }

  get modelConfig(): C {
    return this.weights.config;
  }

  abstract newState(): S;

  reset(s: S): void {
    s.clear();
  }

  step(s: S, token: number): Float32Array {
    return this.prefill(s, [token]);
  }

  /** Every token is checked first, so a refused prompt changes nothing; only the last one is classified. */
  prefill(s: S, tokens: ArrayLike<number>): Float32Array {
    if (tokens.length === 0) throw new TernlmError('prefill needs at least one token');
    for (let i = 0; i < tokens.length; i++) checkToken(tokens[i], this.vocabSize);
    this.checkRoom(s, tokens.length);
    for (let i = 0; i < tokens.length; i++) this.pass([s], [tokens[i]]);
    return this.logitsOf([s])[0];
  }

  /** Every state and token is checked first, so a refused batch moves no state. */
  stepBatch(states: readonly S[], tokens: readonly number[]): Float32Array[] {
    if (states.length !== tokens.length) throw new Error(`stepBatch: ${states.length} states, ${tokens.length} tokens`);
    if (new Set(states).size !== states.length) throw new TernlmError('a batch holds each state once: a sequence takes one token a step');
    for (const token of tokens) checkToken(token, this.vocabSize);
    for (const s of states) this.checkRoom(s, 1);
    if (states.length === 0) return [];
    this.pass(states, tokens);
    return this.logitsOf(states);
  }

  dispose(): void {
    this.batch.dispose();
    this.weights.dispose();
  }

  /**
   * Run the token ids in the workspace's `ids` (one a row) through every layer, row i at
   * position states[i].pos, updating each state's memory.
   */
  protected abstract advance(states: readonly S[]): void;

  /** The workspace's logits (rows, vocab) = the next-token logits after the rows just advanced. */
  protected abstract classify(rows: number): void;

  private checkRoom(s: S, tokens: number): void {
    if (s.pos + tokens > this.contextLength) throw new TernlmError(`the context is full: this model holds ${this.contextLength} tokens`);
  }

  /** One pass: tokens[i] into states[i], each state one position on. */
  private pass(states: readonly S[], tokens: ArrayLike<number>): void {
    this.batch.reserve(states.length);
    this.batch.ids.typed().set(tokens);
    this.advance(states);
    for (const s of states) s.pos++;
  }

  /** Classify the rows just advanced and copy row i's logits into states[i].logits. */
  private logitsOf(states: readonly S[]): Float32Array[] {
    const V = this.vocabSize, logits = this.batch.logits(states.length);
    this.classify(states.length);
    states.forEach((s, i) => K.scale(logits.ptr + i * V * 4, 1, s.logitsTensor.ptr, V, false));
    return states.map((s) => s.logits);
  }
}
