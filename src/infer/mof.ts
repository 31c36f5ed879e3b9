// Mixture-of-frameworks decoding (src/models/mof.ts), one token at a time with a fixed-size state:
// per layer the GRU expert's and the router's minGRU states, linear attention's S (hd x hd) and
// z (hd) per head, and the running sum of the thought vector's context; the position feeds the
// sinusoidal encoding and the running mean's count. No KV cache, no context limit, O(1) a token.
// Every projection is a BitLinear: its input is RMS-normalized (no gain), then multiplied as the
// export stores the weight (see Projector in engine.ts).
//
//   e = embedding[token]; x = e
//   per layer:  x += β e                                           with embeddingMix
//               GRU expert:   h = norm(LN(x)); f = σ(F h), c = tanh(C h); s = c + f (s - c)
//                             g = x + O . norm(s)
//               transformer:  n = LN(x); h = norm(n + PE(pos)); q, k, v = Q h, K h, V h
//                             per head: S += φ(k) vᵀ, z += φ(k); out = φ(q)ᵀ S / φ(q)ᵀ z
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
import { LAYER_NORM_EPS, type LayerNormWeights, type OutputHead, PackedWeights, type Projection, RMS_NORM_EPS, StepEngine, StepStateBase } from './engine.js';
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

/** Per-sequence state: every layer's recurrent memories and one token's scratch, allocated once. */
export class MofState extends StepStateBase {
  readonly gruState: Tensor; // (layers, gruWidth) the GRU expert's minGRU
  readonly routerState: Tensor; // (layers, routerDim) the router's minGRU
  readonly S: Tensor; // (layers, heads, hd, hd) Σ φ(k) vᵀ
  readonly z: Tensor; // (layers, heads, hd) Σ φ(k)
  readonly thoughtSum: Tensor; // (layers, dim) Σ n, the thought vector's context
  readonly e: Tensor; // (dim) the token's embedding
  readonly x: Tensor; // (dim) residual stream
  readonly n: Tensor; // (dim) a LayerNorm's output
  readonly h: Tensor; // (dim) a projection's normed input
  readonly pe: Tensor; // (dim) the position's encoding
  readonly q: Tensor; // (dim)
  readonly k: Tensor; // (dim)
  readonly v: Tensor; // (dim)
  readonly att: Tensor; // (dim) attention output, then the transformer's branch
  readonly g: Tensor; // (dim) the GRU expert's output
  readonly a: Tensor; // (dim) the transformer expert's output
  readonly gf: Tensor; // (gruWidth) gate
  readonly gc: Tensor; // (gruWidth) candidate, then the normed state
  readonly rf: Tensor; // (routerDim)
  readonly rc: Tensor; // (routerDim)
  readonly p: Tensor; // (2) the router's weights
  readonly den: Tensor; // (1) φ(q)ᵀ z
  readonly hb: Tensor; // (hidden)
  readonly hb2: Tensor; // (hidden)

  constructor(c: MofConfig) {
    super(c.vocabSize, Math.max(c.dim, gruWidth(c), ffnHidden(c), c.routerDim));
    const b = this.buffers, d = c.dim, width = gruWidth(c), hidden = ffnHidden(c), hd = d / c.heads;
    this.gruState = b.zeros([c.layers, width]);
    this.routerState = b.zeros([c.layers, c.routerDim]);
    this.S = b.zeros([c.layers, c.heads, hd, hd]);
    this.z = b.zeros([c.layers, c.heads, hd]);
    this.thoughtSum = b.zeros([c.layers, d]);
    [this.e, this.x, this.n, this.h, this.pe, this.q, this.k, this.v, this.att, this.g, this.a] = Array.from({ length: 11 }, () => b.empty([d]));
    this.gf = b.empty([width]);
    this.gc = b.empty([width]);
    this.rf = b.empty([c.routerDim]);
    this.rc = b.empty([c.routerDim]);
    this.p = b.empty([2]);
    this.den = b.empty([1]);
    this.hb = b.empty([hidden]);
    this.hb2 = b.empty([hidden]);
  }

  protected memory(): Tensor[] {
    return [this.gruState, this.routerState, this.S, this.z, this.thoughtSum];
  }
}

export class MofInference extends StepEngine<MofConfig, MofState> {
  readonly family = 'mof';
  readonly config: Readonly<Record<string, number | string | boolean>>;
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
  }

  newState(): MofState {
    return new MofState(this.modelConfig);
  }

  protected advance(s: MofState, token: number): void {
    const c = this.modelConfig, d = c.dim, w = this.w, project = s.projector;
    const x = s.x.ptr, n = s.n.ptr, h = s.h.ptr, att = s.att.ptr, a = s.a.ptr, g = s.g.ptr;
    const layerNorm = (from: number, norm: LayerNormWeights, to: number) => K.layerNormForward(from, norm.weight, norm.bias, to, s.mean.ptr, s.rstd.ptr, 1, d, LAYER_NORM_EPS);
    const rmsNorm = (from: number, to: number, width: number) => K.rmsNormForward(from, 0, to, s.rstd.ptr, 1, width, RMS_NORM_EPS);
    /** One minGRU step on the normed input h: state = c + f (state - c), then out = R . norm(state). */
    const minGRU = (gru: MinGRU, state: number, f: number, cand: number, width: number, out: Projection, to: number) => {
      project.run(gru.f, h, f, 1, false);
      project.run(gru.c, h, cand, 1, false);
      K.unaryForward('sigmoid', f, f, width);
      K.unaryForward('tanh', cand, cand, width);
      K.binaryForward('sub', state, cand, width, state, width);
      K.binaryForward('mul', state, f, width, state, width);
      K.binaryForward('add', state, cand, width, state, width);
      rmsNorm(state, cand, width);
      project.run(out, cand, to, 1, false);
    };

    s.id.typed()[0] = token;
    K.embeddingForward(w.embedding.ptr, s.id.ptr, s.e.ptr, 1, d);
    K.scale(s.e.ptr, 1, x, d, false);
    sinusoidalEncoding(s.pos, d, s.pe.f32());
    for (let l = 0; l < c.layers; l++) {
      const L = w.layers[l];
      if (c.embeddingMix) K.scale(s.e.ptr, L.embeddingWeight, x, d, true);

      // GRU expert: g = x + O . norm(minGRU(LN(x))).
      layerNorm(x, L.gruNorm, n);
      rmsNorm(n, h, d);
      minGRU(L.gru, s.gruState.ptr + l * gruWidth(c) * 4, s.gf.ptr, s.gc.ptr, gruWidth(c), L.gruOut, g);
      K.binaryForward('add', x, g, d, g, d);

      // Transformer expert: linear attention on LN(x) + PE, the thought vector, then the GLU.
      layerNorm(x, L.norm, n);
      K.binaryForward('add', n, s.pe.ptr, d, h, d);
      rmsNorm(h, h, d);
      project.run(L.q, h, s.q.ptr, 1, false);
      project.run(L.k, h, s.k.ptr, 1, false);
      project.run(L.v, h, s.v.ptr, 1, false);
      K.unaryForward('eluPlusOne', s.q.ptr, s.q.ptr, d);
      K.unaryForward('eluPlusOne', s.k.ptr, s.k.ptr, d);
      this.attendHeads(s, l, att);
      rmsNorm(att, h, d);
      project.run(L.o, h, att, 1, false);
      const sum = s.thoughtSum.ptr + l * d * 4;
      K.binaryForward('add', sum, n, d, sum, d);
      K.scale(sum, 1 / (s.pos + 1), h, d, false);
      rmsNorm(h, h, d);
      project.run(L.thought, h, s.q.ptr, 1, false); // q is free again
      K.scale(s.q.ptr, L.thoughtWeight, att, d, true);
      K.binaryForward('add', x, att, d, a, d);
      layerNorm(a, L.ffnNorm, n);
      rmsNorm(n, h, d);
      project.run(L.gate, h, s.hb.ptr, 1, false);
      project.run(L.up, h, s.hb2.ptr, 1, false);
      swiglu(s.hb.ptr, s.hb2.ptr, s.hb.ptr, ffnHidden(c));
      rmsNorm(s.hb.ptr, s.hb.ptr, ffnHidden(c));
      project.run(L.down, s.hb.ptr, a, 1, true);

      // Router: p = softmax(R . norm(minGRU(LN(x)))); x = p_0 g + p_1 a.
      layerNorm(x, L.routerNorm, n);
      rmsNorm(n, h, d);
      minGRU(L.router, s.routerState.ptr + l * c.routerDim * 4, s.rf.ptr, s.rc.ptr, c.routerDim, L.routerOut, s.p.ptr);
      K.softmaxForward(s.p.ptr, s.p.ptr, 1, 2, 0);
      const [p0, p1] = s.p.f32();
      K.scale(g, p0, x, d, false);
      K.scale(a, p1, x, d, true);
    }
  }

  /** out (dim) = per head φ(q)ᵀ S / φ(q)ᵀ z after adding φ(k) vᵀ to S and φ(k) to z (s.q, s.k hold φ(q), φ(k)). */
  private attendHeads(s: MofState, l: number, out: number): void {
    const c = this.modelConfig, H = c.heads, hd = c.dim / H;
    for (let head = 0; head < H; head++) {
      const S = s.S.ptr + (l * H + head) * hd * hd * 4, z = s.z.ptr + (l * H + head) * hd * 4;
      const q = s.q.ptr + head * hd * 4, k = s.k.ptr + head * hd * 4, v = s.v.ptr + head * hd * 4, o = out + head * hd * 4;
      K.matmul(hd, hd, 1, k, false, v, false, S, true);
      K.binaryForward('add', z, k, hd, z, hd);
      K.matmul(1, hd, hd, q, false, S, false, o, false);
      K.matvec(1, hd, z, hd, q, s.den.ptr, false);
      K.scale(o, 1 / s.den.f32()[0], o, hd, false);
    }
  }

  protected classify(s: MofState): void {
    const norm = this.w.normOut;
    K.layerNormForward(s.x.ptr, norm.weight, norm.bias, s.h.ptr, s.mean.ptr, s.rstd.ptr, 1, this.modelConfig.dim, LAYER_NORM_EPS);
    this.w.head.logits(s.h, s.logitsTensor);
  }
}
