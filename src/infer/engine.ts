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
import type { Tokenizer } from '../data/tokenizer.js';
import { headFromConfig, type Head } from '../heads/index.js';
import type { SafetensorsFile } from '../io/safetensors.js';
import type { ModelConfig, ModelFamily } from '../models/index.js';
import type { InferenceModel, InferenceState } from './model.js';
import { WeightPanels } from './weight-panels.js';
import { readInt8Weight, readPackedTrits, type PackedMeta, type PackedSource } from './packed-format.js';

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

/**
 * Fewer rows than this make a float product one matvec per row instead of a GEMM, which first
 * packs all of W: the rows after the first find W in cache. On 1 thread (native, 2026-12-02), 4
 * rows of 256 x 1024 take 38 µs as matvecs and 70 µs as a GEMM, and GPT-2 4m steps a batch of 4
 * at 1.2-1.5x the speed of 4 single steps this way, 0.7x with GEMMs; from 8 rows on the GEMM wins.
 */
const GEMM_MIN_ROWS = 8;

/** y (rows, N) (+)= x (rows, K) . W^T, W (N x K) f32 at `weight`. */
function floatProduct(weight: number, N: number, Kd: number, x: number, y: number, rows: number, accumulate: boolean): void {
  if (rows >= GEMM_MIN_ROWS) {
    K.matmul(rows, N, Kd, x, false, weight, true, y, accumulate);
    return;
  }
  for (let i = 0; i < rows; i++) K.matvec(N, Kd, weight, Kd, x + i * Kd * 4, y + i * N * 4, accumulate);
}

/**
 * Runs projections of up to `maxRows` rows at a time (a state's, or a batch's); holds their 8-bit
 * activations. A batch's projector multiplies float weights through the engine's `panels` (each
 * weight packed once, see WeightPanels); a state's (prompt chunks) through floatProduct.
 */
export class Projector {
  private readonly q: Tensor; // (maxRows, ternaryPaddedK(maxK)) int16
  private readonly scales: Tensor; // (maxRows)

  constructor(buffers: StateBuffers, readonly maxRows: number, maxK: number, private readonly panels: WeightPanels | null = null) {
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
    } else if (this.panels) {
      this.panels.product(rows, p.N, p.K, p.weight, x, p.K, y, p.N, accumulate);
    } else {
      floatProduct(p.weight, p.N, p.K, x, y, rows, accumulate);
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

  /** Layer l's keys and values at positions pos .. pos + rows - 1 = k, v (rows, kvDim each). */
  store(l: number, pos: number, k: number, v: number, rows: number): void {
    K.copyRows(k, 0, 0, this.key(l, pos), 0, 0, 1, 1, rows * this.kvDim, false);
    K.copyRows(v, 0, 0, this.value(l, pos), 0, 0, 1, 1, rows * this.kvDim, false);
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

/** Refuse `count` more tokens in a state at position `pos` of a context of `contextLength` tokens. */
export function checkRoom(pos: number, count: number, contextLength: number): void {
  if (pos + count > contextLength) throw new TernlmError(`the context is full: this model holds ${contextLength} tokens`);
}

/**
 * The checks every stepBatch makes of its arguments before any work: one token per state, and
 * each state once (a sequence takes one token a step).
 */
export function checkBatchStates(states: readonly InferenceState[], tokens: readonly number[]): void {
  if (states.length !== tokens.length) throw new TernlmError(`stepBatch: ${states.length} states but ${tokens.length} tokens`);
  if (new Set(states).size !== states.length) {
    throw new TernlmError('stepBatch: a state appears twice in one batch — a batch holds each state once (a sequence takes one token a step)');
  }
}

/** Row i of `logits` (rows of vocabSize floats) into states[i]'s logits; returns those views. */
export function scatterLogits(logits: number, states: readonly { logitsTensor: Tensor; logits: Float32Array }[], vocabSize: number): Float32Array[] {
  return states.map((s, i) => {
    K.copyRows(logits + i * vocabSize * 4, 0, 0, s.logitsTensor.ptr, 0, 0, 1, 1, vocabSize, false);
    return s.logits;
  });
}

/**
 * The model's output head at inference: the classifier matrix of a full softmax (the token
 * embedding when tied), or a hierarchical / adaptive head rebuilt from the file.
 */
export class OutputHead {
  constructor(
    private readonly classifier: Tensor | null, private readonly head: Head | null, readonly vocabSize: number, readonly dim: number,
    private readonly panels: WeightPanels,
  ) {}

  /**
   * out (rows, vocabSize) = next-token logits of the hidden rows h (rows, dim; one row: dim):
   * log-probabilities for a head other than the full softmax. One row is a matrix-vector product,
   * several (a batch) one GEMM on the classifier packed once (WeightPanels).
   */
  logits(h: Tensor, out: Tensor): void {
    const rows = h.size / this.dim;
    if (this.classifier) {
      this.panels.product(rows, this.vocabSize, this.dim, this.classifier.ptr, h.ptr, this.dim, out.ptr, this.vocabSize, false);
    } else {
      noGrad(() => {
        const lp = this.head!.logProbs(h.reshape([rows, this.dim]));
        K.scale(lp.ptr, 1, out.ptr, rows * this.vocabSize, false);
        lp.dispose();
      });
    }
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
  /** The float weights packed for batches' GEMMs, made as batches meet them; freed with the weights. */
  readonly panels = new WeightPanels();

  private constructor(readonly path: string, file: SafetensorsFile, readonly meta: PackedMeta, readonly config: C, readonly tokenizer: Tokenizer) {
    this.file = file;
  }

  /**
   * The weights of an opened export of `family` (`what` names the family in the refusal of
   * another one); they own its file from here on (read by the engine, then closed).
   */
  static open<F extends ModelFamily>(source: PackedSource, family: F, what: string): PackedWeights<ConfigOf<F>> {
    const { file, meta, tokenizer } = source;
    try {
      if (meta.config.family !== family) throw new TernlmError(`${file.path} holds a ${meta.config.family} model, not a ${what}`);
      return new PackedWeights(file.path, file, meta, meta.config as ConfigOf<F>, tokenizer);
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
      head = new OutputHead(c.head.tied ? embedding : this.float('head.weight', [c.vocabSize, c.dim]), null, c.vocabSize, c.dim, this.panels);
    } else {
      const rebuilt = headFromConfig(this.meta.head, new Rng(0), embedding);
      head = new OutputHead(null, rebuilt, c.vocabSize, c.dim, this.panels);
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
    this.panels.dispose();
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

/**
 * The activations of up to `rows` rows of one transformer forward pass (GPT-2, BitNet), each row
 * at its own place (see Span): a chunk of one prompt, or the new token of each of several states.
 */
export class TransformerActivations {
  readonly ids: Tensor; // (rows) int32
  readonly x: Tensor; // (rows, dim) residual stream
  readonly xb: Tensor; // (rows, dim) normed input of a block, then attention output
  readonly q: Tensor; // (rows, dim)
  readonly k: Tensor; // (rows, kvDim) the rows' keys and values, then copied into their caches
  readonly v: Tensor; // (rows, kvDim)
  readonly hb: Tensor; // (rows, hidden)
  readonly hb2: Tensor; // (rows, hidden) the second branch of a gated feed-forward
  readonly mean: Tensor; // (rows) a norm's saved statistics, unused at inference
  readonly rstd: Tensor; // (rows)
  readonly h: Tensor; // (rows, dim) final hidden states of the rows classified
  readonly projector: Projector;

  /** `panels`: the engine's, for a batch's activations (see Projector). */
  constructor(b: StateBuffers, c: TransformerShape, readonly rows: number, panels: WeightPanels | null = null) {
    const d = c.dim, kvDim = (c.kvHeads * d) / c.heads;
    this.ids = b.empty([rows], 'i32');
    this.x = b.empty([rows, d]);
    this.xb = b.empty([rows, d]);
    this.q = b.empty([rows, d]);
    this.k = b.empty([rows, kvDim]);
    this.v = b.empty([rows, kvDim]);
    this.hb = b.empty([rows, c.hidden]);
    this.hb2 = b.empty([rows, c.hidden]);
    this.mean = b.empty([rows]);
    this.rstd = b.empty([rows]);
    this.h = b.empty([rows, d]);
    this.projector = new Projector(b, rows, Math.max(d, c.hidden), panels);
  }
}

/** Rows [row, row + rows) of a forward pass: positions pos .. pos + rows - 1 of the state whose cache this is. */
export interface Span {
  readonly cache: KVCache;
  readonly pos: number;
  readonly row: number;
  readonly rows: number;
}

/** The KV cache of one sequence (GPT-2, BitNet), the activations of its prompt chunks and its logits, allocated once. */
export class TransformerState implements InferenceState {
  pos = 0;
  /** Up to PREFILL_ROWS positions of this sequence (a chunk of a prompt, or a new token). */
  readonly activations: TransformerActivations;
  readonly cache: KVCache;
  readonly logitsTensor: Tensor; // (vocab)
  /** View of logitsTensor; shared wasm memory never detaches, so it stays valid as memory grows. */
  readonly logits: Float32Array;
  private readonly buffers = new StateBuffers();

  constructor(c: TransformerShape) {
    const b = this.buffers;
    this.activations = new TransformerActivations(b, c, Math.min(PREFILL_ROWS, c.contextLength));
    this.cache = new KVCache(b, c.layers, c.contextLength, c.heads, c.kvHeads, c.dim / c.heads);
    this.logitsTensor = b.zeros([c.vocabSize]);
    this.logits = this.logitsTensor.f32();
  }

  dispose(): void {
    this.buffers.dispose();
  }
}

/** The activations and logits of a transformer's stepBatch pass of up to `rows` sequences, allocated together. */
class TransformerBatch {
  readonly activations: TransformerActivations;
  readonly logits: Tensor; // (rows, vocab)
  private readonly buffers = new StateBuffers();

  constructor(c: TransformerShape, readonly rows: number, panels: WeightPanels) {
    this.activations = new TransformerActivations(this.buffers, c, rows, panels);
    this.logits = this.buffers.empty([rows, c.vocabSize]);
  }

  dispose(): void {
    this.buffers.dispose();
  }
}

/**
 * A transformer engine with a KV cache on an exported file. One forward pass runs rows that each
 * sit at their own place (Span): a prompt goes through a chunk of rows at a time (a new token is
 * a prompt of one), and stepBatch runs the new token of each of several states as one row each,
 * so every projection and the head make one pass over the weights for all of them. Each family
 * writes its `forward` and `classify`.
 */
export abstract class TransformerEngine<C extends ModelConfig> implements InferenceModel<TransformerState> {
  abstract readonly family: string;
  abstract readonly config: Readonly<Record<string, number | string | boolean>>;
  readonly vocabSize: number;
  /** The positions a state's KV cache holds. */
  readonly contextLength: number;
  readonly startToken: number;
  readonly tokenizer: Tokenizer;
  /** stepBatch's activations, for the largest batch so far (grown when a larger one comes). */
  private batch: TransformerBatch | null = null;

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
    checkRoom(s.pos, tokens.length, this.contextLength);
    const a = s.activations, ids = a.ids.typed();
    let rows = 0;
    for (let start = 0; start < tokens.length; start += rows) {
      rows = Math.min(a.rows, tokens.length - start);
      for (let i = 0; i < rows; i++) ids[i] = tokens[start + i];
      this.forward(a, [{ cache: s.cache, pos: s.pos, row: 0, rows }], rows);
      s.pos += rows;
    }
    this.classify(a, rows - 1, 1, s.logitsTensor);
    return s.logits;
  }

  /**
   * Row i of one forward pass is tokens[i] at states[i]'s position; the logits of all rows come
   * out of one product with the head, then go into each state's logits. Everything is checked
   * first (tokens, room, no state twice), so a refused batch moves no state.
   */
  stepBatch(states: readonly TransformerState[], tokens: readonly number[]): Float32Array[] {
    checkBatchStates(states, tokens);
    for (const token of tokens) checkToken(token, this.vocabSize);
    for (const s of states) checkRoom(s.pos, 1, this.contextLength);
    const B = states.length;
    if (B === 0) return [];
    if (!this.batch || this.batch.rows < B) {
      this.batch?.dispose();
      this.batch = null; // so that a failed allocation leaves no freed workspace behind
      this.batch = new TransformerBatch(this.shape, B, this.weights.panels);
    }
    const { activations: a, logits } = this.batch;
    a.ids.typed().set(tokens);
    this.forward(a, states.map((s, i) => ({ cache: s.cache, pos: s.pos, row: i, rows: 1 })), B);
    this.classify(a, 0, B, logits);
    for (const s of states) s.pos++;
    return scatterLogits(logits.ptr, states, this.vocabSize);
  }

  dispose(): void {
    this.batch?.dispose();
    this.batch = null;
    this.weights.dispose();
  }

  /**
   * Layer l's attention for every span: the keys and values of its rows (a.k, a.v) go into its
   * cache at its positions, then out (rows, dim) = attention of its queries (a.q) over that
   * cache, each row up to its own position.
   */
  protected attend(l: number, a: TransformerActivations, spans: readonly Span[], out: number): void {
    const kvWidth = a.k.shape[1] * 4, width = a.q.shape[1] * 4;
    for (const { cache, pos, row, rows } of spans) {
      cache.store(l, pos, a.k.ptr + row * kvWidth, a.v.ptr + row * kvWidth, rows);
      cache.attend(l, a.q.ptr + row * width, out + row * width, pos, rows);
    }
  }

  /** Run a.ids[0 .. rows) through every layer, each span's rows at its positions, leaving the residuals in a.x. */
  protected abstract forward(a: TransformerActivations, spans: readonly Span[], rows: number): void;

  /** out (count, vocab) = the next-token logits after rows [row, row + count) of a.x. */
  protected abstract classify(a: TransformerActivations, row: number, count: number, out: Tensor): void;
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

  /** `widestInput`: the longest input row of any projection; `panels`: the engine's (see Projector). */
  constructor(
    private readonly widths: Readonly<Record<N, number>>, private readonly vocabSize: number, private readonly widestInput: number,
    private readonly panels: WeightPanels,
  ) {
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
      logits: b.empty([capacity, this.vocabSize]), projector: new Projector(b, capacity, this.widestInput, this.panels),
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
    checkRoom(s.pos, tokens.length, this.contextLength);
    for (let i = 0; i < tokens.length; i++) this.pass([s], [tokens[i]]);
    return this.logitsOf([s])[0];
  }

  /** Every state and token is checked first, so a refused batch moves no state. */
  stepBatch(states: readonly S[], tokens: readonly number[]): Float32Array[] {
    checkBatchStates(states, tokens);
    for (const token of tokens) checkToken(token, this.vocabSize);
    for (const s of states) checkRoom(s.pos, 1, this.contextLength);
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

  /** One pass: tokens[i] into states[i], each state one position on. */
  private pass(states: readonly S[], tokens: ArrayLike<number>): void {
    this.batch.reserve(states.length);
    this.batch.ids.typed().set(tokens);
    this.advance(states);
    for (const s of states) s.pos++;
  }

  /** Classify the rows just advanced and copy row i's logits into states[i].logits. */
  private logitsOf(states: readonly S[]): Float32Array[] {
    const logits = this.batch.logits(states.length);
    this.classify(states.length);
    return scatterLogits(logits.ptr, states, this.vocabSize);
  }
}
