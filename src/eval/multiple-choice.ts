// Multiple choice in the HellaSwag format: `ctx`, `endings` (a list) and `label` (the right
// ending's index, a number or a numeric string). Each ending is scored as llm.c scores
// HellaSwag: the loss of the ending's tokens (" " + ending, encoded as a continuation) given the
// start token and the context. `acc` picks the ending with the lowest total loss, `acc_norm` the
// one with the lowest mean loss per token.
import { TernlmError } from '../core/errors.js';
import type { InputFile } from '../data/inputs.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { readItems, stringField } from './items.js';
import { scoreSequences, type ScoreOptions } from './sequences.js';
import type { TokenScorer } from './scorer.js';

export interface ChoiceItem {
  where: string;
  context: string;
  endings: string[];
  label: number;
}

export interface ChoiceResult {
  where: string;
  label: number;
  /** Total and mean-per-token loss (nats) of each ending. */
  sums: number[];
  means: number[];
  pred: number;
  predNorm: number;
}

export interface MultipleChoiceScore {
  items: number;
  acc: number;
  accNorm: number;
  results: ChoiceResult[];
}

export async function readChoiceItems(files: readonly InputFile[], lowercase: boolean): Promise<ChoiceItem[]> {
  const items = await readItems(files, ['ctx', 'endings', 'label'], [], 'multiple-choice');
  const cased = (s: string): string => (lowercase ? s.toLowerCase() : s);
  return items.map((r) => {
    const endings = r.record.endings;
    if (!Array.isArray(endings) || endings.length < 2 || !endings.every((e) => typeof e === 'string' && e.trim() !== '')) {
      throw new TernlmError(`${r.where}: field "endings" must be a list of at least two non-empty strings`);
    }
    const raw = r.record.label;
    const label = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : raw;
    if (!(typeof label === 'number' && Number.isInteger(label) && label >= 0 && label < endings.length)) {
      throw new TernlmError(`${r.where}: field "label" must be the index of the right ending (0 to ${endings.length - 1}), got ${JSON.stringify(raw ?? null)}`);
    }
    return { where: r.where, context: cased(stringField(r, 'ctx')), endings: endings.map((e: string) => cased(e)), label };
  });
}

export function scoreMultipleChoice(scorer: TokenScorer, tokenizer: Tokenizer, startToken: number, items: readonly ChoiceItem[], opts: ScoreOptions = {}): MultipleChoiceScore {
  const continuation = (s: string): number[] => (tokenizer.encodeContinuation ?? tokenizer.encode).call(tokenizer, s);
  const sequences = items.flatMap((item) => {
    const context = [startToken, ...tokenizer.encode(item.context)];
    return item.endings.map((e) => ({ tokens: Int32Array.from([...context, ...continuation(` ${e}`)]), from: context.length }));
  });
  const scores = scoreSequences(scorer, sequences, opts);
  let at = 0, right = 0, rightNorm = 0;
  const results = items.map((item): ChoiceResult => {
    const mine = scores.slice(at, (at += item.endings.length));
    const sums = mine.map((s) => s.nats);
    const means = mine.map((s) => s.nats / s.tokens);
    const pred = argmin(sums), predNorm = argmin(means);
    if (pred === item.label) right++;
    if (predNorm === item.label) rightNorm++;
    return { where: item.where, label: item.label, sums, means, pred, predNorm };
  });
  return { items: items.length, acc: right / items.length, accNorm: rightNorm / items.length, results };
}

function argmin(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] < xs[best]) best = i;
  return best;
}
