// FlashLM-MLP decoding (src/models/flashlm-mlp.ts), one token at a time. The only memory is the
// running average s (dim floats): a token updates it, and only the token that is classified
// runs the MLP, so a prompt costs one vector update per token and no context limit applies. Every
// layer is a BitLinear: its input is RMS-normalized (no gain), then multiplied as the export
// stores the weight (see Projector in engine.ts).
//
//   e = embedding[token]
//   s = e + f * (s - e)                 f = sigmoid(decay); as the training kernel computes it
//   x = e + gain * s
//   x = relu(L1 . norm(x)), relu(L2 . norm(x)), ..., L_last . norm(x)
//   logits = head(rmsnorm(x))           the two-level head reads the embedding rows
import * as K from '../core/kernels.js';
import type { Tensor } from '../core/tensor.js';
import { mlpShapes, type FlashLMMlpConfig } from '../models/flashlm-mlp.js';
import { type OutputHead, PackedWeights, type Projection, RMS_NORM_EPS, StepEngine, StepStateBase } from './engine.js';
import type { PackedSource } from './packed-format.js';

interface FlashLMMlpWeights {
  embedding: Tensor; // (vocab, dim)
  forget: Tensor; // (dim) f = sigmoid(decay)
  gain: number; // (dim)
  mlp: Projection[];
  normOut: number; // (dim)
  head: OutputHead;
}

function readWeights(w: PackedWeights<FlashLMMlpConfig>): FlashLMMlpWeights {
  const c = w.config, d = c.dim;
  const embedding = w.float('embed.weight', [c.vocabSize, d]);
  const forget = w.float('context.decay', [d]);
  K.unaryForward('sigmoid', forget.ptr, forget.ptr, d);
  return {
    embedding, forget, gain: w.float('context.gain', [d]).ptr,
    mlp: mlpShapes(c).map(([inF, outF], i) => w.projection(`mlp.${i}`, outF, inF)),
    normOut: w.float('norm_out.weight', [d]).ptr,
    head: w.head(embedding),
  };
}

/** Per-sequence state: the running average and one token's scratch, allocated once. */
export class FlashLMMlpState extends StepStateBase {
  readonly s: Tensor; // (dim) the running average
  readonly e: Tensor; // (dim) the last token's embedding
  readonly x: Tensor; // (max(dim, hidden)) a layer's input
  readonly y: Tensor; // (max(dim, hidden)) a layer's output
  readonly h: Tensor; // (dim) the final hidden state

  constructor(c: FlashLMMlpConfig) {
    super(c.vocabSize, Math.max(c.dim, c.hidden));
    const b = this.buffers, width = Math.max(c.dim, c.hidden);
    this.s = b.zeros([c.dim]);
    this.e = b.zeros([c.dim]);
    this.x = b.empty([width]);
    this.y = b.empty([width]);
    this.h = b.empty([c.dim]);
  }

  protected memory(): Tensor[] {
    return [this.s];
  }
}

export class FlashLMMlpInference extends StepEngine<FlashLMMlpConfig, FlashLMMlpState> {
  readonly family = 'flashlm-mlp';
  readonly config: Readonly<Record<string, number | string | boolean>>;
  private readonly w: FlashLMMlpWeights;

  constructor(source: PackedSource) {
    super(PackedWeights.open(source, 'flashlm-mlp', 'FlashLM-MLP'));
    const c = this.modelConfig;
    this.config = {
      dim: c.dim, layers: c.layers, hidden: c.hidden, precision: c.precision, quantizeActivations: c.quantizeActivations,
      trainedContextLength: c.contextLength, head: c.head.type, vocabSize: c.vocabSize,
    };
    this.w = this.weights.build(readWeights);
  }

  newState(): FlashLMMlpState {
    return new FlashLMMlpState(this.modelConfig);
  }

  protected advance(s: FlashLMMlpState, token: number): void {
    const d = this.modelConfig.dim, e = s.e.ptr, state = s.s.ptr;
    s.id.typed()[0] = token;
    K.embeddingForward(this.w.embedding.ptr, s.id.ptr, e, 1, d);
    // s = e + f * (s - e)
    K.binaryForward('sub', state, e, d, state, d);
    K.binaryForward('mul', state, this.w.forget.ptr, d, state, d);
    K.binaryForward('add', state, e, d, state, d);
  }

  protected classify(s: FlashLMMlpState): void {
    const c = this.modelConfig, d = c.dim, w = this.w, x = s.x.ptr, y = s.y.ptr;
    // x = e + gain * s
    K.binaryForward('mul', s.s.ptr, w.gain, d, x, d);
    K.binaryForward('add', x, s.e.ptr, d, x, d);
    mlpShapes(c).forEach(([inF, outF], i) => {
      K.rmsNormForward(x, 0, x, s.rstd.ptr, 1, inF, RMS_NORM_EPS);
      s.projector.run(w.mlp[i], x, y, 1, false);
      if (i < c.layers - 1) K.unaryForward('relu', y, x, outF);
      else K.rmsNormForward(y, w.normOut, s.h.ptr, s.rstd.ptr, 1, outF, RMS_NORM_EPS);
    });
    w.head.logits(s.h, s.logitsTensor);
  }
}
