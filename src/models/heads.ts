// Head selection by config.
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { Head } from '../heads/head.js';
import { AdaptiveHead, HierarchicalHead, SoftmaxHead, TwoLevelHead, headFromConfig, type HeadConfig as HeadStructure } from '../heads/index.js';

export interface HeadConfig {
  type: 'softmax' | 'hierarchical' | 'adaptive' | 'two-level';
  /** Softmax head: share the token embedding matrix. */
  tied?: boolean;
  /** Adaptive head: cluster boundaries in frequency rank. */
  cutoffs?: number[];
  /** Two-level head: number of frequency classes (default round(sqrt(V))). */
  classes?: number;
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
    case 'adaptive':
    case 'two-level': {
      if (structure) {
        if (structure.kind !== c.type) throw new Error(`the saved head structure is ${structure.kind}, the config says ${c.type}`);
        return headFromConfig(structure, rng, embedding);
      }
      if (!counts) throw new Error(`the ${c.type} head needs the training tokens' frequencies`);
      if (c.type === 'two-level') return new TwoLevelHead(vocabSize, dim, embedding, counts, rng, c.classes ? { classes: c.classes } : {});
      return c.type === 'hierarchical'
        ? new HierarchicalHead(vocabSize, dim, counts, rng)
        : new AdaptiveHead(vocabSize, dim, counts, rng, c.cutoffs ? { cutoffs: c.cutoffs } : {});
    }
    default:
      throw new Error(`unknown head type '${(c as HeadConfig).type}': expected softmax, hierarchical, adaptive or two-level`);
  }
}
