// MatMul-free LM decoding (src/models/mmfree.ts), one token at a time. The token mixer (MLGRU)
// is a recurrence with one state vector s (dim floats) per layer: no KV cache and no context
// limit, and one token costs the same at every position. Every projection is a BitLinear: its
// input is RMS-normalized (no gain), then multiplied as the export stores the weight — ternary
// 2-bit packed times 8-bit activations, or f32 for int8 / fp32 layers and ternary ones with float
// activations (see Projector in engine.ts).
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
import { type OutputHead, PackedWeights, type Projection, RMS_NORM_EPS, StepEngine, StepStateBase } from './engine.js';
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

/** Per-sequence state: the recurrence's state of every layer and one token's scratch, allocated once. */
export class MmfreeState extends StepStateBase {
  readonly s: Tensor; // (layers, dim) the MLGRU states
  readonly x: Tensor; // (dim) residual stream
  readonly h: Tensor; // (dim) a block's normed input, then the gated state
  readonly f: Tensor; // (dim)
  readonly c: Tensor; // (dim)
  readonly g: Tensor; // (dim)
  readonly hb: Tensor; // (hidden)
  readonly hb2: Tensor; // (hidden)

  constructor(c: MmfreeConfig) {
    super(c.vocabSize, Math.max(c.dim, ffnHidden(c)));
    const b = this.buffers, d = c.dim, hidden = ffnHidden(c);
    this.s = b.zeros([c.layers, d]);
    this.x = b.empty([d]);
    this.h = b.empty([d]);
    this.f = b.empty([d]);
    this.c = b.empty([d]);
    this.g = b.empty([d]);
    this.hb = b.empty([hidden]);
    this.hb2 = b.empty([hidden]);
  }

  protected memory(): Tensor[] {
    return [this.s];
  }
}

export class MmfreeInference extends StepEngine<MmfreeConfig, MmfreeState> {
  readonly family = 'mmfree';
  readonly config: Readonly<Record<string, number | string | boolean>>;
  private readonly w: MmfreeWeights;

  constructor(source: PackedSource) {
    super(PackedWeights.open(source, 'mmfree', 'MatMul-free LM'));
    const c = this.modelConfig;
    this.config = {
      dim: c.dim, layers: c.layers, ffnMult: c.ffnMult, ffnHidden: ffnHidden(c), precision: c.precision,
      quantizeActivations: c.quantizeActivations, trainedContextLength: c.contextLength, head: c.head.type, vocabSize: c.vocabSize,
    };
    this.w = this.weights.build(readWeights);
  }

  newState(): MmfreeState {
    return new MmfreeState(this.modelConfig);
  }

  protected advance(s: MmfreeState, token: number): void {
    const c = this.modelConfig, d = c.dim, hidden = ffnHidden(c), w = this.w, project = s.projector;
    const x = s.x.ptr, h = s.h.ptr, f = s.f.ptr, cand = s.c.ptr, g = s.g.ptr, hb = s.hb.ptr, hb2 = s.hb2.ptr;
    const rmsNorm = (from: number, gain: number, to: number, width: number) => K.rmsNormForward(from, gain, to, s.rstd.ptr, 1, width, RMS_NORM_EPS);

    s.id.typed()[0] = token;
    K.embeddingForward(w.embedding.ptr, s.id.ptr, x, 1, d);
    for (let l = 0; l < c.layers; l++) {
      const L = w.layers[l], state = s.s.ptr + l * d * 4;
      // Token mixer: F, C and G share their input, so BitLinear's norm of it runs once.
      rmsNorm(x, L.mixerNorm, h, d);
      rmsNorm(h, 0, h, d);
      project.run(L.f, h, f, 1, false);
      project.run(L.c, h, cand, 1, false);
      project.run(L.g, h, g, 1, false);
      K.unaryForward('sigmoid', f, f, d);
      K.unaryForward('silu', cand, cand, d);
      K.unaryForward('sigmoid', g, g, d);
      // s = c + f * (s - c)
      K.binaryForward('sub', state, cand, d, state, d);
      K.binaryForward('mul', state, f, d, state, d);
      K.binaryForward('add', state, cand, d, state, d);
      K.binaryForward('mul', g, state, d, h, d);
      rmsNorm(h, 0, h, d);
      project.run(L.o, h, x, 1, true);

      // Channel mixer: x += down . norm(silu(gate . h) * (up . h)).
      rmsNorm(x, L.ffnNorm, h, d);
      rmsNorm(h, 0, h, d);
      project.run(L.gate, h, hb, 1, false);
      project.run(L.up, h, hb2, 1, false);
      swiglu(hb, hb2, hb, hidden);
      rmsNorm(hb, 0, hb, hidden);
      project.run(L.down, hb, x, 1, true);
    }
  }

  protected classify(s: MmfreeState): void {
    K.rmsNormForward(s.x.ptr, this.w.normOut, s.h.ptr, s.rstd.ptr, 1, this.modelConfig.dim, RMS_NORM_EPS);
    this.w.head.logits(s.h, s.logitsTensor);
  }
}
