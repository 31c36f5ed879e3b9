// ternlm sensitivity: which projections of a float model can be ternarized (src/eval/sensitivity.ts):
// bits per byte with one group of projections ternary at a time, ranked, then a measured hybrid
// precision config written as a training config that `ternlm train --config` and
// `ternlm ternarize --precision-from` take.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { TernlmError } from '../core/errors.js';
import { initRuntime, rt } from '../core/runtime.js';
import { parseSeparator } from '../data/corpus.js';
import { expandInputs } from '../data/inputs.js';
import { EOT_TEXT } from '../data/pretokenize.js';
import { BatchedScorer } from '../eval/scorer.js';
import { GROUPINGS, bitsPerWeight, measureSensitivity, type Grouping, type Measured, type Packing } from '../eval/sensitivity.js';
import { readTextDocuments, scoreText } from '../eval/text.js';
import { writeTextAtomic } from '../io/atomic.js';
import { checkFileTarget, ensureDir } from '../io/fs.js';
import { withOverrides } from '../train/config.js';
import { hybridConfig, ternarizedModel } from '../train/ternarize.js';
import { integerFlag, numberFlag, parseFlags, threadsFlag } from './args.js';
import { checkEncodable, defaultText, openFloatModel, withoutVocabulary } from './ternarize.js';

/** Documents scored by default: enough to rank the groups of a small model in seconds to a minute. */
const DEFAULT_LIMIT = 50;
/** Default target of the hybrid: at most this many bits per byte above the float model. */
const DEFAULT_MAX_INCREASE = 0.1;

const HELP = `usage: ternlm sensitivity --model <float ckpt | llm.c GPT-2 .bin | llama2.c .bin> [--text <files>...] [--lowercase]
                          [--by layer|kind|projection] [--limit N] [--keep int8|fp32]
                          [--max-increase <bpb>] [--budget-bits <bits>] [--packing 2bit|base3]
                          [--out <config.json>] [--overwrite] [--json]

Ternarizes one group of a float model's projections at a time and ranks the groups by the bits
per byte each costs on a text; then proposes a hybrid (every projection ternary but the most
sensitive groups, kept int8), measures it, and writes it as a config (docs/ternarize.md).

  --model     a ternlm training checkpoint of a float model, an llm.c GPT-2 .bin or a llama2.c
              .bin, as for ternarize
  --text      text to score, as ternlm eval --text reads it (default:
              ../shared/data/tinystories/valid.txt beside the package, when it is there)
  --limit N   score the first N documents (default ${DEFAULT_LIMIT}); each measurement scores them all
  --separator, --lowercase, --tokenizer   as in ternlm ternarize
  --by        the groups: layer (each block's projections, blocks.<i>.*; the default), kind (one
              projection across blocks, e.g. blocks.*.ffn.down) or projection (each alone)
  --keep      the precision of the groups the hybrid keeps out of ternary: int8 (default) or fp32
  --max-increase  the hybrid adds the most sensitive groups, in rank order, until its bits per
              byte are at most this much above the float model's (default ${DEFAULT_MAX_INCREASE})
  --budget-bits   ... and adds no group that would take the projections above this many bits
              per weight on average (default: no limit)
  --packing   ternary weights' size: 2bit (2 bits a weight, ternlm export's default) or base3
              (1.6 bits); int8 weights count 8 bits, fp32 32; scales are not counted
  --out       write the hybrid as a training config (atomically): the model's config with
              model.precisionOverrides, for ternlm ternarize --precision-from and ternlm train --config
  --threads   compute threads (default: all cores)
  --json      print one JSON object of the results`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseFlags('sensitivity', args, {
    model: { type: 'string' }, text: { type: 'string', multiple: true }, separator: { type: 'string' }, lowercase: { type: 'boolean', default: false },
    limit: { type: 'string' }, tokenizer: { type: 'string' }, by: { type: 'string', default: 'layer' }, keep: { type: 'string', default: 'int8' },
    'max-increase': { type: 'string' }, 'budget-bits': { type: 'string' }, packing: { type: 'string', default: '2bit' }, out: { type: 'string' },
    overwrite: { type: 'boolean', default: false }, threads: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.model) throw new TernlmError('ternlm sensitivity needs --model <float ckpt | llm.c GPT-2 .bin | llama2.c .bin> — see ternlm sensitivity --help');
  const by = values.by as Grouping;
  if (!GROUPINGS.includes(by)) throw new TernlmError(`--by must be layer, kind or projection, got '${values.by}'`);
  if (values.keep !== 'int8' && values.keep !== 'fp32') throw new TernlmError(`--keep must be int8 or fp32, got '${values.keep}'`);
  const keep = values.keep;
  if (values.packing !== '2bit' && values.packing !== 'base3') throw new TernlmError(`--packing must be 2bit or base3, got '${values.packing}'`);
  const packing: Packing = values.packing;
  const maxIncrease = numberFlag(values, 'max-increase', { min: 0, max: 100 }, DEFAULT_MAX_INCREASE);
  const ternaryBits = bitsPerWeight('ternary', packing);
  const budgetBits = numberFlag(values, 'budget-bits', { min: ternaryBits, max: 32, maxReason: 'fp32 weights take 32 bits' }, Infinity);
  const limit = integerFlag(values, 'limit', { min: 1 }, DEFAULT_LIMIT);
  const out = values.out;
  if (out !== undefined) {
    if (!out.endsWith('.json')) throw new TernlmError(`--out ${out}: the hybrid is a JSON config — name it *.json`);
    checkFileTarget(out);
    if (existsSync(out) && !values.overwrite) throw new TernlmError(`${out} already exists — add --overwrite to replace it, or choose another --out`);
  }
  const textFiles = defaultText(values.text);
  if (!textFiles) throw new TernlmError('no --text given and no default text found — give --text <file> to score on');
  const files = expandInputs(textFiles);
  const separator = parseSeparator(values.separator ?? EOT_TEXT);
  await initRuntime({ threads: threadsFlag(values) });

  const float = openFloatModel(values.model, values.tokenizer);
  const docs = (await readTextDocuments(files, separator, values.lowercase)).slice(0, limit);
  checkEncodable(docs, float.tokenizer, float.model.config.vocabSize, values.lowercase);
  // One model for every measurement: the float weights, each projection switched to ternary and back.
  const model = ternarizedModel(float.model, hybridConfig(float.model, {}), float.tokenCounts ?? undefined);
  float.model.dispose();
  const projections = model.bitLayers();
  if (projections.every((p) => p.layer.opts.precision === 'ternary')) {
    model.dispose();
    throw new TernlmError(`every projection of ${values.model} is ternary already — sensitivity measures a float model (a -float config's checkpoint, an llm.c GPT-2 .bin, a llama2.c .bin)`);
  }
  const say = (line: string): void => {
    if (!values.json) console.log(line);
  };
  const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d.text), 0);
  say(`${values.model} (${float.kind}): ${model.config.family}, ${projections.length} projections; ${rt().kernels}`);
  say(`scoring the first ${docs.length} documents of ${textFiles.join(' ')} (${bytes.toLocaleString('en-US')} bytes; --limit), once per measurement`);
  const scorer = new BatchedScorer(model, 'sensitivity model');
  const started = performance.now();
  const report = (() => {
    try {
      return measureSensitivity(projections, () => scoreText(scorer, float.tokenizer, float.tokenizer.eotId, docs).bpb, {
        by, keep, maxIncrease, budgetBits, packing, onMeasured: (what, bpb) => {
          if (!values.json) console.error(`  ${what}: ${bpb.toFixed(4)}`);
        },
      });
    } finally {
      scorer.dispose();
    }
  })();
  const seconds = (performance.now() - started) / 1000;

  if (out !== undefined) {
    // The source's training config, its model the hybrid (checked like any config file before it is written).
    const config = withOverrides({ ...float.train, name: `${float.train.name}-hybrid`.slice(0, 100), model: withoutVocabulary(hybridConfig(model, report.overrides)) }, {});
    ensureDir(dirname(out));
    writeTextAtomic(out, JSON.stringify(config, null, 2) + '\n');
  }
  if (values.json) {
    console.log(JSON.stringify({ model: values.model, kind: float.kind, family: model.config.family, by, text: textFiles, documents: docs.length, bytes, packing, keep, maxIncrease,
      budgetBits: Number.isFinite(budgetBits) ? budgetBits : null, parameters: report.parameters, float: report.float, ranked: report.ranked,
      allTernary: report.allTernary, hybrid: report.hybrid, precisionOverrides: report.overrides, config: out ?? null, seconds }));
    return;
  }
  say(`\nbits per byte with one group ternary (by ${by}), most sensitive first:`);
  say(`  ${'group'.padEnd(24)} ${'projections'.padStart(11)} ${'parameters'.padStart(10)} ${'bits/byte'.padStart(9)} ${'increase'.padStart(9)}`);
  for (const g of report.ranked) {
    say(`  ${g.pattern.padEnd(24)} ${String(g.projections).padStart(11)} ${g.parameters.toLocaleString('en-US').padStart(10)} ${g.bpb.toFixed(4).padStart(9)} ${signed(g.increase).padStart(9)}`);
  }
  const target = `within +${maxIncrease} bits per byte of float${Number.isFinite(budgetBits) ? `, at most ${budgetBits} bits per projection weight` : ''}`;
  const kept = report.hybrid.kept;
  const groups = `${kept.length} of ${report.ranked.length} groups kept ${keep}${kept.length > 0 ? ` (${kept.join(', ')})` : ''}`;
  say(`\nhybrid: ${groups}, the rest ternary; ${report.hybrid.withinTarget ? '' : 'not '}${target}`);
  if (kept.length === report.ranked.length) say('  every group is kept: no projection of this hybrid is ternary (raise --max-increase or set --budget-bits)');
  say(`  ${''.padEnd(12)} ${'bits/byte'.padStart(9)} ${'increase'.padStart(9)}  projection weights (ternary ${packing === '2bit' ? '2-bit packed' : 'base-3, 1.6 bits'}, int8 8 bits, fp32 32; scales not counted)`);
  const row = (name: string, m: Measured): void => {
    say(`  ${name.padEnd(12)} ${m.bpb.toFixed(4).padStart(9)} ${signed(m.bpb - report.float.bpb).padStart(9)}  ${(m.bits / 8 / 1024).toFixed(1)} KiB, ${(m.bits / report.parameters).toFixed(2)} bits per weight`);
  };
  row('float', report.float);
  row('all ternary', report.allTernary);
  row('hybrid', report.hybrid);
  say(`${report.parameters.toLocaleString('en-US')} projection weights; embeddings, norms and head are not projections and not counted. ${seconds.toFixed(1)} s`);
  if (out !== undefined) say(`config: ${out} (ternlm ternarize --model ${values.model} --precision-from ${out} --out <ckpt>; ternlm train --config ${out} --data <dir>)`);
}

/** A signed figure: +0.1234, -0.0012. */
function signed(x: number): string {
  return `${x >= 0 ? '+' : ''}${x.toFixed(4)}`;
}
