// ternlm ternarize: post-training ternarization of a float model (src/train/ternarize.ts), with
// bits per byte of a text before and after, and an optional quantization-aware fine-tune through
// the trainer (`ternlm train --init` on the ternarized checkpoint).
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { TernlmError } from '../core/errors.js';
import { initRuntime, rt } from '../core/runtime.js';
import { parseSeparator } from '../data/corpus.js';
import { expandInputs, type InputFile } from '../data/inputs.js';
import { datasetTokenizerFingerprint, readMeta, tokenizerFingerprint, type DatasetMeta } from '../data/meta.js';
import { EOT_TEXT } from '../data/pretokenize.js';
import { Llama2cTokenizer } from '../data/llama2c-tokenizer.js';
import { loadTokenizer, tokenizerFromJSON, type Tokenizer } from '../data/tokenizer.js';
import { BatchedScorer } from '../eval/scorer.js';
import { readTextDocuments, scoreText, type TextDocument } from '../eval/text.js';
import { readModelHead, resolveTokenizer, sniffModelFormat } from '../infer/load.js';
import { loadTrainedModel } from '../infer/packed.js';
import { writeTextAtomic } from '../io/atomic.js';
import { readCheckpointMeta } from '../io/checkpoint.js';
import { ensureDir, checkFileTarget } from '../io/fs.js';
import { isLlmcGpt2, llmcTokenBytes, readLlmcGpt2Shape, readLlmcTokenizer } from '../io/llmc.js';
import { type LanguageModel, type ModelConfig } from '../models/index.js';
import { loadLlama2cAsBitNet } from '../models/llama2c.js';
import { loadLlmcAsGpt2 } from '../models/llmc.js';
import type { PrecisionOverrides } from '../models/precision.js';
import { TRAIN_DEFAULTS, loadTrainConfig, parseOverrides, withOverrides, type TrainConfig } from '../train/config.js';
import { checkpointTrainConfig } from '../train/init.js';
import { hybridConfig, saveStepZeroCheckpoint, ternarizedConfig, ternarizedModel } from '../train/ternarize.js';
import { train } from '../train/trainer.js';
import { integerFlag, parseFlags, threadsFlag } from './args.js';
import { packageRoot, parseDuration } from './train.js';

const HELP = `usage: ternlm ternarize --model <float ckpt | llm.c GPT-2 .bin | llama2.c .bin> --out <ckpt.safetensors>
                        [--layers <pattern> | --precision-from <config.json>] [--text <files>...] [--lowercase]
                        [--finetune <steps | 30m> --data <prepared dir> [--finetune-out <dir>]]
                        [--set key=value ...] [--overwrite] [--json]

Turns a float model's projections into ternary BitLinear layers (AbsMean ternary weights, the
float weights as their fp32 master copy, 8-bit activations as the family's ternary models have
them) and writes a training checkpoint at step 0 that train (--init, --resume), eval, export and
generate take. Prints bits per byte of a text before and after (docs/ternarize.md).

  --model     a ternlm training checkpoint of a float model (e.g. a run of bitnet-4m-float or
              gpt2-4m), an llm.c GPT-2 .bin (imported as a gpt2 model; its tokenizer is GPT-2's,
              or --tokenizer <tok.json>), or a llama2.c .bin (imported as a bitnet model that
              computes exactly its Llama; its tokenizer beside it, tok<vocab>.bin or
              tokenizer.bin, or --tokenizer)
  --out       the checkpoint to write (atomically); an existing one needs --overwrite
  --layers    which projections: a glob over their names (* any characters, ? one), e.g.
              'blocks.*.attn.*' or 'blocks.?.ffn.down', or a /regular expression/ (default: every
              projection; embeddings, norms and the head never). Stored in the config as
              model.precisionOverrides {"<pattern>": "ternary"}
  --precision-from  instead of --layers: the model.precisionOverrides of a config file, e.g. the
              hybrid ternlm sensitivity --out writes (every projection ternary but the kept ones)
  --text      text to measure bits per byte on, as ternlm eval --text reads it (default:
              ../shared/data/tinystories/valid.txt beside the package, when it is there)
  --separator, --lowercase, --limit N   as in ternlm eval
  --finetune  then fine-tune (quantization-aware) for this many steps or this long (90s, 30m),
              as ternlm train --init <out> does, on --data (prepared with the model's tokenizer),
              into --finetune-out (default: <out without .safetensors>-finetune/); bits per byte
              after it too
  --set       training fields of the checkpoint's config, used by the fine-tune (lr, batchSize,
              seqLen, warmupSteps, ...); model fields come from --model
  --tokenizer the tokenizer of an llm.c or llama2.c checkpoint
  --threads   compute threads (default: all cores)
  --json      print one JSON object of the results`;

/** A float model to ternarize, with what its checkpoint needs besides the weights. */
export interface FloatModel {
  model: LanguageModel<ModelConfig>;
  /** The source's training config (the defaults, named after the file, for an import). */
  train: TrainConfig;
  tokenizer: Tokenizer;
  tokenCounts: number[] | null;
  kind: string;
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseFlags('ternarize', args, {
    model: { type: 'string' }, out: { type: 'string' }, layers: { type: 'string' }, 'precision-from': { type: 'string' }, text: { type: 'string', multiple: true },
    separator: { type: 'string' }, lowercase: { type: 'boolean', default: false }, limit: { type: 'string' }, tokenizer: { type: 'string' },
    finetune: { type: 'string' }, data: { type: 'string' }, 'finetune-out': { type: 'string' }, set: { type: 'string', multiple: true, default: [] },
    threads: { type: 'string' }, overwrite: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.model || !values.out) throw new TernlmError('ternlm ternarize needs --model <float ckpt | llm.c GPT-2 .bin | llama2.c .bin> and --out <ckpt.safetensors> — see ternlm ternarize --help');
  const out = values.out;
  if (!out.endsWith('.safetensors')) throw new TernlmError(`--out ${out}: the checkpoint is a safetensors file — name it *.safetensors (e.g. runs/x/ckpt.safetensors)`);
  checkFileTarget(out);
  if (existsSync(out) && !values.overwrite) throw new TernlmError(`${out} already exists — add --overwrite to replace it, or choose another --out`);
  const finetune = finetunePlan(values, out);
  const overrides = parseOverrides(values.set ?? []);
  if ('model' in overrides) throw new TernlmError('--set takes training fields (lr, batchSize, ...); the model is --model\'s, its projections chosen by --layers');
  const textFiles = defaultText(values.text);
  const files = textFiles ? expandInputs(textFiles) : []; // a missing input is refused before the model loads
  const separator = parseSeparator(values.separator ?? EOT_TEXT);
  const limit = integerFlag(values, 'limit', { min: 1 });

  const fromFile = values['precision-from'] !== undefined ? readPrecisionFile(values['precision-from'], values.layers) : null;
  await initRuntime({ threads: threadsFlag(values) });

  const float = openFloatModel(values.model, values.tokenizer);
  const model = fromFile ? modelFromPrecisionFile(float, fromFile) : ternarizedModel(float.model, ternarizedConfig(float.model, values.layers), float.tokenCounts ?? undefined);
  const config = model.config;
  // The fine-tune is quantization-aware from its first step: no float warm-up (ternaryStart 0) unless --set asks.
  const trainConfig = withOverrides({ ...float.train, name: `${float.train.name}-ternarized`.slice(0, 100), ternaryStart: 0, model: withoutVocabulary(config) }, overrides);
  if (finetune) checkDataTokenizer(finetune.data, finetune.dataDir, float, tokenizerFileOf(out));
  const docs = files.length > 0 ? (await readTextDocuments(files, separator, values.lowercase)).slice(0, limit) : null;
  if (docs) checkEncodable(docs, float.tokenizer, float.model.config.vocabSize, values.lowercase);

  const ternary = model.bitLayers().filter((p) => p.layer.opts.precision === 'ternary').length;
  const say = (line: string): void => {
    if (!values.json) console.log(line);
  };
  say(`${values.model} (${float.kind}): ${config.family}, ${ternary} of ${model.bitLayers().length} projections ternary (${fromFile ? `--precision-from ${fromFile.path}` : `--layers ${values.layers ?? '*'}`}); ${rt().kernels}`);
  const bpb: Record<string, number> = {};
  const measure = (what: string, model: LanguageModel<ModelConfig>): void => {
    if (!docs) return;
    bpb[what] = scoreText(new BatchedScorer(model, `${what} model`), float.tokenizer, float.tokenizer.eotId, docs).bpb;
    say(`  ${what.padEnd(11)} ${bpb[what].toFixed(4)} bits per byte`);
  };
  if (docs) say(`bits per byte on ${textFiles!.join(' ')} (${docs.length} documents):`);
  else say('no --text given and no default text found: bits per byte not measured');
  measure('float', float.model);
  float.model.dispose();
  measure('ternarized', model);
  ensureDir(dirname(out));
  const bytes = saveStepZeroCheckpoint(out, model, trainConfig, float.tokenizer.toJSON(), float.tokenCounts);
  model.dispose();
  say(`checkpoint: ${out} (${(bytes / 2 ** 20).toFixed(1)} MiB, step 0)`);
  if (float.kind === 'llama2.c checkpoint') {
    // The imported model's tokenizer exists only inside the checkpoint: fine-tuning data is prepared with this file.
    const tokenizerPath = tokenizerFileOf(out);
    writeTextAtomic(tokenizerPath, JSON.stringify(float.tokenizer.toJSON()) + '\n');
    say(`tokenizer: ${tokenizerPath} (prepare fine-tuning data with ternlm prepare --tokenizer ${tokenizerPath})`);
  }

  let finetuned: string | null = null;
  if (finetune) {
    const result = await train({
      config: trainConfig, dataDir: finetune.dataDir, outDir: finetune.outDir, tokenizer: float.tokenizer,
      steps: finetune.steps, timeSeconds: finetune.seconds, initCheckpoint: out, overwrite: values.overwrite,
      onMessage: (text) => console.error(text),
    });
    finetuned = result.checkpoint;
    const { model: tuned } = loadTrainedModel(finetuned);
    measure('fine-tuned', tuned);
    tuned.dispose();
    say(`fine-tuned: ${finetuned} (${result.steps} steps, ${result.elapsed.toFixed(0)} s)`);
  }
  if (values.json) {
    console.log(JSON.stringify({ model: values.model, kind: float.kind, family: config.family, layers: fromFile ? null : values.layers ?? '*', precisionFrom: fromFile?.path ?? null, ternaryProjections: ternary, text: textFiles ?? null, bpb, checkpoint: out, finetuned }));
  }
}

/** A config file's model.precisionOverrides (`--precision-from`, e.g. the hybrid `ternlm sensitivity` writes), read before the model loads. */
function readPrecisionFile(path: string, layers: string | undefined): { path: string; family: string; overrides: PrecisionOverrides } {
  if (layers !== undefined) throw new TernlmError('--layers and --precision-from both choose the precisions — give one of them');
  const { model } = loadTrainConfig(path);
  const overrides = 'precisionOverrides' in model ? model.precisionOverrides : undefined;
  if (!overrides || Object.keys(overrides).length === 0) throw new TernlmError(`${path} has no model.precisionOverrides to take — write them ({"*": "ternary", "blocks.0.*": "int8"}) or use --layers`);
  return { path, family: model.family, overrides };
}

/**
 * The float model with the projections of a --precision-from file: each pattern must match a
 * projection, and at least one projection must turn ternary (one that is not ternary already).
 */
function modelFromPrecisionFile(float: FloatModel, file: { path: string; family: string; overrides: PrecisionOverrides }): LanguageModel<ModelConfig> {
  if (file.family !== float.model.config.family) throw new TernlmError(`${file.path} is a config of a ${file.family} model, --model a ${float.model.config.family} one — give the config written for this model`);
  let model: LanguageModel<ModelConfig>;
  try {
    model = ternarizedModel(float.model, hybridConfig(float.model, file.overrides), float.tokenCounts ?? undefined);
  } catch (err) {
    if (err instanceof TernlmError) throw new TernlmError(`${file.path}: ${err.message}`);
    throw err;
  }
  const before = float.model.bitLayers();
  if (!model.bitLayers().some((p, i) => p.layer.opts.precision === 'ternary' && before[i].layer.opts.precision !== 'ternary')) {
    model.dispose();
    throw new TernlmError(`${file.path}: its precisionOverrides turn no projection of the model ternary that is not ternary already — ternarize takes a float model`);
  }
  return model;
}

/** The fine-tune asked for (--finetune with --data), checked before anything is read or written; null without --finetune. */
function finetunePlan(values: { finetune?: string; data?: string; 'finetune-out'?: string; overwrite: boolean }, out: string): { steps?: number; seconds?: number; dataDir: string; data: DatasetMeta; outDir: string } | null {
  if (values.finetune === undefined) {
    if (values.data !== undefined || values['finetune-out'] !== undefined) throw new TernlmError('--data and --finetune-out go with --finetune <steps | 30m>');
    return null;
  }
  if (values.data === undefined) throw new TernlmError('--finetune trains on prepared data — give --data <dir> (ternlm prepare with the model\'s tokenizer)');
  const budget = /^\d+$/.test(values.finetune)
    ? { steps: integerFlag({ finetune: values.finetune }, 'finetune', { min: 1 }) }
    : /^\d+(\.\d+)?[smh]$/.test(values.finetune) ? { seconds: parseDuration(values.finetune) } : null;
  if (!budget) throw new TernlmError(`--finetune takes a number of steps (200) or a duration (90s, 30m, 1h), got '${values.finetune}'`);
  const outDir = values['finetune-out'] ?? join(dirname(out), `${basename(out, extname(out))}-finetune`);
  if (existsSync(join(outDir, 'ckpt.safetensors')) && !values.overwrite) {
    throw new TernlmError(`${outDir} already holds a training run — add --overwrite to start it again, or choose another --finetune-out`);
  }
  return { ...budget, dataDir: values.data, data: readMeta(values.data), outDir };
}

/** The texts to measure on: --text, else TinyStories' validation file beside the package when it is there. */
export function defaultText(text: string[] | undefined): string[] | null {
  if (text) return text;
  const valid = join(packageRoot(), '..', 'shared', 'data', 'tinystories', 'valid.txt');
  return existsSync(valid) ? [valid] : null;
}

/**
 * Open a float model: a ternlm training checkpoint, an llm.c GPT-2 checkpoint or a llama2.c
 * checkpoint; anything else is refused, naming what it is.
 */
export function openFloatModel(path: string, tokenizerSpec: string | undefined): FloatModel {
  const head = readModelHead(path);
  const format = sniffModelFormat(head);
  if (format === 'llama2c') {
    const model = loadLlama2cAsBitNet(path);
    const given = resolveTokenizer(path, { vocabSize: model.config.vocabSize }, tokenizerSpec);
    // Documents start at BOS, as llama2.c trained the model (ternlm's default for its tokenizer is EOS).
    const tokenizer = given instanceof Llama2cTokenizer ? given.withBosDocuments() : given;
    return { model, train: importedTrainConfig(path, model), tokenizer, tokenCounts: null, kind: 'llama2.c checkpoint' };
  }
  if (isLlmcGpt2(head)) {
    const tokenizer = llmcTokenizer(path, readLlmcGpt2Shape(path).shape.vocabSize, tokenizerSpec);
    const model = loadLlmcAsGpt2(path);
    return { model, train: importedTrainConfig(path, model), tokenizer, tokenCounts: null, kind: 'llm.c GPT-2 checkpoint' };
  }
  if (format === 'safetensors') {
    if (tokenizerSpec !== undefined) throw new TernlmError('--tokenizer is for an llm.c or llama2.c checkpoint; a ternlm checkpoint carries its own');
    const meta = readCheckpointMeta(path);
    const { model } = loadTrainedModel(path);
    const train = checkpointTrainConfig(meta);
    return { model, train, tokenizer: tokenizerFromJSON(meta.tokenizer, path), tokenCounts: meta.tokenCounts, kind: 'training checkpoint' };
  }
  throw new TernlmError(`${path} is not a float model ternarize and sensitivity read: give a ternlm training checkpoint of a float model, an llm.c GPT-2 .bin or a llama2.c .bin`);
}

/** The training config of an imported model: the defaults, named after its file, sequences no longer than its context. */
function importedTrainConfig(path: string, model: LanguageModel<ModelConfig>): TrainConfig {
  const name = basename(path, extname(path)).replace(/[^\w.-]/g, '-').slice(0, 80);
  const seqLen = Math.min(TRAIN_DEFAULTS.seqLen, model.config.contextLength);
  return withOverrides(TRAIN_DEFAULTS, { name, seqLen, model: withoutVocabulary(model.config) });
}

/**
 * The tokenizer of an llm.c GPT-2 checkpoint of `vocabSize` tokens: --tokenizer (gpt2 or a
 * tok.json), else GPT-2's, which llm.c's GPT-2 files use. llm.c's tokenizer file holds only the
 * bytes of each token, not how to encode text, so it cannot be the tokenizer; but when one lies
 * beside the checkpoint (`<name>_tokenizer.bin`, as `ternlm export --format llmc` writes it, or
 * llm.c's `gpt2_tokenizer.bin`), its tokens must be the chosen tokenizer's.
 */
function llmcTokenizer(path: string, vocabSize: number, spec: string | undefined): Tokenizer {
  const tokenizer = loadTokenizer(spec ?? 'gpt2');
  const wayOut = 'pass the tokenizer the model was trained with: --tokenizer <tok.json> or --tokenizer gpt2';
  if (tokenizer.vocabSize > vocabSize) throw new TernlmError(`the tokenizer ${spec ?? 'gpt2'} has ${tokenizer.vocabSize} tokens but ${path} only ${vocabSize} — ${wayOut}`);
  const beside = [`${basename(path, extname(path))}_tokenizer.bin`, 'gpt2_tokenizer.bin'].map((f) => join(dirname(path), f)).find((p) => existsSync(p));
  if (beside) {
    const file = readLlmcTokenizer(beside).tokens, ours = llmcTokenBytes(tokenizer);
    const same = file.length === ours.length && file.every((t, id) => t.length === ours[id].length && t.every((b, i) => b === ours[id][i]));
    if (!same) throw new TernlmError(`the tokens of ${beside}, beside ${path}, are not those of the tokenizer ${spec ?? 'gpt2'} — ${wayOut}`);
  }
  return tokenizer;
}

export function withoutVocabulary(c: ModelConfig): TrainConfig['model'] {
  const { vocabSize: _, ...fields } = c;
  return fields;
}

/** Where the tokenizer of an imported llama2.c model is written beside the checkpoint `out`. */
function tokenizerFileOf(out: string): string {
  return out.replace(/\.safetensors$/, '.tokenizer.json');
}

/** The data of a fine-tune must be tokenized by the model's tokenizer (for an import, the one written to `tokenizerFile`). */
function checkDataTokenizer(data: DatasetMeta, dir: string, float: FloatModel, tokenizerFile: string): void {
  if (datasetTokenizerFingerprint(data, dir) === tokenizerFingerprint(float.tokenizer.toJSON())) return;
  const how = float.kind === 'llama2.c checkpoint'
    ? `run ternarize once without --finetune, prepare the data with the tokenizer it writes (ternlm prepare --tokenizer ${tokenizerFile}: BOS before each document, as llama2.c trained the model), then fine-tune with ternlm train --init or ternarize --finetune`
    : 'prepare it with the tokenizer the model was trained with';
  throw new TernlmError(`${dir} was not tokenized with the model's tokenizer — ${how}`);
}

/**
 * Refuse a text the tokenizer cannot encode: one whose tokens do not decode back to it (a
 * lowercasing tokenizer on mixed case, characters outside its alphabet) or fall outside the model's vocabulary.
 */
export function checkEncodable(docs: readonly TextDocument[], tokenizer: Tokenizer, vocabSize: number, lowercase: boolean): void {
  for (const d of docs) {
    const ids = tokenizer.encode(d.text);
    const outside = ids.find((id) => id >= vocabSize);
    if (outside !== undefined) throw new TernlmError(`${d.file}, document ${d.index + 1}: the tokenizer gives token ${outside}, outside the model's vocabulary of ${vocabSize}`);
    if (tokenizer.decode(ids) !== d.text) {
      const hint = lowercase ? '' : ' (a model trained on lowercased text: add --lowercase)';
      throw new TernlmError(`${d.file}, document ${d.index + 1}: the model's ${tokenizer.kind} tokenizer cannot encode this text — its tokens do not decode back to it${hint}`);
    }
  }
}
