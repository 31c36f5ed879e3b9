// Output heads: full softmax, hierarchical softmax (Huffman tree), adaptive softmax, two-level
// (class -> word) softmax.
import { Rng } from '../core/rng.js';
import { AdaptiveHead, type AdaptiveConfig } from './adaptive.js';
import type { Head } from './head.js';
import { HierarchicalHead, type HierarchicalConfig } from './hierarchical.js';
import { SoftmaxHead } from './softmax.js';
import { TwoLevelHead, type TwoLevelConfig } from './two-level.js';
import type { Tensor } from '../core/tensor.js';

export { Head } from './head.js';
export { SoftmaxHead } from './softmax.js';
export { HierarchicalHead, type HierarchicalConfig, type HierarchicalOptions } from './hierarchical.js';
export { AdaptiveHead, defaultCutoffs, frequencyOrder, type AdaptiveConfig, type AdaptiveOptions } from './adaptive.js';
export { TwoLevelHead, defaultClassCount, frequencyClasses, type TwoLevelConfig, type TwoLevelOptions } from './two-level.js';
export { buildHuffmanTree, codeOf, treeFromChildren, treeToJson, type HuffmanTree, type TreeJson } from './huffman.js';

/** The full softmax head's structure (its weight, or the tied embedding, is a parameter). */
export interface SoftmaxConfig {
  kind: 'softmax';
  vocabSize: number;
  dim: number;
}

export type HeadConfig = SoftmaxConfig | HierarchicalConfig | AdaptiveConfig | TwoLevelConfig;

/**
 * Rebuild a head from its saved config (parameters are then loaded by name); a two-level head
 * reads the model's token `embedding`.
 */
export function headFromConfig(cfg: HeadConfig, rng: Rng, embedding?: Tensor): Head {
  switch (cfg.kind) {
    case 'softmax': return new SoftmaxHead(cfg.vocabSize, cfg.dim, rng);
    case 'hierarchical': return HierarchicalHead.fromConfig(cfg, rng);
    case 'adaptive': return AdaptiveHead.fromConfig(cfg, rng);
    case 'two-level':
      if (!embedding) throw new Error('the two-level head needs the model\'s token embedding');
      return TwoLevelHead.fromConfig(cfg, rng, embedding);
    default: throw new Error(`unknown head kind ${(cfg as { kind: string }).kind}: expected softmax, hierarchical, adaptive or two-level`);
  }
}
