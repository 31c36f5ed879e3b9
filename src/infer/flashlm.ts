// FlashLM decoding, one token at a time. Each conv mixer keeps the last (Kw-1)*dilation + 1 of
// its inputs in a ring buffer; one token costs one step. Every projection computes what the
// training forward pass computes: ternary layers with 8-bit activations run on the 2-bit packed
// weights (additions and subtractions only); ternary layers with float activations and int8
// layers multiply float activations by their quantized weights, expanded to f32 at load.
//
//   x = embedding[token]
//   recurrence x, per layer:  x += Mix . conv(ring <- rmsnorm(x))
//                             x += Down . (relu²(Gate . rmsnorm(x)) * (Up . rmsnorm(x)))
//   logits = head(rmsnorm(x))
import { noGrad } from '../core/autograd.js';
import { TernlmError } from '../core/errors.js';
import * as K from '../core/kernels.js';
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import { tokenizerFromJSON, type Tokenizer } from '../data/tokenizer.js';
import { headFromConfig, type Head } from '../heads/index.js';
import { gluHidden, type FlashLMConfig } from '../models/flashlm.js';
import { conv1dStep } from '../core/kernels-infer.js';
import type { InferenceModel, InferenceState } from './model.js';
import { openPacked, readInt8Weight, readPackedTrits } from './packed.js';

/**
 * A projection y = W x: ternary weights (2-bit packed, with their scale) times 8-bit
 * activations, or an f32 matrix times float activations.
 */
type Projection =
  | { kind: 'ternary-8bit-activations'; N: number; K: number; packed: Tensor; alpha: number }
  | { kind: 'float'; N: number; K: number; weight: Tensor };

interface Block {
  norm1: Tensor;
  convW: Tensor; // (Kw, d)
  convB: Tensor; // (d)
  dilation: number;
  mix: Projection;
  norm2: Tensor;
  gate: Projection;
  up: Projection;
  down: Projection;
}

/** Per-sequence state: ring buffers of the conv inputs and scratch, allocated once. */
export class FlashLMState implements InferenceState {
  pos = 0;
  /** Per (pass, layer): 2R rows of d; row i is written at i % R and at i % R + R, so the last R rows are contiguous. */
  readonly rings: Tensor[];
  readonly ringRows: number[];
  readonly x: Tensor;
  readonly h: Tensor;
  readonly c: Tensor;
  readonly t: Tensor;
  readonly g: Tensor;
  readonly u: Tensor;
  readonly q: Tensor;
  readonly qs: Tensor;
  readonly rstd: Tensor;
  readonly id: Tensor;
  readonly logitsTensor: Tensor;
  readonly logits: Float32Array;

  constructor(readonly model: FlashLMInference) {
    const c = model.modelConfig;
    const d = c.dim, hid = gluHidden(c);
    this.rings = [];
    this.ringRows = [];
    for (let r = 0; r < c.recurrence; r++) {
      for (const b of model.blocks) {
        const R = (c.kernelSize - 1) * b.dilation + 1;
        this.ringRows.push(R);
        this.rings.push(Tensor.zeros([2 * R, d]));
      }
    }
    this.x = Tensor.empty([d]);
    this.h = Tensor.empty([d]);
    this.c = Tensor.empty([d]);
    this.t = Tensor.empty([d]);
    this.g = Tensor.empty([hid]);
    this.u = Tensor.empty([hid]);
    this.q = Tensor.empty([K.ternaryPaddedK(Math.max(d, hid))], 'i16');
    this.qs = Tensor.empty([1]);
    this.rstd = Tensor.empty([1]);
    this.id = Tensor.empty([1], 'i32');
    this.logitsTensor = Tensor.zeros([c.vocabSize]);
    this.logits = this.logitsTensor.f32();
  }

  clear(): void {
    this.pos = 0;
    for (const r of this.rings) r.bytes().fill(0);
  }

  dispose(): void {
    for (const t of [...this.rings, this.x, this.h, this.c, this.t, this.g, this.u, this.q, this.qs, this.rstd, this.id, this.logitsTensor]) t.dispose();
  }
}

export class FlashLMInference implements InferenceModel<FlashLMState> {
  readonly family = 'flashlm';
  readonly modelConfig: FlashLMConfig;
  readonly config: Readonly<Record<string, number | string | boolean>>;
  readonly vocabSize: number;
  readonly contextLength = Infinity;
  readonly startToken: number;
  readonly tokenizer: Tokenizer;
  readonly blocks: Block[] = [];
  private readonly embedding: Tensor;
  private readonly normOut: Tensor;
  /** The head for hierarchical / adaptive models (null: full softmax over `classifier`). */
  private readonly head: Head | null;
  private readonly classifier: Tensor | null;
  private readonly storage: Tensor[] = [];

  constructor(path: string) {
    const { file, meta } = openPacked(path);
    try {
      const c = meta.config;
      this.modelConfig = c;
      this.config = {
        dim: c.dim, layers: c.layers, recurrence: c.recurrence, kernelSize: c.kernelSize, dilations: c.dilations.join(','),
        gluHidden: gluHidden(c), precision: c.precision, quantizeActivations: c.quantizeActivations, head: c.head.type, vocabSize: c.vocabSize,
      };
      this.vocabSize = c.vocabSize;
      this.tokenizer = tokenizerFromJSON(meta.tokenizer, path);
      this.startToken = this.tokenizer.eotId;
      const keep = (t: Tensor): Tensor => {
        this.storage.push(t.keep());
        return t;
      };
      const float = (name: string): Tensor => {
        if (!file.has(name)) throw new TernlmError(`${path} has no tensor '${name}' — the file is not a complete FlashLM export`);
        const info = file.info(name);
        return keep(Tensor.from(file.readF32(name), info.shape));
      };
      const projection = (name: string, N: number, Kd: number): Projection => {
        const weightName = `${name}.weight`;
        const tern = meta.ternary[weightName];
        const int8 = meta.int8[weightName];
        const stored = tern ?? int8;
        if (stored && (stored.N !== N || stored.K !== Kd)) throw new TernlmError(`${path}: '${weightName}' is ${stored.N}x${stored.K}, the config says ${N}x${Kd}`);
        if (tern) {
          const packed = readPackedTrits(file, weightName, tern);
          const alpha = file.readF32(`${weightName}.alpha`)[0];
          if (tern.quantizeActivations) return { kind: 'ternary-8bit-activations', N, K: Kd, packed: keep(packed), alpha };
          // Float activations: training multiplies them by alpha * T in f32.
          const weight = Tensor.empty([N, Kd]);
          K.ternaryUnpackF32(packed.ptr, alpha, weight.ptr, N, Kd);
          packed.dispose();
          return { kind: 'float', N, K: Kd, weight: keep(weight) };
        }
        if (int8) return { kind: 'float', N, K: Kd, weight: keep(readInt8Weight(file, weightName, int8)) };
        return { kind: 'float', N, K: Kd, weight: float(weightName) };
      };
      const d = c.dim, hid = gluHidden(c);
      this.embedding = float('embed.weight');
      for (let l = 0; l < c.layers; l++) {
        const p = `blocks.${l}`;
        this.blocks.push({
          norm1: float(`${p}.norm1.weight`), convW: float(`${p}.conv.weight`), convB: float(`${p}.conv.bias`),
          dilation: c.dilations[l % c.dilations.length], mix: projection(`${p}.mix`, d, d), norm2: float(`${p}.norm2.weight`),
          gate: projection(`${p}.glu.gate`, hid, d), up: projection(`${p}.glu.up`, hid, d), down: projection(`${p}.glu.down`, d, hid),
        });
      }
      this.normOut = float('norm_out.weight');
      if (meta.head === null || meta.head.kind === 'softmax') {
        this.head = null;
        this.classifier = c.head.tied ? this.embedding : float('head.weight');
      } else {
        const head = headFromConfig(meta.head, new Rng(0));
        for (const { name, tensor } of head.namedParameters()) tensor.f32().set(file.readF32(`head.${name}`));
        this.head = head;
        this.classifier = null;
      }
    } finally {
      file.close();
    }
  }

  newState(): FlashLMState {
    return new FlashLMState(this);
  }

  reset(s: FlashLMState): void {
    s.clear();
  }

  /** y (+)= W x for one row x of length p.K. */
  private project(s: FlashLMState, p: Projection, x: number, y: number, accumulate: boolean): void {
    if (p.kind === 'ternary-8bit-activations') {
      const Kp = K.ternaryPaddedK(p.K);
      K.quantizeRowsI8(x, 1, p.K, s.q.ptr, Kp, s.qs.ptr);
      K.ternaryMatvecPacked(s.q.ptr, s.qs.ptr, p.packed.ptr, p.alpha, y, p.N, 1, p.N, Kp, accumulate);
    } else {
      K.matvec(p.N, p.K, p.weight.ptr, p.K, x, y, accumulate);
    }
  }

  step(s: FlashLMState, token: number): Float32Array {
    if (!(Number.isInteger(token) && token >= 0 && token < this.vocabSize)) throw new TernlmError(`token ${token} is outside the vocabulary (0..${this.vocabSize - 1})`);
    const c = this.modelConfig, d = c.dim, hid = gluHidden(c);
    s.id.typed()[0] = token;
    K.embeddingForward(this.embedding.ptr, s.id.ptr, s.x.ptr, 1, d);
    let ring = 0;
    for (let r = 0; r < c.recurrence; r++) {
      for (const b of this.blocks) {
        const R = s.ringRows[ring];
        const buf = s.rings[ring++];
        const slot = s.pos % R;
        // The newest input goes to rows slot and slot + R: rows slot+1 .. slot+R are the window.
        K.rmsNormForward(s.x.ptr, b.norm1.ptr, buf.ptr + slot * d * 4, s.rstd.ptr, 1, d, 1e-6);
        K.scale(buf.ptr + slot * d * 4, 1, buf.ptr + (slot + R) * d * 4, d, false);
        conv1dStep(buf.ptr + (slot + 1) * d * 4, b.convW.ptr, b.convB.ptr, s.c.ptr, d, c.kernelSize, b.dilation);
        this.project(s, b.mix, s.c.ptr, s.x.ptr, true);
        K.rmsNormForward(s.x.ptr, b.norm2.ptr, s.h.ptr, s.rstd.ptr, 1, d, 1e-6);
        this.project(s, b.gate, s.h.ptr, s.g.ptr, false);
        this.project(s, b.up, s.h.ptr, s.u.ptr, false);
        K.unaryForward('relu2', s.g.ptr, s.g.ptr, hid);
        K.binaryForward('mul', s.g.ptr, s.u.ptr, hid, s.g.ptr, hid);
        this.project(s, b.down, s.g.ptr, s.x.ptr, true);
      }
    }
    K.rmsNormForward(s.x.ptr, this.normOut.ptr, s.h.ptr, s.rstd.ptr, 1, d, 1e-6);
    if (this.classifier) {
      K.matvec(this.vocabSize, d, this.classifier.ptr, d, s.h.ptr, s.logitsTensor.ptr, false);
    } else {
      noGrad(() => {
        const lp = this.head!.logProbs(s.h.reshape([1, d]));
        K.scale(lp.ptr, 1, s.logitsTensor.ptr, this.vocabSize, false);
        lp.dispose();
      });
    }
    s.pos++;
    return s.logits;
  }

  prefill(s: FlashLMState, tokens: ArrayLike<number>): Float32Array {
    if (tokens.length === 0) throw new TernlmError('prefill needs at least one token');
    let logits = s.logits;
    for (let i = 0; i < tokens.length; i++) logits = this.step(s, tokens[i]);
    return logits;
  }

  dispose(): void {
    for (const t of this.storage) t.dispose();
    this.head?.dispose();
  }
}
