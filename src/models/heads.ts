// Head selection by config.
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { Head } from '../heads/head.js';
import { AdaptiveHead, HierarchicalHead, SoftmaxHead, headFromConfig, type HeadConfig as HeadStructure } from '../heads/index.js';

export interface HeadConfig {
  type: 'softmax' | 'hierarchical' | 'adaptive';
  /** Softmax head: share the token embedding matrix. */
  tied?: boolean;
  /** Adaptive head: cluster boundaries in frequency rank. */
  cutoffs?: number[];
}

/**
 * Build the head. Hierarchical and adaptive heads are built from the training tokens'
 * frequencies, or rebuilt from a saved `structure` (an exported model's tree or cluster order).
 */
export function createHead(
  c: HeadConfig, vocabSize: number, dim: number, rng: Rng, embedding: Tensor, counts?: ArrayLike<number>, structure?: HeadStructure,
): Head {
  switch (c.type) {
    case 'softmax':
      return new SoftmaxHead(vocabSize, dim, rng, c.tied ? embedding : undefined);
    case 'hierarchical':
    case 'adaptive': {
      if (structure) {
        if (structure.kind !== c.type) throw new Error(`the saved head structure is ${structure.kind}, the config says ${c.type}`);
        return headFromConfig(structure, rng);
      }
      if (!counts) throw new Error(`the ${c.type} head needs the training tokens' frequencies`);
      return c.type === 'hierarchical'
        ? new HierarchicalHead(vocabSize, dim, counts, rng)
        : new AdaptiveHead(vocabSize, dim, counts, rng, c.cutoffs ? { cutoffs: c.cutoffs } : {});
    }
    default:
      throw new Error(`unknown head type '${(c as HeadConfig).type}': expected softmax, hierarchical or adaptive`);
  }
}
