// Output heads: full softmax, hierarchical softmax (Huffman tree), adaptive softmax.
import { Rng } from '../core/rng.js';
import { AdaptiveHead, type AdaptiveConfig } from './adaptive.js';
import type { Head } from './head.js';
import { HierarchicalHead, type HierarchicalConfig } from './hierarchical.js';
import { SoftmaxHead } from './softmax.js';

export { Head } from './head.js';
export { SoftmaxHead } from './softmax.js';
export { HierarchicalHead, type HierarchicalConfig, type HierarchicalOptions } from './hierarchical.js';
export { AdaptiveHead, defaultCutoffs, frequencyOrder, type AdaptiveConfig, type AdaptiveOptions } from './adaptive.js';
export { buildHuffmanTree, codeOf, treeFromChildren, treeToJson, type HuffmanTree, type TreeJson } from './huffman.js';

/** The full softmax head's structure (its weight, or the tied embedding, is a parameter). */
export interface SoftmaxConfig {
  kind: 'softmax';
  vocabSize: number;
  dim: number;
}

export type HeadConfig = SoftmaxConfig | HierarchicalConfig | AdaptiveConfig;

/** Rebuild a head from its saved config (parameters are then loaded by name). */
export function headFromConfig(cfg: HeadConfig, rng: Rng): Head {
  switch (cfg.kind) {
    case 'softmax': return new SoftmaxHead(cfg.vocabSize, cfg.dim, rng);
    case 'hierarchical': return HierarchicalHead.fromConfig(cfg, rng);
    case 'adaptive': return AdaptiveHead.fromConfig(cfg, rng);
    default: throw new Error(`unknown head kind ${(cfg as { kind: string }).kind}: expected softmax, hierarchical or adaptive`);
  }
}
