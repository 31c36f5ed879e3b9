// llama2.c checkpoint (src/io/llama2c.ts) -> a model of the bitnet family that computes exactly
// llama2.c's Llama: float projections (precision fp32), no BitLinear input norm, the file's
// feed-forward width, RMSNorm epsilon 1e-5 and RoPE base 10000 (what run.c fixes; ternlm's RoPE
// pairs (i, i+1) as llama2.c does). The weights map one to one:
//   token_embedding -> embed.weight          rms_att -> blocks.<l>.attn_norm.weight
//   wq, wk, wv, wo  -> blocks.<l>.attn.{q,k,v,o}.weight
//   rms_ffn         -> blocks.<l>.ffn_norm.weight
//   w1, w3, w2      -> blocks.<l>.ffn.{gate,up,down}.weight   (silu(w1 x) * (w3 x), then w2)
//   rms_final       -> norm_out.weight       wcls -> head.weight (untied files only)
import { Rng } from '../core/rng.js';
import { readLlama2c, type Llama2cHeader } from '../io/llama2c.js';
import { BITNET_DEFAULTS, BitNet, type BitNetConfig } from './bitnet.js';

/** The bitnet config that is llama2.c's Llama of this header. */
export function bitnetConfigFromLlama2c(h: Llama2cHeader): BitNetConfig {
  return {
    ...BITNET_DEFAULTS,
    vocabSize: h.vocabSize, dim: h.dim, layers: h.nLayers, heads: h.nHeads, kvHeads: h.nKvHeads,
    ffnMult: h.hiddenDim / h.dim, ffnHidden: h.hiddenDim, ffn: 'swiglu', ropeTheta: 10000,
    precision: 'fp32', quantizeActivations: false, inputNorm: false, normEps: 1e-5,
    contextLength: h.seqLen, head: { type: 'softmax', tied: h.sharedClassifier },
  };
}

/** Read a llama2.c v0 checkpoint into a new bitnet-family model with its weights. */
export function loadLlama2cAsBitNet(path: string): BitNet {
  const { header, weights } = readLlama2c(path);
  try {
    const model = new BitNet(bitnetConfigFromLlama2c(header), new Rng(0));
    const data = weights.f32();
    const params = new Map(model.namedParameters().map((p) => [p.name, p.tensor.f32()]));
    let off = 0;
    /** Copy the next blocks of the file into these parameters, each block as large as its parameter. */
    const fill = (names: string[]): void => {
      for (const name of names) {
        const to = params.get(name)!;
        to.set(data.subarray(off, off + to.length));
        off += to.length;
      }
    };
    const perLayer = (suffix: string): string[] => Array.from({ length: header.nLayers }, (_, l) => `blocks.${l}.${suffix}`);
    fill(['embed.weight']);
    for (const suffix of ['attn_norm', 'attn.q', 'attn.k', 'attn.v', 'attn.o', 'ffn_norm', 'ffn.gate', 'ffn.down', 'ffn.up']) fill(perLayer(`${suffix}.weight`));
    fill(['norm_out.weight']);
    if (!header.sharedClassifier) fill(['head.weight']);
    return model;
  } finally {
    weights.dispose();
  }
}
