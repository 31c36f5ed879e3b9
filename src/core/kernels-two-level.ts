// Bindings of the two-level softmax head's kernels (assembly/two_level.ts): the word-level loss
// split over rows, its parameter gradient split over classes, log-probabilities split over rows.
// Arguments go in the kernel's order (see kernels.ts).
import { kernelPool } from './runtime.js';

const WORK_MIN = 1 << 14; // multiply-adds per thread below which a call stays single-threaded

/** Pointers of a head's class structure (int32 arrays in the heap). */
export interface ClassPointers {
  /** Class of each token (V). */
  tokenClass: number;
  /** First frequency rank of each class, then V (classes + 1). */
  classStart: number;
  /** Token of each frequency rank (V). */
  order: number;
}

/**
 * losses (M) = the word-level cross-entropy of each row within its target's class, scores
 * z_w = g . E_w + bias_w: g (M, d), emb (V, d), bias (V), targets i32 (M). Row r's class scores
 * go to probs + probOffset[r] floats. gradScale != 0 turns them into (softmax - onehot) *
 * gradScale and, when dg != 0, writes dg (M, d).
 */
export function twoLevelWordLoss(
  g: number, emb: number, bias: number, targets: number, cls: ClassPointers, probOffset: number, M: number, d: number,
  meanClassSize: number, probs: number, losses: number, dg: number, gradScale: number,
): void {
  kernelPool().run('two_level_word_loss',
    [g, emb, bias, targets, cls.tokenClass, cls.classStart, cls.order, probOffset, d, probs, losses, dg, gradScale],
    M, 1, Math.max(1, Math.ceil(WORK_MIN / (d * Math.max(1, meanClassSize)))));
}

/**
 * dbias (V) += s * coef and demb (V, d) += s * coef * g over every counted row's class (a zero
 * pointer skips one); `scores` = the floats twoLevelWordLoss wrote (rows times their class size).
 */
export function twoLevelWordGrad(
  g: number, targets: number, cls: ClassPointers, probOffset: number, probs: number, M: number, d: number, classes: number,
  scores: number, s: number, dbias: number, demb: number,
): void {
  kernelPool().run('two_level_word_grad',
    [g, targets, cls.tokenClass, cls.classStart, cls.order, probOffset, probs, M, d, s, dbias, demb],
    classes, 1, Math.max(1, Math.ceil((WORK_MIN * classes) / Math.max(1, scores * (demb !== 0 ? d : 1)))));
}

/** scores (M, V) of every word become log-probabilities, given classLogProbs (M, classes). */
export function twoLevelLogProbs(scores: number, classLogProbs: number, cls: ClassPointers, M: number, classes: number, V: number): void {
  kernelPool().run('two_level_log_probs', [scores, classLogProbs, cls.classStart, cls.order, classes, V], M, 1,
    Math.max(1, Math.ceil(WORK_MIN / (3 * V))));
}
