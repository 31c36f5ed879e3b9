// FlashLM-MLP decoding (src/models/flashlm-mlp.ts), one token at a time in each of a batch of
// sequences (one row each, see StepEngine). The only memory is the running average s (dim floats):
// a token updates it, and only the token that is classified runs the MLP, so a prompt costs one
// vector update per token and no context limit applies. Every layer is a BitLinear: its input is
// RMS-normalized (no gain), then multiplied as the export stores the weight (see Projector in
// engine.ts).
//
//   e = embedding[token]
//   s = e + f * (s - e)                 f = sigmoid(decay); as the training kernel computes it
//   x = e + gain * s
//   x = relu(L1 . norm(x)), relu(L2 . norm(x)), ..., L_last . norm(x)
//   logits = head(rmsnorm(x))           the two-level head reads the embedding rows
import * as K from '../core/kernels.js';
import type { Tensor } from '../core/tensor.js';
import { mlpShapes, type FlashLMMlpConfig } from '../models/flashlm-mlp.js';
import { BatchWorkspace, type OutputHead, PackedWeights, type Projection, RMS_NORM_EPS, StepEngine, StepStateBase } from './engine.js';
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

/** Per-sequence state: the running average. */
export class FlashLMMlpState extends StepStateBase {
  readonly s: Tensor; // (dim) the running average

  constructor(c: FlashLMMlpConfig) {
    super(c.vocabSize);
    this.s = this.buffers.zeros([c.dim]);
  }

  protected memory(): Tensor[] {
    return [this.s];
  }
}

/**
 * The workspace's buffers, floats a row: the rows' running averages s (gathered from their
 * states for the pass, kept for classify), the last tokens' embeddings e, a layer's input x and
 * output y (rows of the layer's width, packed), and the final hidden state h.
 */
function rowWidths(c: FlashLMMlpConfig) {
  const width = Math.max(c.dim, c.hidden);
  return { s: c.dim, e: c.dim, x: width, y: width, h: c.dim };
}

export class FlashLMMlpInference extends StepEngine<FlashLMMlpConfig, FlashLMMlpState> {
  readonly family = 'flashlm-mlp';
  readonly config: Readonly<Record<string, number | string | boolean>>;
  protected readonly batch: BatchWorkspace<keyof ReturnType<typeof rowWidths>>;
  private readonly w: FlashLMMlpWeights;

  constructor(source: PackedSource) {
    super(PackedWeights.open(source, 'flashlm-mlp', 'FlashLM-MLP'));
    const c = this.modelConfig;
    this.config = {
      dim: c.dim, layers: c.layers, hidden: c.hidden, precision: c.precision, quantizeActivations: c.quantizeActivations,
      trainedContextLength: c.contextLength, head: c.head.type, vocabSize: c.vocabSize,
    };
    this.w = this.weights.build(readWeights);
    this.batch = new BatchWorkspace(rowWidths(c), c.vocabSize, Math.max(c.dim, c.hidden), this.weights.panels);
  }

  newState(): FlashLMMlpState {
    return new FlashLMMlpState(this.modelConfig);
  }

  protected advance(states: readonly FlashLMMlpState[]): void {
    const d = this.modelConfig.dim, ws = this.batch, rows = states.length, n = rows * d;
    const e = ws.ptr('e'), state = ws.ptr('s'), memories = states.map((s) => s.s);
    ws.gather('s', memories, 1);
    K.embeddingForward(this.w.embedding.ptr, ws.ids.ptr, e, rows, d);
    // s = e + f * (s - e)
    K.binaryForward('sub', state, e, n, state, n);
    K.binaryForward('mul', state, this.w.forget.ptr, d, state, n);
    K.binaryForward('add', state, e, n, state, n);
    ws.scatter('s', memories, 1);
  }

  protected classify(rows: number): void {
    const c = this.modelConfig, d = c.dim, w = this.w, ws = this.batch, x = ws.ptr('x'), y = ws.ptr('y');
    // x = e + gain * s
    K.binaryForward('mul', ws.ptr('s'), w.gain, d, x, rows * d);
    K.binaryForward('add', x, ws.ptr('e'), rows * d, x, rows * d);
    mlpShapes(c).forEach(([inF, outF], i) => {
      K.rmsNormForward(x, 0, x, ws.rstd.ptr, rows, inF, RMS_NORM_EPS);
      ws.projector.run(w.mlp[i], x, y, rows, false);
      if (i < c.layers - 1) K.unaryForward('relu', y, x, rows * outF);
      else K.rmsNormForward(y, w.normOut, ws.ptr('h'), ws.rstd.ptr, rows, outF, RMS_NORM_EPS);
    });
    w.head.logits(ws.view('h', rows), ws.logits(rows));
  }
}
