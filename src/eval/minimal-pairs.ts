// Minimal pairs in the BLiMP format: one object per line with `sentence_good` and
// `sentence_bad` (optional `UID`, `linguistics_term`). A pair is right when the whole good
// sentence, after the start token, has a higher total log-probability than the bad one.
// Accuracy is reported per file (BLiMP: one file per paradigm), per linguistics term, over all
// pairs, and as the mean over files.
import type { InputFile } from '../data/inputs.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { optionalString, readItems, stringField } from './items.js';
import { scoreSequences, type ScoreOptions } from './sequences.js';
import type { TokenScorer } from './scorer.js';

export interface MinimalPair {
  file: string;
  where: string;
  good: string;
  bad: string;
  uid?: string;
  term?: string;
}

export interface PairResult {
  where: string;
  uid?: string;
  term?: string;
  /** Total log-probabilities (nats) of the good and the bad sentence. */
  good: number;
  bad: number;
  correct: boolean;
}

export interface Accuracy {
  name: string;
  pairs: number;
  accuracy: number;
}

export interface MinimalPairsScore {
  pairs: number;
  /** Tokens scored, both sentences of every pair. */
  tokens: number;
  /** Over all pairs. */
  accuracy: number;
  /** Mean of the per-file accuracies (BLiMP's overall figure: one file per paradigm). */
  meanOverFiles: number;
  perFile: Accuracy[];
  perTerm: Accuracy[];
  items: PairResult[];
}

export async function readMinimalPairs(files: readonly InputFile[], lowercase: boolean): Promise<MinimalPair[]> {
  const items = await readItems(files, ['sentence_good', 'sentence_bad'], ['UID', 'linguistics_term'], 'minimal-pairs');
  const cased = (s: string): string => (lowercase ? s.toLowerCase() : s);
  return items.map((r) => ({
    file: r.file, where: r.where, good: cased(stringField(r, 'sentence_good')), bad: cased(stringField(r, 'sentence_bad')),
    uid: optionalString(r, 'UID'), term: optionalString(r, 'linguistics_term'),
  }));
}

export function scoreMinimalPairs(scorer: TokenScorer, tokenizer: Tokenizer, startToken: number, pairs: readonly MinimalPair[], opts: ScoreOptions = {}): MinimalPairsScore {
  const sentence = (s: string): { tokens: Int32Array; from: number } => ({ tokens: Int32Array.from([startToken, ...tokenizer.encode(s)]), from: 1 });
  const scores = scoreSequences(scorer, pairs.flatMap((p) => [sentence(p.good), sentence(p.bad)]), opts);
  const items = pairs.map((p, i): PairResult => {
    const good = -scores[2 * i].nats, bad = -scores[2 * i + 1].nats;
    return { where: p.where, uid: p.uid, term: p.term, good, bad, correct: good > bad };
  });
  const perFile = accuracies(pairs.map((p) => p.file), items);
  const perTerm = accuracies(pairs.map((p) => p.term ?? '(none)'), items);
  return {
    pairs: items.length,
    tokens: scores.reduce((s, r) => s + r.tokens, 0),
    accuracy: items.filter((r) => r.correct).length / items.length,
    meanOverFiles: perFile.reduce((s, f) => s + f.accuracy, 0) / perFile.length,
    perFile, perTerm, items,
  };
}

/** Accuracy per group, groups in order of first appearance. */
function accuracies(groups: readonly string[], items: readonly PairResult[]): Accuracy[] {
  const by = new Map<string, { pairs: number; right: number }>();
  groups.forEach((g, i) => {
    const a = by.get(g) ?? { pairs: 0, right: 0 };
    a.pairs++;
    if (items[i].correct) a.right++;
    by.set(g, a);
  });
  return [...by].map(([name, a]) => ({ name, pairs: a.pairs, accuracy: a.right / a.pairs }));
}
