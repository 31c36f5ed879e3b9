// Mixture-of-frameworks decoding (src/models/mof.ts), one token at a time in each of a batch of
// sequences (one row each, see StepEngine) with a fixed-size state: per layer the GRU expert's and
// the router's minGRU states, linear attention's S (hd x hd) and z (hd) per head, and the running
// sum of the thought vector's context; the position feeds the sinusoidal encoding and the running
// mean's count. No KV cache, no context limit, O(1) a token. Every projection is a BitLinear: its
// input is RMS-normalized (no gain), then multiplied as the export stores the weight (see Projector
// in engine.ts).
//
//   e = embedding[token]; x = e
//   per layer:  x += β e                                           with embeddingMix
//               GRU expert:   h = norm(LN(x)); f = σ(F h), c = tanh(C h); s = c + f (s - c)
//                             g = x + O . norm(s)
//               transformer:  n = LN(x); h = norm(n + PE(pos)); q, k, v = Q h, K h, V h
//                             per head: S += φ(k) vᵀ, z += φ(k); out = φ(q)ᵀ S / φ(q)ᵀ z   (S kept transposed)
//                             m += n; a = x + (O . norm(out) + α Θ . norm(m / (pos + 1)))
//                             a += down . norm(silu(gate . h') * (up . h')),  h' = norm(LN(a))
//               router:       h = norm(LN(x)); r = minGRU step as above; p = softmax(R . norm(r))
//               x = p_0 g + p_1 a
//   logits = head(LN(x))
import * as K from '../core/kernels.js';
import { swiglu } from '../core/kernels-infer.js';
import type { Tensor } from '../core/tensor.js';
import { ffnHidden, gruWidth, type MofConfig } from '../models/mof.js';
import { sinusoidalEncoding } from '../nn/linear-attention.js';
import { BatchWorkspace, LAYER_NORM_EPS, type LayerNormWeights, type OutputHead, PackedWeights, type Projection, RMS_NORM_EPS, StepEngine, StepStateBase } from './engine.js';
import type { PackedSource } from './packed-format.js';

/** A minGRU's gate and candidate projections. */
interface MinGRU {
  f: Projection;
  c: Projection;
}

/** One block's weights (pointers into the heap, and its two learned scalars). */
interface Layer {
  embeddingWeight: number; // β; 0 without embeddingMix
  gruNorm: LayerNormWeights;
  gru: MinGRU; // (gruWidth, dim)
  gruOut: Projection; // (dim, gruWidth)
  norm: LayerNormWeights;
  q: Projection; // (dim, dim)
  k: Projection;
  v: Projection;
  o: Projection;
  thought: Projection; // (dim, dim)
  thoughtWeight: number; // α
  ffnNorm: LayerNormWeights;
  gate: Projection; // (hidden, dim)
  up: Projection; // (hidden, dim)
  down: Projection; // (dim, hidden)
  routerNorm: LayerNormWeights;
  router: MinGRU; // (routerDim, dim)
  routerOut: Projection; // (2, routerDim)
}

interface MofWeights {
  embedding: Tensor; // (vocab, dim)
  layers: Layer[];
  normOut: LayerNormWeights;
  head: OutputHead;
}

function readWeights(w: PackedWeights<MofConfig>): MofWeights {
  const c = w.config, d = c.dim, width = gruWidth(c), hidden = ffnHidden(c), r = c.routerDim;
  const norm = (name: string): LayerNormWeights => w.layerNorm(name, d);
  const scalar = (name: string): number => w.float(name, [1]).f32()[0];
  const embedding = w.float('embed.weight', [c.vocabSize, d]);
  const layers: Layer[] = [];
  for (let l = 0; l < c.layers; l++) {
    const p = `blocks.${l}`, t = `${p}.transformer`;
    layers.push({
      embeddingWeight: c.embeddingMix ? scalar(`${p}.embedding_weight`) : 0,
      gruNorm: norm(`${p}.gru.norm`),
      gru: { f: w.projection(`${p}.gru.gru.f`, width, d), c: w.projection(`${p}.gru.gru.c`, width, d) },
      gruOut: w.projection(`${p}.gru.out`, d, width),
      norm: norm(`${t}.norm`),
      q: w.projection(`${t}.attention.q`, d, d), k: w.projection(`${t}.attention.k`, d, d),
      v: w.projection(`${t}.attention.v`, d, d), o: w.projection(`${t}.attention.o`, d, d),
      thought: w.projection(`${t}.thought`, d, d),
      thoughtWeight: scalar(`${t}.thought_weight`),
      ffnNorm: norm(`${t}.ffn_norm`),
      gate: w.projection(`${t}.ffn.gate`, hidden, d), up: w.projection(`${t}.ffn.up`, hidden, d), down: w.projection(`${t}.ffn.down`, d, hidden),
      routerNorm: norm(`${p}.router.norm`),
      router: { f: w.projection(`${p}.router.gru.f`, r, d), c: w.projection(`${p}.router.gru.c`, r, d) },
      routerOut: w.projection(`${p}.router.out`, 2, r),
    });
  }
  return { embedding, layers, normOut: norm('norm_out'), head: w.head(embedding) };
}

/** Per-sequence state: every layer's recurrent memories. */
export class MofState extends StepStateBase {
  readonly gruState: Tensor; // (layers, gruWidth) the GRU expert's minGRU
  readonly routerState: Tensor; // (layers, routerDim) the router's minGRU
  readonly S: Tensor; // (layers, heads, hd, hd) Σ v φ(k)ᵀ: row j of a head is Σ v_j φ(k), so that φ(q)ᵀ S is one matrix-vector product
  readonly z: Tensor; // (layers, heads, hd) Σ φ(k)
  readonly thoughtSum: Tensor; // (layers, dim) Σ n, the thought vector's context

  constructor(c: MofConfig) {
    super(c.vocabSize);
    const b = this.buffers, hd = c.dim / c.heads;
    this.gruState = b.zeros([c.layers, gruWidth(c)]);
    this.routerState = b.zeros([c.layers, c.routerDim]);
    this.S = b.zeros([c.layers, c.heads, hd, hd]);
    this.z = b.zeros([c.layers, c.heads, hd]);
    this.thoughtSum = b.zeros([c.layers, c.dim]);
  }

  protected memory(): Tensor[] {
    return [this.gruState, this.routerState, this.S, this.z, this.thoughtSum];
  }
}

/**
 * The workspace's buffers, floats a row: the token's embedding e, the residual stream x, a
 * LayerNorm's output n, a projection's normed input h, the position's encoding pe, q, k, v, the
 * attention output att (then the transformer's branch), the experts' outputs g and a, the
 * minGRUs' gates and candidates gf, gc (gruWidth) and rf, rc (routerDim), the router's weights p
 * (2), φ(q) ⊙ z (then each head's φ(q)ᵀ z repeated over the head) qz, φ(q)ᵀ z of each head den
 * (heads), the GLU's hb, hb2; and the rows' memories gathered from their states for the pass,
 * laid out (layers, rows, width): gru, router, thought, z. S is read in place, a row at a time.
 */
function rowWidths(c: MofConfig) {
  const d = c.dim, width = gruWidth(c), r = c.routerDim, hidden = ffnHidden(c);
  return {
    e: d, x: d, n: d, h: d, pe: d, q: d, k: d, v: d, att: d, g: d, a: d, gf: width, gc: width, rf: r, rc: r, p: 2, qz: d, den: c.heads,
    hb: hidden, hb2: hidden, gru: c.layers * width, router: c.layers * r, thought: c.layers * d, z: c.layers * d,
  };
}

export class MofInference extends StepEngine<MofConfig, MofState> {
  readonly family = 'mof';
  readonly config: Readonly<Record<string, number | string | boolean>>;
  protected readonly batch: BatchWorkspace<keyof ReturnType<typeof rowWidths>>;
  private readonly w: MofWeights;

  constructor(source: PackedSource) {
    super(PackedWeights.open(source, 'mof', 'mixture-of-frameworks model'));
    const c = this.modelConfig;
    this.config = {
      dim: c.dim, layers: c.layers, heads: c.heads, gruWidth: gruWidth(c), ffnHidden: ffnHidden(c), routerDim: c.routerDim,
      precision: c.precision, quantizeActivations: c.quantizeActivations, embeddingMix: c.embeddingMix,
      trainedContextLength: c.contextLength, head: c.head.type, vocabSize: c.vocabSize,
    };
    this.w = this.weights.build(readWeights);
    this.batch = new BatchWorkspace(rowWidths(c), c.vocabSize, Math.max(c.dim, gruWidth(c), ffnHidden(c), c.routerDim), this.weights.panels);
  }

  newState(): MofState {
    return new MofState(this.modelConfig);
  }

  protected advance(states: readonly MofState[]): void {
    const c = this.modelConfig, d = c.dim, w = this.w, ws = this.batch, rows = states.length, nd = rows * d;
    const width = gruWidth(c), hidden = ffnHidden(c);
    const x = ws.ptr('x'), n = ws.ptr('n'), h = ws.ptr('h'), att = ws.ptr('att'), a = ws.ptr('a'), g = ws.ptr('g'), e = ws.ptr('e'), q = ws.ptr('q');
    const layerNorm = (from: number, norm: LayerNormWeights, to: number) => K.layerNormForward(from, norm.weight, norm.bias, to, ws.mean.ptr, ws.rstd.ptr, rows, d, LAYER_NORM_EPS);
    const rmsNorm = (from: number, to: number, cols: number) => K.rmsNormForward(from, 0, to, ws.rstd.ptr, rows, cols, RMS_NORM_EPS);
    const project = (p: Projection, from: number, to: number, accumulate: boolean) => ws.projector.run(p, from, to, rows, accumulate);
    /** One minGRU step on the normed input h: state = c + f (state - c), then out = R . norm(state); rows of `cols` floats. */
    const minGRU = (gru: MinGRU, state: number, f: number, cand: number, cols: number, out: Projection, to: number) => {
      const m = rows * cols;
      project(gru.f, h, f, false);
      project(gru.c, h, cand, false);
      K.unaryForward('sigmoid', f, f, m);
      K.unaryForward('tanh', cand, cand, m);
      K.binaryForward('sub', state, cand, m, state, m);
      K.binaryForward('mul', state, f, m, state, m);
      K.binaryForward('add', state, cand, m, state, m);
      rmsNorm(state, cand, cols);
      project(out, cand, to, false);
    };
    const memories = {
      gru: states.map((s) => s.gruState), router: states.map((s) => s.routerState), thought: states.map((s) => s.thoughtSum), z: states.map((s) => s.z),
    };

    for (const name of ['gru', 'router', 'thought', 'z'] as const) ws.gather(name, memories[name], c.layers);
    K.embeddingForward(w.embedding.ptr, ws.ids.ptr, e, rows, d);
    K.scale(e, 1, x, nd, false);
    const pe = ws.view('pe', rows).f32();
    states.forEach((s, i) => sinusoidalEncoding(s.pos, d, pe, i * d));
    for (let l = 0; l < c.layers; l++) {
      const L = w.layers[l];
      if (c.embeddingMix) K.scale(e, L.embeddingWeight, x, nd, true);

      // GRU expert: g = x + O . norm(minGRU(LN(x))).
      layerNorm(x, L.gruNorm, n);
      rmsNorm(n, h, d);
      minGRU(L.gru, ws.ptr('gru') + l * rows * width * 4, ws.ptr('gf'), ws.ptr('gc'), width, L.gruOut, g);
      K.binaryForward('add', x, g, nd, g, nd);

      // Transformer expert: linear attention on LN(x) + PE, the thought vector, then the GLU.
      layerNorm(x, L.norm, n);
      K.binaryForward('add', n, ws.ptr('pe'), nd, h, nd);
      rmsNorm(h, h, d);
      project(L.q, h, q, false);
      project(L.k, h, ws.ptr('k'), false);
      project(L.v, h, ws.ptr('v'), false);
      K.unaryForward('eluPlusOne', q, q, nd);
      K.unaryForward('eluPlusOne', ws.ptr('k'), ws.ptr('k'), nd);
      this.attend(states, l);
      rmsNorm(att, h, d);
      project(L.o, h, att, false);
      // The thought vector: each row's running mean over its own positions.
      const sum = ws.ptr('thought') + l * nd * 4;
      K.binaryForward('add', sum, n, nd, sum, nd);
      states.forEach((s, i) => K.scale(sum + i * d * 4, 1 / (s.pos + 1), h + i * d * 4, d, false));
      rmsNorm(h, h, d);
      project(L.thought, h, q, false); // q is free again
      K.scale(q, L.thoughtWeight, att, nd, true);
      K.binaryForward('add', x, att, nd, a, nd);
      layerNorm(a, L.ffnNorm, n);
      rmsNorm(n, h, d);
      project(L.gate, h, ws.ptr('hb'), false);
      project(L.up, h, ws.ptr('hb2'), false);
      swiglu(ws.ptr('hb'), ws.ptr('hb2'), ws.ptr('hb'), rows * hidden);
      rmsNorm(ws.ptr('hb'), ws.ptr('hb'), hidden);
      project(L.down, ws.ptr('hb'), a, true);

      // Router: p = softmax(R . norm(minGRU(LN(x)))); x = p_0 g + p_1 a, each row by its own weights.
      layerNorm(x, L.routerNorm, n);
      rmsNorm(n, h, d);
      minGRU(L.router, ws.ptr('router') + l * rows * c.routerDim * 4, ws.ptr('rf'), ws.ptr('rc'), c.routerDim, L.routerOut, ws.ptr('p'));
      K.softmaxForward(ws.ptr('p'), ws.ptr('p'), rows, 2, 0);
      const p = ws.view('p', rows).f32();
      for (let i = 0; i < rows; i++) {
        K.scale(g + i * d * 4, p[2 * i], x + i * d * 4, d, false);
        K.scale(a + i * d * 4, p[2 * i + 1], x + i * d * 4, d, true);
      }
    }
    for (const name of ['gru', 'router', 'thought', 'z'] as const) ws.scatter(name, memories[name], c.layers);
  }

  /**
   * The workspace's att (rows, dim) = per row and head φ(q)ᵀ S / φ(q)ᵀ z after adding v φ(k)ᵀ to
   * S and φ(k) to z: q and k hold φ(q) and φ(k), z the rows' gathered sums of layer l; each row's
   * S is its state's, updated and read in place.
   */
  private attend(states: readonly MofState[], l: number): void {
    const c = this.modelConfig, H = c.heads, d = c.dim, hd = d / H, ws = this.batch, rows = states.length, nd = rows * d;
    const z = ws.ptr('z') + l * nd * 4, qz = ws.ptr('qz'), den = ws.ptr('den');
    K.binaryForward('add', z, ws.ptr('k'), nd, z, nd);
    states.forEach((s, i) => {
      for (let head = 0; head < H; head++) {
        const S = s.S.ptr + (l * H + head) * hd * hd * 4, at = (i * d + head * hd) * 4;
        K.matmul(hd, hd, 1, ws.ptr('v') + at, false, ws.ptr('k') + at, false, S, true);
        K.matvec(hd, hd, S, hd, ws.ptr('q') + at, ws.ptr('att') + at, false);
      }
    });
    // den = φ(q)ᵀ z of every (row, head); each repeated over its head's hd floats divides att.
    K.binaryForward('mul', ws.ptr('q'), z, nd, qz, nd);
    K.rowSum(qz, rows * H, hd, 1, den, false);
    K.copyRows(den, 1, 0, qz, hd, 1, rows * H, hd, 1, false);
    K.binaryForward('div', ws.ptr('att'), qz, nd, ws.ptr('att'), nd);
  }

  protected classify(rows: number): void {
    const ws = this.batch, norm = this.w.normOut;
    K.layerNormForward(ws.ptr('x'), norm.weight, norm.bias, ws.ptr('h'), ws.mean.ptr, ws.rstd.ptr, rows, this.modelConfig.dim, LAYER_NORM_EPS);
    this.w.head.logits(ws.view('h', rows), ws.logits(rows));
  }
}
