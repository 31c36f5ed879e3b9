// BitNet b1.58 decoding with a KV cache, on a file from `ternlm export` of a model
// src/models/bitnet.ts trained. Every projection is a BitLinear: its input is RMS-normalized
// (no gain), then multiplied as the export stores the weight — ternary 2-bit packed times 8-bit
// activations (additions and subtractions only), or f32 for int8 / fp32 layers and ternary ones
// with float activations. One forward pass takes rows that each sit at their own position of their
// own sequence (a chunk of a prompt, or the new token of several sequences), each attending over
// its sequence's cache up to its position:
//
//   x = embedding[token]
//   per layer:  h = norm(rmsnorm(x))                            norm: BitLinear's, no gain (none with inputNorm false)
//               x += Wo . norm(attention(rope(Wq . h), cache(rope(Wk . h), Wv . h)))
//               h = norm(rmsnorm(x))
//               x += Wdown . norm(act(Wgate . h) * (Wup . h))    act: SiLU (SwiGLU) or ReLU²
//   logits = head(rmsnorm(x))
import { TernlmError } from '../core/errors.js';
import { binaryForward, embeddingForward, rmsNormForward, unaryForward } from '../core/kernels.js';
import { ropeRotate, swiglu } from '../core/kernels-infer.js';
import type { Tensor } from '../core/tensor.js';
import { ffnHidden, normEpsOf, type BitNetConfig } from '../models/bitnet.js';
import { ropeTable } from '../ops/index.js';
import { type OutputHead, PackedWeights, type Projection, RMS_NORM_EPS, type Span, type TransformerActivations, TransformerEngine } from './engine.js';
import type { PackedSource } from './packed-format.js';

/** One block's weights: pointers into the heap (norm gains: dim floats). */
interface Layer {
  attnNorm: number;
  q: Projection; // (dim, dim)
  k: Projection; // (kvDim, dim)
  v: Projection; // (kvDim, dim)
  o: Projection; // (dim, dim)
  ffnNorm: number;
  gate: Projection; // (hidden, dim)
  up: Projection; // (hidden, dim)
  down: Projection; // (dim, hidden)
}

interface BitNetWeights {
  embedding: Tensor; // (vocab, dim)
  layers: Layer[];
  normOut: number; // (dim)
  head: OutputHead;
  /** (contextLength, 2 * headSize) RoPE table: per position the cosines then the signed sines (see rope_rotate). */
  rope: Tensor;
}

function readWeights(w: PackedWeights<BitNetConfig>): BitNetWeights {
  const c = w.config, d = c.dim, hidden = ffnHidden(c);
  if (d % c.heads !== 0 || c.heads % c.kvHeads !== 0 || (d / c.heads) % 2 !== 0) {
    throw new TernlmError(`${w.path}: ${c.heads} heads of an even size over ${c.kvHeads} key/value heads do not fit dim ${d}`);
  }
  const kvDim = (c.kvHeads * d) / c.heads;
  const embedding = w.float('embed.weight', [c.vocabSize, d]);
  const layers: Layer[] = [];
  for (let l = 0; l < c.layers; l++) {
    const p = `blocks.${l}`;
    layers.push({
      attnNorm: w.float(`${p}.attn_norm.weight`, [d]).ptr,
      q: w.projection(`${p}.attn.q`, d, d), k: w.projection(`${p}.attn.k`, kvDim, d),
      v: w.projection(`${p}.attn.v`, kvDim, d), o: w.projection(`${p}.attn.o`, d, d),
      ffnNorm: w.float(`${p}.ffn_norm.weight`, [d]).ptr,
      gate: w.projection(`${p}.ffn.gate`, hidden, d), up: w.projection(`${p}.ffn.up`, hidden, d), down: w.projection(`${p}.ffn.down`, d, hidden),
    });
  }
  const normOut = w.float('norm_out.weight', [d]).ptr;
  const rope = w.adopt(ropeTable(c.contextLength, d / c.heads, c.ropeTheta));
  return { embedding, layers, normOut, head: w.head(embedding), rope };
}

export class BitNetInference extends TransformerEngine<BitNetConfig> {
  readonly family = 'bitnet';
  readonly config: Readonly<Record<string, number | string | boolean>>;
  private readonly w: BitNetWeights;

  constructor(source: PackedSource) {
    const weights = PackedWeights.open(source, 'bitnet', 'BitNet');
    const c = weights.config;
    super(weights, { ...c, hidden: ffnHidden(c) });
    this.w = weights.build(readWeights);
    this.config = {
      dim: c.dim, layers: c.layers, heads: c.heads, kvHeads: c.kvHeads, ffn: c.ffn, ffnHidden: ffnHidden(c), ropeTheta: c.ropeTheta,
      precision: c.precision, quantizeActivations: c.quantizeActivations, contextLength: c.contextLength, head: c.head.type, vocabSize: c.vocabSize,
    };
  }

  protected forward(a: TransformerActivations, spans: readonly Span[], rows: number): void {
    const c = this.modelConfig, d = c.dim, hidden = ffnHidden(c), hs = d / c.heads, kvDim = c.kvHeads * hs, w = this.w;
    const x = a.x.ptr, xb = a.xb.ptr, q = a.q.ptr, k = a.k.ptr, v = a.v.ptr, hb = a.hb.ptr, hb2 = a.hb2.ptr, project = a.projector;
    const rmsNorm = (from: number, gain: number, to: number, width: number) => rmsNormForward(from, gain, to, a.rstd.ptr, rows, width, normEpsOf(c));
    // BitLinear's own norm of a projection's input (no gain, RMS_NORM_EPS as in training), when the model has it.
    const inputNorm = (at: number, width: number) => {
      if (c.inputNorm ?? true) rmsNormForward(at, 0, at, a.rstd.ptr, rows, width, RMS_NORM_EPS);
    };

    embeddingForward(w.embedding.ptr, a.ids.ptr, x, rows, d);
    for (let l = 0; l < c.layers; l++) {
      const L = w.layers[l];
      // Attention block; the rows' keys and values go into their caches. q, k and v share their
      // input, so BitLinear's norm of it runs once; each row turns by its own position.
      rmsNorm(x, L.attnNorm, xb, d);
      inputNorm(xb, d);
      project.run(L.q, xb, q, rows, false);
      project.run(L.k, xb, k, rows, false);
      project.run(L.v, xb, v, rows, false);
      for (const { pos, row, rows: n } of spans) {
        for (let i = 0; i < n; i++) {
          const rope = w.rope.ptr + (pos + i) * 2 * hs * 4;
          ropeRotate(q + (row + i) * d * 4, rope, c.heads, hs);
          ropeRotate(k + (row + i) * kvDim * 4, rope, c.kvHeads, hs);
        }
      }
      this.attend(l, a, spans, xb);
      inputNorm(xb, d);
      project.run(L.o, xb, x, rows, true);

      // Feed-forward block: x += Wdown . norm(act(Wgate . h) * (Wup . h)).
      rmsNorm(x, L.ffnNorm, xb, d);
      inputNorm(xb, d);
      project.run(L.gate, xb, hb, rows, false);
      project.run(L.up, xb, hb2, rows, false);
      if (c.ffn === 'swiglu') {
        swiglu(hb, hb2, hb, rows * hidden);
      } else {
        unaryForward('relu2', hb, hb, rows * hidden);
        binaryForward('mul', hb, hb2, rows * hidden, hb, rows * hidden);
      }
      inputNorm(hb, hidden);
      project.run(L.down, hb, x, rows, true);
    }
  }

  protected classify(a: TransformerActivations, row: number, count: number, out: Tensor): void {
    const d = this.modelConfig.dim;
    rmsNormForward(a.x.ptr + row * d * 4, this.w.normOut, a.h.ptr, a.rstd.ptr, count, d, normEpsOf(this.modelConfig));
    this.w.head.logits(a.h.rows(0, count), out);
  }
}
