// CPUFlow decoding (src/models/cpuflow.ts), one token at a time. The scan's state is two running
// sums per layer, num = Σ k ⊙ v and den = Σ k (stateDim floats each), and the position vector is
// the running sum of the CumStepPos steps: no KV cache, one token costs the same at every
// position — up to contextLength tokens, the length of the steps table. Projections are
// multiplied as the export stores them (see Projector in engine.ts); ternary and int8 layers norm
// their input first (RMSNorm without gain), fp32 ones (the author's float model) do not.
//
//   pos += steps[t];  x = embedding[token] + pos
//   per layer:  h = LayerNorm(x)
//               q = Q h, k = sigmoid(K h), v = tanh(V h)
//               num += k * v, den += k;  s = q * num / (den + eps)   as the training kernel divides
//               x += Out . Mix . s
//               x += Down . relu(Up . LayerNorm(x))
//   logits = head(LayerNorm(x))
import * as K from '../core/kernels.js';
import type { Tensor } from '../core/tensor.js';
import { cpuflowBitOptions, type CpuflowConfig } from '../models/cpuflow.js';
import { LAYER_NORM_EPS, type LayerNormWeights, type OutputHead, PackedWeights, type Projection, RMS_NORM_EPS, StepEngine, StepStateBase } from './engine.js';
import type { PackedSource } from './packed-format.js';

interface Layer {
  mixerNorm: LayerNormWeights;
  query: Projection; // (stateDim, dim)
  key: Projection; // (stateDim, dim)
  value: Projection; // (stateDim, dim)
  mix: Projection; // (stateDim, stateDim)
  out: Projection; // (dim, stateDim)
  ffnNorm: LayerNormWeights;
  up: Projection; // (ffnHidden, dim)
  down: Projection; // (dim, ffnHidden)
}

interface CpuflowWeights {
  embedding: Tensor; // (vocab, dim)
  steps: Tensor; // (contextLength, dim)
  layers: Layer[];
  normOut: LayerNormWeights;
  head: OutputHead;
}

function readWeights(w: PackedWeights<CpuflowConfig>): CpuflowWeights {
  const c = w.config, d = c.dim, k = c.stateDim, hidden = c.ffnHidden;
  const norm = (name: string): LayerNormWeights => w.layerNorm(name, d);
  const embedding = w.float('embed.weight', [c.vocabSize, d]);
  const layers: Layer[] = [];
  for (let l = 0; l < c.layers; l++) {
    const p = `blocks.${l}`;
    layers.push({
      mixerNorm: norm(`${p}.mixer_norm`),
      query: w.projection(`${p}.mixer.query`, k, d), key: w.projection(`${p}.mixer.key`, k, d), value: w.projection(`${p}.mixer.value`, k, d),
      mix: w.projection(`${p}.mixer.mix`, k, k), out: w.projection(`${p}.mixer.out`, d, k),
      ffnNorm: norm(`${p}.ffn_norm`),
      up: w.projection(`${p}.ffn.up`, hidden, d), down: w.projection(`${p}.ffn.down`, d, hidden),
    });
  }
  return { embedding, steps: w.float('pos.steps', [c.contextLength, d]), layers, normOut: norm('norm_out'), head: w.head(embedding) };
}

/** Per-sequence state: the running sums of every layer and one token's scratch, allocated once. */
export class CpuflowState extends StepStateBase {
  readonly position: Tensor; // (dim) steps_0 + … + steps_{pos-1}
  readonly num: Tensor; // (layers, stateDim) Σ k ⊙ v
  readonly den: Tensor; // (layers, stateDim) Σ k
  readonly x: Tensor; // (dim) residual stream
  readonly h: Tensor; // (dim) a block's normed input
  readonly q: Tensor; // (stateDim)
  readonly k: Tensor; // (stateDim)
  readonly v: Tensor; // (stateDim), then k ⊙ v
  readonly s: Tensor; // (stateDim) the scan's output, then Mix . s
  readonly ratio: Tensor; // (stateDim) den + eps, then num / (den + eps)
  readonly eps: Tensor; // (1) the config's scanEps
  readonly hb: Tensor; // (ffnHidden)

  constructor(c: CpuflowConfig) {
    super(c.vocabSize, Math.max(c.dim, c.stateDim, c.ffnHidden));
    const b = this.buffers, d = c.dim, k = c.stateDim;
    this.position = b.zeros([d]);
    this.num = b.zeros([c.layers, k]);
    this.den = b.zeros([c.layers, k]);
    this.x = b.empty([d]);
    this.h = b.empty([d]);
    this.q = b.empty([k]);
    this.k = b.empty([k]);
    this.v = b.empty([k]);
    this.s = b.empty([k]);
    this.ratio = b.empty([k]);
    this.eps = b.empty([1]);
    this.eps.f32()[0] = c.scanEps;
    this.hb = b.empty([c.ffnHidden]);
  }

  protected memory(): Tensor[] {
    return [this.position, this.num, this.den];
  }
}

export class CpuflowInference extends StepEngine<CpuflowConfig, CpuflowState> {
  readonly family = 'cpuflow';
  readonly config: Readonly<Record<string, number | string | boolean>>;
  /** The CumStepPos table's length: positions past it have no position vector. */
  override readonly contextLength: number;
  private readonly w: CpuflowWeights;

  constructor(source: PackedSource) {
    super(PackedWeights.open(source, 'cpuflow', 'CPUFlow'));
    const c = this.modelConfig;
    this.contextLength = c.contextLength;
    this.config = {
      dim: c.dim, stateDim: c.stateDim, ffnHidden: c.ffnHidden, layers: c.layers, contextLength: c.contextLength, scanEps: c.scanEps,
      precision: c.precision, quantizeActivations: c.quantizeActivations, head: c.head.type, vocabSize: c.vocabSize,
    };
    this.w = this.weights.build(readWeights);
  }

  newState(): CpuflowState {
    return new CpuflowState(this.modelConfig);
  }

  protected advance(s: CpuflowState, token: number): void {
    const c = this.modelConfig, d = c.dim, k = c.stateDim, hidden = c.ffnHidden, w = this.w, project = s.projector;
    const x = s.x.ptr, h = s.h.ptr, q = s.q.ptr, kp = s.k.ptr, v = s.v.ptr, sp = s.s.ptr, ratio = s.ratio.ptr, hb = s.hb.ptr;
    const inputNorm = cpuflowBitOptions(c).inputNorm;
    const layerNorm = (from: number, n: LayerNormWeights, to: number) => K.layerNormForward(from, n.weight, n.bias, to, s.mean.ptr, s.rstd.ptr, 1, d, LAYER_NORM_EPS);
    const normInput = (at: number, width: number) => {
      if (inputNorm) K.rmsNormForward(at, 0, at, s.rstd.ptr, 1, width, RMS_NORM_EPS);
    };

    s.id.typed()[0] = token;
    K.embeddingForward(w.embedding.ptr, s.id.ptr, x, 1, d);
    K.binaryForward('add', s.position.ptr, w.steps.ptr + s.pos * d * 4, d, s.position.ptr, d);
    K.binaryForward('add', x, s.position.ptr, d, x, d);
    for (let l = 0; l < c.layers; l++) {
      const L = w.layers[l], num = s.num.ptr + l * k * 4, den = s.den.ptr + l * k * 4;
      // The scan: q, k and v share their input, so BitLinear's norm of it runs once.
      layerNorm(x, L.mixerNorm, h);
      normInput(h, d);
      project.run(L.query, h, q, 1, false);
      project.run(L.key, h, kp, 1, false);
      project.run(L.value, h, v, 1, false);
      K.unaryForward('sigmoid', kp, kp, k);
      K.unaryForward('tanh', v, v, k);
      K.binaryForward('mul', kp, v, k, v, k);
      K.binaryForward('add', num, v, k, num, k);
      K.binaryForward('add', den, kp, k, den, k);
      K.binaryForward('add', den, s.eps.ptr, 1, ratio, k);
      K.binaryForward('div', num, ratio, k, ratio, k);
      K.binaryForward('mul', q, ratio, k, sp, k);
      normInput(sp, k);
      project.run(L.mix, sp, ratio, 1, false);
      normInput(ratio, k);
      project.run(L.out, ratio, x, 1, true);

      // Channel mixer: x += Down . relu(Up . LayerNorm(x)).
      layerNorm(x, L.ffnNorm, h);
      normInput(h, d);
      project.run(L.up, h, hb, 1, false);
      K.unaryForward('relu', hb, hb, hidden);
      normInput(hb, hidden);
      project.run(L.down, hb, x, 1, true);
    }
  }

  protected classify(s: CpuflowState): void {
    K.layerNormForward(s.x.ptr, this.w.normOut.weight, this.w.normOut.bias, s.h.ptr, s.mean.ptr, s.rstd.ptr, 1, this.modelConfig.dim, LAYER_NORM_EPS);
    this.w.head.logits(s.h, s.logitsTensor);
  }
}
