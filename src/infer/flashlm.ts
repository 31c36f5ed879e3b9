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
import { TernlmError } from '../core/errors.js';
import * as K from '../core/kernels.js';
import { conv1dStep } from '../core/kernels-infer.js';
import { Tensor } from '../core/tensor.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { gluHidden, type FlashLMConfig } from '../models/flashlm.js';
import { PackedWeights, Projector, StateBuffers, checkToken, type OutputHead, type Projection } from './engine.js';
import type { PackedSource } from './packed-format.js';
import type { InferenceModel, InferenceState } from './model.js';

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

interface FlashLMWeights {
  embedding: Tensor; // (vocab, d)
  blocks: Block[];
  normOut: Tensor; // (d)
  head: OutputHead;
}

function readWeights(w: PackedWeights<FlashLMConfig>): FlashLMWeights {
  const c = w.config, d = c.dim, hid = gluHidden(c);
  const embedding = w.float('embed.weight');
  const blocks: Block[] = [];
  for (let l = 0; l < c.layers; l++) {
    const p = `blocks.${l}`;
    blocks.push({
      norm1: w.float(`${p}.norm1.weight`), convW: w.float(`${p}.conv.weight`), convB: w.float(`${p}.conv.bias`),
      dilation: c.dilations[l % c.dilations.length], mix: w.projection(`${p}.mix`, d, d), norm2: w.float(`${p}.norm2.weight`),
      gate: w.projection(`${p}.glu.gate`, hid, d), up: w.projection(`${p}.glu.up`, hid, d), down: w.projection(`${p}.glu.down`, d, hid),
    });
  }
  return { embedding, blocks, normOut: w.float('norm_out.weight'), head: w.head(embedding) };
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
  readonly g: Tensor;
  readonly u: Tensor;
  readonly rstd: Tensor;
  readonly id: Tensor;
  readonly projector: Projector;
  readonly logitsTensor: Tensor;
  readonly logits: Float32Array;
  private readonly buffers = new StateBuffers();

  constructor(readonly model: FlashLMInference) {
    const c = model.modelConfig, b = this.buffers;
    const d = c.dim, hid = gluHidden(c);
    this.rings = [];
    this.ringRows = [];
    for (let r = 0; r < c.recurrence; r++) {
      for (const block of model.blocks) {
        const R = (c.kernelSize - 1) * block.dilation + 1;
        this.ringRows.push(R);
        this.rings.push(b.zeros([2 * R, d]));
      }
    }
    this.x = b.empty([d]);
    this.h = b.empty([d]);
    this.c = b.empty([d]);
    this.g = b.empty([hid]);
    this.u = b.empty([hid]);
    this.rstd = b.empty([1]);
    this.id = b.empty([1], 'i32');
    this.projector = new Projector(b, 1, Math.max(d, hid));
    this.logitsTensor = b.zeros([c.vocabSize]);
    this.logits = this.logitsTensor.f32();
  }

  clear(): void {
    this.pos = 0;
    for (const r of this.rings) r.bytes().fill(0);
  }

  dispose(): void {
    this.buffers.dispose();
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
  private readonly weights: PackedWeights<FlashLMConfig>;
  private readonly w: FlashLMWeights;

  constructor(source: PackedSource) {
    this.weights = PackedWeights.open(source, 'flashlm', 'FlashLM');
    const c = this.weights.config;
    this.modelConfig = c;
    this.config = {
      dim: c.dim, layers: c.layers, recurrence: c.recurrence, kernelSize: c.kernelSize, dilations: c.dilations.join(','),
      gluHidden: gluHidden(c), precision: c.precision, quantizeActivations: c.quantizeActivations, head: c.head.type, vocabSize: c.vocabSize,
    };
    this.vocabSize = c.vocabSize;
    this.tokenizer = this.weights.tokenizer;
    this.startToken = this.tokenizer.eotId;
    this.w = this.weights.build(readWeights);
  }

  get blocks(): readonly Block[] {
    return this.w.blocks;
  }

  newState(): FlashLMState {
    return new FlashLMState(this);
  }

  reset(s: FlashLMState): void {
    s.clear();
  }

  step(s: FlashLMState, token: number): Float32Array {
    checkToken(token, this.vocabSize);
    const c = this.modelConfig, d = c.dim, hid = gluHidden(c), project = s.projector;
    s.id.typed()[0] = token;
    K.embeddingForward(this.w.embedding.ptr, s.id.ptr, s.x.ptr, 1, d);
    let ring = 0;
    for (let r = 0; r < c.recurrence; r++) {
      for (const b of this.w.blocks) {
        const R = s.ringRows[ring];
        const buf = s.rings[ring++];
        const slot = s.pos % R;
        // The newest input goes to rows slot and slot + R: rows slot+1 .. slot+R are the window.
        K.rmsNormForward(s.x.ptr, b.norm1.ptr, buf.ptr + slot * d * 4, s.rstd.ptr, 1, d, 1e-6);
        K.scale(buf.ptr + slot * d * 4, 1, buf.ptr + (slot + R) * d * 4, d, false);
        conv1dStep(buf.ptr + (slot + 1) * d * 4, b.convW.ptr, b.convB.ptr, s.c.ptr, d, c.kernelSize, b.dilation);
        project.run(b.mix, s.c.ptr, s.x.ptr, 1, true);
        K.rmsNormForward(s.x.ptr, b.norm2.ptr, s.h.ptr, s.rstd.ptr, 1, d, 1e-6);
        project.run(b.gate, s.h.ptr, s.g.ptr, 1, false);
        project.run(b.up, s.h.ptr, s.u.ptr, 1, false);
        K.unaryForward('relu2', s.g.ptr, s.g.ptr, hid);
        K.binaryForward('mul', s.g.ptr, s.u.ptr, hid, s.g.ptr, hid);
        project.run(b.down, s.g.ptr, s.x.ptr, 1, true);
      }
    }
    K.rmsNormForward(s.x.ptr, this.w.normOut.ptr, s.h.ptr, s.rstd.ptr, 1, d, 1e-6);
    this.w.head.logits(s.h, s.logitsTensor);
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
    this.weights.dispose();
  }
}
