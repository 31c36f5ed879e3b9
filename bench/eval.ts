// ternlm bench eval: how fast `ternlm eval --task minimal-pairs` scores a BLiMP-sized set
// (67,000 pairs) with a ~4M-parameter model, reading, tokenizing and scoring included.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TernlmError } from '../src/core/errors.js';
import { Rng } from '../src/core/rng.js';
import { initRuntime, rt } from '../src/core/runtime.js';
import { trainBpe, WordCounter } from '../src/data/bpe.js';
import { expandInputs } from '../src/data/inputs.js';
import { generateStories } from '../src/data/stories.js';
import type { Tokenizer } from '../src/data/tokenizer.js';
import { openScoringModel } from '../src/eval/load.js';
import { readMinimalPairs, scoreMinimalPairs } from '../src/eval/minimal-pairs.js';
import { BatchedScorer, type TokenScorer } from '../src/eval/scorer.js';
import { resolveConfigPath } from '../src/cli/train.js';
import { createModel, withVocabulary } from '../src/models/index.js';
import { loadTrainConfig } from '../src/train/config.js';
import { generateMinimalPairs, writeMinimalPairsJsonl } from './minimal-pairs.js';

const HELP = `usage: ternlm bench eval [--pairs N] [--config <json|name> | --model <file>] [--threads N]
                         [--reps N] [--batch-tokens N] [--write-pairs <file.jsonl>] [--json]

Times scoring --pairs (default 67,000, BLiMP's size) minimal pairs end to end as \`ternlm eval
--task minimal-pairs\` does: read the JSONL, tokenize, score every sentence. The pairs are our own
generated set (bench/minimal-pairs.ts: 13 paradigms of children's-story English, BLiMP's format;
not BLiMP). The model is --model <file> (any file ternlm eval reads), or else the config's model
(default flashlm-4m, vocabulary 4,096) with random weights and a BPE trained on the built-in
story corpus: the speed does not depend on the weights. Best of --reps (default 1) after no warm-up;
model loading is not timed. --write-pairs also keeps the generated file.`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      pairs: { type: 'string', default: '67000' }, config: { type: 'string', default: 'flashlm-4m' }, model: { type: 'string' },
      threads: { type: 'string' }, reps: { type: 'string', default: '1' }, 'batch-tokens': { type: 'string' },
      'write-pairs': { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const count = wholeNumber(values.pairs!, '--pairs');
  const reps = wholeNumber(values.reps!, '--reps');
  const tokensPerPass = values['batch-tokens'] === undefined ? undefined : wholeNumber(values['batch-tokens'], '--batch-tokens');
  await initRuntime({ threads: values.threads === undefined ? undefined : wholeNumber(values.threads, '--threads') });
  const dir = mkdtempSync(join(tmpdir(), 'ternlm-bench-eval-'));
  try {
    const file = values['write-pairs'] ?? join(dir, 'pairs.jsonl');
    writeMinimalPairsJsonl(file, generateMinimalPairs(count, 1));
    const { scorer, tokenizer, startToken, what } = values.model ? fromFile(values.model) : randomModel(values.config!);
    let best = Infinity;
    let result: ReturnType<typeof scoreMinimalPairs> | null = null;
    let tokens = 0;
    for (let rep = 0; rep < reps; rep++) {
      const t0 = performance.now();
      const pairs = await readMinimalPairs(expandInputs([file]), false);
      result = scoreMinimalPairs(scorer, tokenizer, startToken, pairs, { tokensPerPass });
      best = Math.min(best, (performance.now() - t0) / 1000);
      tokens = result.tokens;
    }
    scorer.dispose();
    const report = {
      pairs: count, model: what, threads: rt().threads, build: rt().build, seconds: best,
      pairsPerSecond: count / best, scoredTokens: tokens, tokensPerSecond: tokens / best, meanTokensPerSentence: tokens / (2 * count),
      accuracy: result!.accuracy,
    };
    if (values.json) {
      console.log(JSON.stringify(report));
      return;
    }
    console.log(`${count.toLocaleString('en-US')} minimal pairs, ${what}, ${report.threads} thread(s), ${report.build} build`);
    console.log(`  ${best.toFixed(1)} s (best of ${reps}): ${Math.round(report.pairsPerSecond).toLocaleString('en-US')} pairs/s, ${Math.round(report.tokensPerSecond).toLocaleString('en-US')} scored tokens/s (${report.meanTokensPerSentence.toFixed(1)} tokens per sentence)`);
    console.log(`  accuracy ${(100 * report.accuracy).toFixed(1)}%${values.model ? '' : ' (random weights: near 50% is expected)'}`);
    if (values['write-pairs']) console.log(`  pairs written to ${values['write-pairs']}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function wholeNumber(s: string, flag: string): number {
  const n = Number(s);
  if (!(Number.isInteger(n) && n >= 1)) throw new TernlmError(`${flag} must be a whole number of at least 1, got '${s}'`);
  return n;
}

interface BenchModel {
  scorer: TokenScorer;
  tokenizer: Tokenizer;
  startToken: number;
  what: string;
}

function fromFile(path: string): BenchModel {
  const m = openScoringModel(path);
  return { ...m, what: `${path} (${m.scorer.description})` };
}

/** The config's model with random weights, and a 4,096-token BPE of the built-in stories. */
function randomModel(configName: string): BenchModel {
  const words = new WordCounter({ lowercase: false });
  for (const story of generateStories(20_000, 1)) {
    words.add(story);
    words.flush();
  }
  const tokenizer = trainBpe(words.counts, { vocabSize: 4096, lowercase: false }).tokenizer;
  const config = loadTrainConfig(resolveConfigPath(configName));
  // The model's vocabulary is 4,096 whatever the stories leave the BPE (they repeat few words).
  const V = Math.max(4096, tokenizer.vocabSize);
  const counts = Array.from({ length: V }, (_, i) => Math.max(1, Math.round(1e7 / (i + 1))));
  const model = createModel(withVocabulary(config.model, V), new Rng(1), counts);
  const params = model.namedParameters().reduce((s, p) => s + p.tensor.size, 0);
  return {
    scorer: new BatchedScorer(model, model.config.family), tokenizer, startToken: tokenizer.eotId,
    what: `${config.name} (${(params / 1e6).toFixed(2)} M parameters, random weights, vocab ${V}, tokenizer ${tokenizer.vocabSize})`,
  };
}
