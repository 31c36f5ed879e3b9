// GPT-2 decoding with a KV cache, on a file from `ternlm export` of a model src/models/gpt2.ts
// trained. Weights are f32 in the heap (f16 in the file is widened). One forward pass takes
// rows that each sit at their own position of their own sequence (a chunk of a prompt, or the new
// token of several sequences), each attending over its sequence's cache up to its position:
//
//   x = wte[token] + wpe[pos]
//   per layer:  q | k | v = Wqkv . layernorm(x) + bqkv          k, v go into the cache at pos
//               x += Wproj . attention(q, cache) + bproj
//               x += Wfc2 . gelu(Wfc . layernorm(x) + bfc) + bfc2
//   logits = head(layernorm(x))                                the tied embedding by default
import { TernlmError } from '../core/errors.js';
import { binaryForward, embeddingForward, layerNormForward, unaryForward } from '../core/kernels.js';
import type { Tensor } from '../core/tensor.js';
import type { GPT2Config } from '../models/gpt2.js';
import {
  addBias, LAYER_NORM_EPS, type LayerNormWeights, type OutputHead, PackedWeights, type Projection, projectionRows, type Span,
  type TransformerActivations, TransformerEngine,
} from './engine.js';
import type { PackedSource } from './packed-format.js';

/** One block's weights: pointers into the heap (biases: as many floats as their projection's rows). */
interface Layer {
  ln1: LayerNormWeights;
  q: Projection; k: Projection; v: Projection; // (dim, dim) each: rows of the fused qkv weight
  qBias: number; kBias: number; vBias: number;
  proj: Projection; projBias: number; // (dim, dim)
  ln2: LayerNormWeights;
  fc: Projection; fcBias: number; // (4 dim, dim)
  fcProj: Projection; fcProjBias: number; // (dim, 4 dim)
}

interface GPT2Weights {
  wte: Tensor; // (vocab, dim)
  wpe: Tensor; // (contextLength, dim)
  layers: Layer[];
  lnOut: LayerNormWeights;
  head: OutputHead;
}

function readWeights(w: PackedWeights<GPT2Config>): GPT2Weights {
  const c = w.config, d = c.dim;
  if (d % c.heads !== 0) throw new TernlmError(`${w.path}: dim ${d} is not a multiple of heads ${c.heads}`);
  const norm = (name: string): LayerNormWeights => w.layerNorm(name, d);
  const wte = w.float('embed.weight', [c.vocabSize, d]);
  const wpe = w.float('pos_embed.weight', [c.contextLength, d]);
  const layers: Layer[] = [];
  for (let l = 0; l < c.layers; l++) {
    const p = `blocks.${l}`;
    const qkv = w.projection(`${p}.attn.qkv`, 3 * d, d), qkvBias = w.float(`${p}.attn.qkv.bias`, [3 * d]).ptr;
    layers.push({
      ln1: norm(`${p}.ln1`),
      q: projectionRows(qkv, 0, d), k: projectionRows(qkv, d, d), v: projectionRows(qkv, 2 * d, d),
      qBias: qkvBias, kBias: qkvBias + d * 4, vBias: qkvBias + 2 * d * 4,
      proj: w.projection(`${p}.attn.proj`, d, d), projBias: w.float(`${p}.attn.proj.bias`, [d]).ptr,
      ln2: norm(`${p}.ln2`),
      fc: w.projection(`${p}.mlp.fc`, 4 * d, d), fcBias: w.float(`${p}.mlp.fc.bias`, [4 * d]).ptr,
      fcProj: w.projection(`${p}.mlp.proj`, d, 4 * d), fcProjBias: w.float(`${p}.mlp.proj.bias`, [d]).ptr,
    });
  }
  return { wte, wpe, layers, lnOut: norm('norm_out'), head: w.head(wte) };
}

export class GPT2Inference extends TransformerEngine<GPT2Config> {
  readonly family = 'gpt2';
  readonly config: Readonly<Record<string, number | string | boolean>>;
  private readonly w: GPT2Weights;

  /** The context is the positions the learned position embedding holds. */
  constructor(source: PackedSource) {
    const weights = PackedWeights.open(source, 'gpt2', 'GPT-2');
    const c = weights.config;
    super(weights, { ...c, kvHeads: c.heads, hidden: 4 * c.dim });
    this.w = weights.build(readWeights);
    this.config = { dim: c.dim, layers: c.layers, heads: c.heads, contextLength: c.contextLength, head: c.head.type, vocabSize: c.vocabSize };
  }

  protected forward(a: TransformerActivations, spans: readonly Span[], rows: number): void {
    const c = this.modelConfig, d = c.dim, w = this.w;
    const x = a.x.ptr, xb = a.xb.ptr, q = a.q.ptr, k = a.k.ptr, v = a.v.ptr, hb = a.hb.ptr, project = a.projector;
    const layerNorm = (n: LayerNormWeights) => layerNormForward(x, n.weight, n.bias, xb, a.mean.ptr, a.rstd.ptr, rows, d, LAYER_NORM_EPS);

    embeddingForward(w.wte.ptr, a.ids.ptr, x, rows, d);
    for (const { pos, row, rows: n } of spans) {
      const xs = x + row * d * 4;
      binaryForward('add', xs, w.wpe.ptr + pos * d * 4, n * d, xs, n * d);
    }
    for (let l = 0; l < c.layers; l++) {
      const L = w.layers[l];
      // Attention block; the rows' keys and values go into their caches.
      layerNorm(L.ln1);
      project.run(L.q, xb, q, rows, false);
      addBias(q, L.qBias, d, rows);
      project.run(L.k, xb, k, rows, false);
      addBias(k, L.kBias, d, rows);
      project.run(L.v, xb, v, rows, false);
      addBias(v, L.vBias, d, rows);
      this.attend(l, a, spans, xb);
      project.run(L.proj, xb, x, rows, true);
      addBias(x, L.projBias, d, rows);

      // Feed-forward block: x += Wfc2 . gelu(Wfc . xn + bfc) + bfc2.
      layerNorm(L.ln2);
      project.run(L.fc, xb, hb, rows, false);
      addBias(hb, L.fcBias, 4 * d, rows);
      unaryForward('gelu', hb, hb, rows * 4 * d);
      project.run(L.fcProj, hb, x, rows, true);
      addBias(x, L.fcProjBias, d, rows);
    }
  }

  protected classify(a: TransformerActivations, row: number, count: number, out: Tensor): void {
    const d = this.modelConfig.dim, n = this.w.lnOut;
    layerNormForward(a.x.ptr + row * d * 4, n.weight, n.bias, a.h.ptr, a.mean.ptr, a.rstd.ptr, count, d, LAYER_NORM_EPS);
    this.w.head.logits(a.h.rows(0, count), out);
  }
}
