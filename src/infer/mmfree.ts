// MatMul-free LM decoding (src/models/mmfree.ts), one token at a time in each of a batch of
// sequences (one row each, see StepEngine). The token mixer (MLGRU) is a recurrence with one state
// vector s (dim floats) per layer: no KV cache and no context limit, and one token costs the same
// at every position. Every projection is a BitLinear: its input is RMS-normalized (no gain), then
// multiplied as the export stores the weight — ternary 2-bit packed times 8-bit activations, or f32
// for int8 / fp32 layers and ternary ones with float activations (see Projector in engine.ts).
//
//   x = embedding[token]
//   per layer:  h = norm(rmsnorm(x))                              norm: BitLinear's, no gain
//               f = sigmoid(F . h), c = silu(C . h), g = sigmoid(G . h)
//               s = f * s + (1 - f) * c                           computed as c + f * (s - c), as the training kernel does
//               x += O . norm(g * s)
//               h = norm(rmsnorm(x))
//               x += down . norm(silu(gate . h) * (up . h))
//   logits = head(rmsnorm(x))
import * as K from '../core/kernels.js';
import { swiglu } from '../core/kernels-infer.js';
import type { Tensor } from '../core/tensor.js';
import { ffnHidden, type MmfreeConfig } from '../models/mmfree.js';
import { BatchWorkspace, type OutputHead, PackedWeights, type Projection, RMS_NORM_EPS, StepEngine, StepStateBase } from './engine.js';
import type { PackedSource } from './packed-format.js';

/** One block's weights: pointers into the heap (norm gains: dim floats). */
interface Layer {
  mixerNorm: number;
  f: Projection; // (dim, dim) forget gate
  c: Projection; // (dim, dim) candidate
  g: Projection; // (dim, dim) output gate
  o: Projection; // (dim, dim)
  ffnNorm: number;
  gate: Projection; // (hidden, dim)
  up: Projection; // (hidden, dim)
  down: Projection; // (dim, hidden)
}

interface MmfreeWeights {
  embedding: Tensor; // (vocab, dim)
  layers: Layer[];
  normOut: number; // (dim)
  head: OutputHead;
}

function readWeights(w: PackedWeights<MmfreeConfig>): MmfreeWeights {
  const c = w.config, d = c.dim, hidden = ffnHidden(c);
  const embedding = w.float('embed.weight', [c.vocabSize, d]);
  const layers: Layer[] = [];
  for (let l = 0; l < c.layers; l++) {
    const p = `blocks.${l}`;
    layers.push({
      mixerNorm: w.float(`${p}.mixer_norm.weight`, [d]).ptr,
      f: w.projection(`${p}.mixer.f`, d, d), c: w.projection(`${p}.mixer.c`, d, d),
      g: w.projection(`${p}.mixer.g`, d, d), o: w.projection(`${p}.mixer.o`, d, d),
      ffnNorm: w.float(`${p}.ffn_norm.weight`, [d]).ptr,
      gate: w.projection(`${p}.ffn.gate`, hidden, d), up: w.projection(`${p}.ffn.up`, hidden, d), down: w.projection(`${p}.ffn.down`, d, hidden),
    });
  }
  return { embedding, layers, normOut: w.float('norm_out.weight', [d]).ptr, head: w.head(embedding) };
}

/** Per-sequence state: the recurrence's state of every layer. */
export class MmfreeState extends StepStateBase {
  readonly s: Tensor; // (layers, dim) the MLGRU states

  constructor(c: MmfreeConfig) {
    super(c.vocabSize);
    this.s = this.buffers.zeros([c.layers, c.dim]);
  }

  protected memory(): Tensor[] {
    return [this.s];
  }
}

/**
 * The workspace's buffers, floats a row: the residual stream x, a block's normed input (then the
 * gated state) h, the gates f, c, g, the feed-forward's hb, hb2, and s, the rows' MLGRU states
 * (layers, rows, dim) gathered from their states for the pass.
 */
function rowWidths(c: MmfreeConfig) {
  const d = c.dim, hidden = ffnHidden(c);
  return { x: d, h: d, f: d, c: d, g: d, hb: hidden, hb2: hidden, s: c.layers * d };
}

export class MmfreeInference extends StepEngine<MmfreeConfig, MmfreeState> {
  readonly family = 'mmfree';
  readonly config: Readonly<Record<string, number | string | boolean>>;
  protected readonly batch: BatchWorkspace<keyof ReturnType<typeof rowWidths>>;
  private readonly w: MmfreeWeights;

  constructor(source: PackedSource) {
    super(PackedWeights.open(source, 'mmfree', 'MatMul-free LM'));
    const c = this.modelConfig;
    this.config = {
      dim: c.dim, layers: c.layers, ffnMult: c.ffnMult, ffnHidden: ffnHidden(c), precision: c.precision,
      quantizeActivations: c.quantizeActivations, trainedContextLength: c.contextLength, head: c.head.type, vocabSize: c.vocabSize,
    };
    this.w = this.weights.build(readWeights);
    this.batch = new BatchWorkspace(rowWidths(c), c.vocabSize, Math.max(c.dim, ffnHidden(c)), this.weights.panels);
  }

  newState(): MmfreeState {
    return new MmfreeState(this.modelConfig);
  }

  protected advance(states: readonly MmfreeState[]): void {
    const c = this.modelConfig, d = c.dim, hidden = ffnHidden(c), w = this.w, ws = this.batch, rows = states.length;
    const x = ws.ptr('x'), h = ws.ptr('h'), f = ws.ptr('f'), cand = ws.ptr('c'), g = ws.ptr('g'), hb = ws.ptr('hb'), hb2 = ws.ptr('hb2');
    const n = rows * d, nh = rows * hidden, memories = states.map((s) => s.s);
    const rmsNorm = (from: number, gain: number, to: number, width: number) => K.rmsNormForward(from, gain, to, ws.rstd.ptr, rows, width, RMS_NORM_EPS);
    const project = (p: Projection, from: number, to: number, accumulate: boolean) => ws.projector.run(p, from, to, rows, accumulate);

    ws.gather('s', memories, c.layers);
    K.embeddingForward(w.embedding.ptr, ws.ids.ptr, x, rows, d);
    for (let l = 0; l < c.layers; l++) {
      const L = w.layers[l], state = ws.ptr('s') + l * n * 4;
      // Token mixer: F, C and G share their input, so BitLinear's norm of it runs once.
      rmsNorm(x, L.mixerNorm, h, d);
      rmsNorm(h, 0, h, d);
      project(L.f, h, f, false);
      project(L.c, h, cand, false);
      project(L.g, h, g, false);
      K.unaryForward('sigmoid', f, f, n);
      K.unaryForward('silu', cand, cand, n);
      K.unaryForward('sigmoid', g, g, n);
      // s = c + f * (s - c)
      K.binaryForward('sub', state, cand, n, state, n);
      K.binaryForward('mul', state, f, n, state, n);
      K.binaryForward('add', state, cand, n, state, n);
      K.binaryForward('mul', g, state, n, h, n);
      rmsNorm(h, 0, h, d);
      project(L.o, h, x, true);

      // Channel mixer: x += down . norm(silu(gate . h) * (up . h)).
      rmsNorm(x, L.ffnNorm, h, d);
      rmsNorm(h, 0, h, d);
      project(L.gate, h, hb, false);
      project(L.up, h, hb2, false);
      swiglu(hb, hb2, hb, nh);
      rmsNorm(hb, 0, hb, hidden);
      project(L.down, hb, x, true);
    }
    ws.scatter('s', memories, c.layers);
  }

  protected classify(rows: number): void {
    const ws = this.batch;
    K.rmsNormForward(ws.ptr('x'), this.w.normOut, ws.ptr('h'), ws.rstd.ptr, rows, this.modelConfig.dim, RMS_NORM_EPS);
    this.w.head.logits(ws.view('h', rows), ws.logits(rows));
  }
}
