// CPUFlow decoding (src/models/cpuflow.ts), one token at a time in each of a batch of sequences
// (one row each, see StepEngine). The scan's state is two running sums per layer, num = Σ k ⊙ v and
// den = Σ k (stateDim floats each), and the position vector is the running sum of the CumStepPos
// steps: no KV cache, one token costs the same at every position — up to contextLength tokens, the
// length of the steps table. Projections are multiplied as the export stores them (see Projector in
// engine.ts); ternary and int8 layers norm their input first (RMSNorm without gain), fp32 ones (the
// author's float model) do not.
//
//   pos += steps[t];  x = embedding[token] + pos
//   per layer:  h = LayerNorm(x)
//               q = Q h, k = sigmoid(K h), v = tanh(V h)
//               num += k * v, den += k;  s = q * num / (den + eps)   as the training kernel divides
//               x += Out . Mix . s
//               x += Down . relu(Up . LayerNorm(x))
//   logits = head(LayerNorm(x))
import * as K from '../core/kernels.js';
import { Tensor } from '../core/tensor.js';
import { cpuflowBitOptions, type CpuflowConfig } from '../models/cpuflow.js';
import { BatchWorkspace, LAYER_NORM_EPS, type LayerNormWeights, type OutputHead, PackedWeights, type Projection, RMS_NORM_EPS, StepEngine, StepStateBase } from './engine.js';
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

/** Per-sequence state: the position vector and the running sums of every layer. */
export class CpuflowState extends StepStateBase {
  readonly position: Tensor; // (dim) steps_0 + … + steps_{pos-1}
  readonly num: Tensor; // (layers, stateDim) Σ k ⊙ v
  readonly den: Tensor; // (layers, stateDim) Σ k

  constructor(c: CpuflowConfig) {
    super(c.vocabSize);
    this.position = this.buffers.zeros([c.dim]);
    this.num = this.buffers.zeros([c.layers, c.stateDim]);
    this.den = this.buffers.zeros([c.layers, c.stateDim]);
  }

  protected memory(): Tensor[] {
    return [this.position, this.num, this.den];
  }
}

/**
 * The workspace's buffers, floats a row: the residual stream x, a block's normed input h (first
 * the rows' position steps), the scan's q, k, v (then k ⊙ v), s (its output, then Mix . s) and
 * ratio (den + eps, then num / (den + eps)), the feed-forward's hb, and the rows' memories
 * gathered from their states for the pass: position (dim), num and den (layers, rows, stateDim).
 */
function rowWidths(c: CpuflowConfig) {
  const d = c.dim, k = c.stateDim;
  return { x: d, h: d, q: k, k, v: k, s: k, ratio: k, hb: c.ffnHidden, position: d, num: c.layers * k, den: c.layers * k };
}

export class CpuflowInference extends StepEngine<CpuflowConfig, CpuflowState> {
  readonly family = 'cpuflow';
  readonly config: Readonly<Record<string, number | string | boolean>>;
  /** The CumStepPos table's length: positions past it have no position vector. */
  override readonly contextLength: number;
  protected readonly batch: BatchWorkspace<keyof ReturnType<typeof rowWidths>>;
  private readonly w: CpuflowWeights;
  private readonly eps: Tensor; // (1) the config's scanEps

  constructor(source: PackedSource) {
    super(PackedWeights.open(source, 'cpuflow', 'CPUFlow'));
    const c = this.modelConfig;
    this.contextLength = c.contextLength;
    this.config = {
      dim: c.dim, stateDim: c.stateDim, ffnHidden: c.ffnHidden, layers: c.layers, contextLength: c.contextLength, scanEps: c.scanEps,
      precision: c.precision, quantizeActivations: c.quantizeActivations, head: c.head.type, vocabSize: c.vocabSize,
    };
    this.w = this.weights.build(readWeights);
    this.eps = this.weights.adopt(Tensor.from([c.scanEps]));
    this.batch = new BatchWorkspace(rowWidths(c), c.vocabSize, Math.max(c.dim, c.stateDim, c.ffnHidden), this.weights.panels);
  }

  newState(): CpuflowState {
    return new CpuflowState(this.modelConfig);
  }

  protected advance(states: readonly CpuflowState[]): void {
    const c = this.modelConfig, d = c.dim, k = c.stateDim, hidden = c.ffnHidden, w = this.w, ws = this.batch, rows = states.length;
    const x = ws.ptr('x'), h = ws.ptr('h'), q = ws.ptr('q'), kp = ws.ptr('k'), v = ws.ptr('v'), sp = ws.ptr('s'), ratio = ws.ptr('ratio'), hb = ws.ptr('hb');
    const position = ws.ptr('position'), nd = rows * d, nk = rows * k;
    const inputNorm = cpuflowBitOptions(c).inputNorm;
    const layerNorm = (from: number, n: LayerNormWeights, to: number) => K.layerNormForward(from, n.weight, n.bias, to, ws.mean.ptr, ws.rstd.ptr, rows, d, LAYER_NORM_EPS);
    const normInput = (at: number, width: number) => {
      if (inputNorm) K.rmsNormForward(at, 0, at, ws.rstd.ptr, rows, width, RMS_NORM_EPS);
    };
    const project = (p: Projection, from: number, to: number, accumulate: boolean) => ws.projector.run(p, from, to, rows, accumulate);
    const memories = { position: states.map((s) => s.position), num: states.map((s) => s.num), den: states.map((s) => s.den) };

    ws.gather('position', memories.position, 1);
    ws.gather('num', memories.num, c.layers);
    ws.gather('den', memories.den, c.layers);
    K.embeddingForward(w.embedding.ptr, ws.ids.ptr, x, rows, d);
    // position += steps[pos], each row its own row of the table (gathered as an embedding of the positions).
    ws.ids.typed().set(states.map((s) => s.pos));
    K.embeddingForward(w.steps.ptr, ws.ids.ptr, h, rows, d);
    K.binaryForward('add', position, h, nd, position, nd);
    K.binaryForward('add', x, position, nd, x, nd);
    for (let l = 0; l < c.layers; l++) {
      const L = w.layers[l], num = ws.ptr('num') + l * nk * 4, den = ws.ptr('den') + l * nk * 4;
      // The scan: q, k and v share their input, so BitLinear's norm of it runs once.
      layerNorm(x, L.mixerNorm, h);
      normInput(h, d);
      project(L.query, h, q, false);
      project(L.key, h, kp, false);
      project(L.value, h, v, false);
      K.unaryForward('sigmoid', kp, kp, nk);
      K.unaryForward('tanh', v, v, nk);
      K.binaryForward('mul', kp, v, nk, v, nk);
      K.binaryForward('add', num, v, nk, num, nk);
      K.binaryForward('add', den, kp, nk, den, nk);
      K.binaryForward('add', den, this.eps.ptr, 1, ratio, nk);
      K.binaryForward('div', num, ratio, nk, ratio, nk);
      K.binaryForward('mul', q, ratio, nk, sp, nk);
      normInput(sp, k);
      project(L.mix, sp, ratio, false);
      normInput(ratio, k);
      project(L.out, ratio, x, true);

      // Channel mixer: x += Down . relu(Up . LayerNorm(x)).
      layerNorm(x, L.ffnNorm, h);
      normInput(h, d);
      project(L.up, h, hb, false);
      K.unaryForward('relu', hb, hb, rows * hidden);
      normInput(hb, hidden);
      project(L.down, hb, x, true);
    }
    ws.scatter('position', memories.position, 1);
    ws.scatter('num', memories.num, c.layers);
    ws.scatter('den', memories.den, c.layers);
  }

  protected classify(rows: number): void {
    const ws = this.batch, norm = this.w.normOut;
    K.layerNormForward(ws.ptr('x'), norm.weight, norm.bias, ws.ptr('h'), ws.mean.ptr, ws.rstd.ptr, rows, this.modelConfig.dim, LAYER_NORM_EPS);
    this.w.head.logits(ws.view('h', rows), ws.logits(rows));
  }
}
