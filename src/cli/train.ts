// ternlm train: train a model (FlashLM, GPT-2, BitNet) on prepared shards (or, with no --data, on the built-in
// story corpus, prepared on the fly).
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import { TernlmError } from '../core/errors.js';
import { ensureDir } from '../io/fs.js';
import { integerFlag, parseFlags, seedFlag, threadsFlag } from './args.js';
import { initRuntime } from '../core/runtime.js';
import { readMeta, type DatasetMeta } from '../data/meta.js';
import { openLatestGoodCheckpoint, readCheckpointMeta, type CheckpointMeta } from '../io/checkpoint.js';
import { checkInitCheckpoint, checkpointTrainConfig } from '../train/init.js';
import { tokenizerFromJSON } from '../data/tokenizer.js';
import { readLlmcGpt2Shape } from '../io/llmc.js';
import { gpt2ConfigFromLlmc } from '../models/llmc.js';
import { loadTrainConfig, parseOverrides, withOverrides, type TrainConfig } from '../train/config.js';
import { train, type TrainLog } from '../train/trainer.js';

const HELP = `usage: ternlm train [--config <json|name>] [--data <prepared dir>] [--out runs/<name>]
                    [--time 60m | --steps N] [--threads N] [--seed S]
                    [--resume | --overwrite] [--init-from <llm.c gpt2 .bin>] [--init <ckpt>]
                    [--set key=value ...]

Trains a language model: the config's model.family picks FlashLM (ternary, convolutional),
GPT-2 (float transformer, as llm.c), BitNet b1.58 (ternary transformer), the MatMul-free LM
(ternary, gated recurrence) or FlashLM-MLP (frozen embeddings, running average, ternary MLP,
two-level softmax head). With no --data,
writes the built-in story corpus, trains a 1,024-token BPE on it and prepares it under
<out>/data first (all offline), then trains flashlm-tiny for 10 minutes.

  --config   a JSON file, or the name of a config shipped in configs/ (default flashlm-tiny):
             flashlm-tiny, flashlm-4m, flashlm-v3, gpt2-4m, gpt2-124m, bitnet-4m, bitnet-30m,
             mmfree-4m, flashlm-mlp, and each ternary one's float twin <name>-float
  --data     a directory written by \`ternlm prepare\`
  --out      run directory (default runs/<config name>): config.json, metrics.jsonl,
             ckpt.safetensors, samples.txt, and at the end (or on Ctrl-C) the plots
             report.html and report.png (see ternlm report --help; --set report=false: none)
  --time     training time budget, e.g. 90s, 30m, 1h. The first 30 s (or 5% of the budget)
             measure the pace; then the number of steps that fit is fixed and kept in the
             checkpoint, so the run (and any --resume of it) follows that plan exactly
  --steps    number of optimizer steps (instead of --time)
  --threads  compute threads (default: all cores)
  --seed     random seed (default: the config's)
  --init-embeddings  random (default) | corpus (PPMI co-occurrence + randomized SVD of the
             training tokens) | gpt2:<model.safetensors> (GPT-2's token embeddings projected
             to the model width by truncated SVD; needs the gpt2 tokenizer)
  --resume   continue from <out>/ckpt.safetensors (or, if it is damaged, the previous one,
             ckpt.prev.safetensors), bit for bit on the same data position; with no --time
             or --steps the run keeps the budget it was started with
  --overwrite  delete the run already in --out and start again (without it, a folder that
             holds a run is refused)
  --init-from  start a new run from an llm.c GPT-2 checkpoint (gpt2_124M.bin layout, fp32 or
             bf16): the model takes the file's shape (dim, layers, heads, context) and weights;
             the data must use the tokenizer it was trained with (same vocabulary size); the
             training settings are --config's (default here: gpt2-4m's)
  --init     fine-tune: start a new run from a base run's ckpt.safetensors — its model and
             weights, a fresh optimizer and schedule, the training settings of --config
             (default: the base run's) and --set. --data must use the base's tokenizer, or
             the base's plus the chat tokens (ternlm prepare --chat): the embedding and an
             untied softmax head then grow by those rows. Resume with the same command plus
             --resume. See docs/training.md, "Chat fine-tuning"
  --set      override a config field, e.g. --set model.dim=128 --set lr=0.001

A checkpoint is saved every minute of training (config field checkpointMinutes), at the end,
and on Ctrl-C, which stops the run; run again with --resume to continue. One process at a
time trains into a folder (<out>/train.lock).`;

export function packageRoot(): string {
  // dist/src/cli/train.js -> package root
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

export function resolveConfigPath(spec: string): string {
  if (existsSync(spec)) return spec;
  const shipped = join(packageRoot(), 'configs', spec.endsWith('.json') ? spec : `${spec}.json`);
  if (existsSync(shipped)) return shipped;
  const shippedNames = readdirSync(join(packageRoot(), 'configs')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
  throw new TernlmError(`config '${spec}' is neither a file nor a shipped config (${shippedNames.join(', ')})`);
}

/** "90s", "30m", "1.5h", "45" (seconds) -> seconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(s.trim());
  if (!m) throw new TernlmError(`--time expects a duration like 90s, 30m or 1h, got '${s}'`);
  return Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
}

/** Write the built-in stories, train a tokenizer on them and prepare shards, under dir. */
async function prepareBuiltinCorpus(dir: string): Promise<string> {
  const dataDir = join(dir, 'data');
  if (existsSync(join(dataDir, 'meta.json'))) return dataDir;
  ensureDir(dir);
  const { writeDemoCorpus } = await import('../data/stories.js');
  const corpus = writeDemoCorpus(join(dir, 'corpus'), { stories: 20000, seed: 1 });
  console.error(`built-in corpus: ${corpus.path} (${(corpus.bytes / 1e6).toFixed(1)} MB of generated stories)`);
  const tokPath = join(dir, 'tok.json');
  const tokenizerCli = await import('./tokenizer.js');
  await tokenizerCli.run(['train', '--input', corpus.path, '--vocab', '1024', '--out', tokPath]);
  const prepareCli = await import('./prepare.js');
  await prepareCli.run(['--input', corpus.path, '--tokenizer', tokPath, '--out', dataDir, '--val-fraction', '0.02']);
  return dataDir;
}

/** A base model's checkpoint for --init, with its training config and the data it will fine-tune on. */
function openInit(path: string, values: { data?: string; 'init-from'?: string }): { meta: CheckpointMeta; config: TrainConfig; data: DatasetMeta } {
  if (values['init-from'] !== undefined) throw new TernlmError('--init starts from a ternlm checkpoint, --init-from from an llm.c one — give one of them');
  if (values.data === undefined) throw new TernlmError('--init fine-tunes a base model on prepared data — give --data <dir> (e.g. from ternlm prepare --chat)');
  if (!existsSync(path)) throw new TernlmError(`checkpoint ${path} not found — --init takes a base run's ckpt.safetensors`);
  const meta = readCheckpointMeta(path);
  return { meta, config: checkpointTrainConfig(meta), data: readMeta(values.data) };
}

/**
 * The training config stored in the checkpoint the run in `outDir` resumes from (the previous
 * one when the latest is damaged; the trainer warns about that), or null when it holds none.
 */
function resumedConfig(outDir: string): TrainConfig | null {
  const ck = openLatestGoodCheckpoint(join(outDir, 'ckpt.safetensors'), () => {});
  if (!ck) return null;
  ck.close();
  return checkpointTrainConfig(ck.meta);
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseFlags('train', args, {
    config: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' }, time: { type: 'string' },
    steps: { type: 'string' }, threads: { type: 'string' }, seed: { type: 'string' }, resume: { type: 'boolean', default: false },
    overwrite: { type: 'boolean', default: false }, 'init-from': { type: 'string' }, init: { type: 'string' },
    'init-embeddings': { type: 'string' }, set: { type: 'string', multiple: true, default: [] }, help: { type: 'boolean', default: false },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const init = values.init !== undefined ? openInit(values.init, values) : null;
  // A run from an llm.c checkpoint takes gpt2-4m's training settings unless a config is given;
  // a fine-tuning run (--init) its base's; a resumed run in --out the one its checkpoint holds.
  const resumed = values.resume && values.config === undefined && values.out !== undefined ? resumedConfig(values.out) : null;
  let config: TrainConfig = values.config === undefined && (init || resumed)
    ? (init?.config ?? resumed!)
    : loadTrainConfig(resolveConfigPath(values.config ?? (values['init-from'] !== undefined ? 'gpt2-4m' : 'flashlm-tiny')));
  const overrides = parseOverrides(values.set ?? []);
  const seed = seedFlag(values);
  if (seed !== undefined) overrides.seed = seed;
  if (values['init-embeddings'] !== undefined) overrides.initEmbeddings = values['init-embeddings'];
  const initFrom = values['init-from'];
  if (initFrom !== undefined) {
    if (values.resume) throw new TernlmError('--init-from starts a new run from an llm.c checkpoint; --resume continues the run in --out — give one of them');
    // The file's shape wins over the config's: the run is llm.c's GPT-2.
    const { shape } = readLlmcGpt2Shape(initFrom);
    const file = gpt2ConfigFromLlmc(shape);
    overrides.model = { ...(overrides.model as object | undefined), family: 'gpt2', dim: file.dim, layers: file.layers, heads: file.heads, contextLength: file.contextLength };
  }
  config = withOverrides(config, overrides);
  if (init) config = { ...config, model: checkInitCheckpoint(values.init!, init.meta, init.data, values.data!, config.model) };
  const outDir = values.out ?? join('runs', config.name);
  const steps = integerFlag(values, 'steps', { min: 1 });
  const threads = threadsFlag(values);
  let timeSeconds = values.time !== undefined ? parseDuration(values.time) : undefined;
  if (!values.data && steps === undefined && timeSeconds === undefined) timeSeconds = 600;
  // Refused before the built-in corpus is written, so that a refusal leaves nothing behind.
  if (values.resume && values.overwrite) throw new TernlmError('--resume and --overwrite contradict each other: --resume continues the run in --out, --overwrite deletes it');
  if (steps === undefined && timeSeconds === undefined && !values.resume) throw new TernlmError('give a training budget: --time 60m or --steps N');
  const dataDir = values.data ?? (await prepareBuiltinCorpus(outDir));
  const meta = readMeta(dataDir);
  const tokenizer = tokenizerFromJSON(meta.tokenizer.json, `${dataDir}/meta.json`);
  await initRuntime({ threads });

  let stopRequested = false;
  const onSigint = (): void => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    console.error('\nstopping after this step (Ctrl-C again to quit without saving)…');
  };
  process.on('SIGINT', onSigint);

  const tty = process.stderr.isTTY;
  const bar = tty
    ? new cliProgress.SingleBar({
      format: '{bar} {percentage}% | step {step} | loss {loss} | {tps} tok/s | T {seqLen} | head {head} | ETA {eta_formatted}',
      hideCursor: true, etaBuffer: 50,
    }, cliProgress.Presets.shades_classic)
    : null;
  let barValue = 0;
  let barPayload: Record<string, string | number> = { step: 0, loss: '-', tps: '-', seqLen: '-', head: '-' };
  bar?.start(1000, barValue, barPayload);
  let lastPrinted = 0;
  const result = await train({
    config, dataDir, outDir, tokenizer, steps, timeSeconds, resume: values.resume, overwrite: values.overwrite, initFrom,
    initCheckpoint: values.init,
    onMessage: (text) => {
      if (bar) bar.stop();
      console.error(text);
      if (bar) bar.start(1000, barValue, barPayload);
    },
    onLog: (l: TrainLog) => {
      const head = l.headShare === null ? '-' : `${Math.round(l.headShare * 100)}%`;
      const payload = { step: l.step, loss: l.loss.toFixed(3), tps: Math.round(l.tokensPerSecond).toLocaleString('en-US'), seqLen: l.seqLen, head };
      barValue = Math.round(l.progress * 1000);
      barPayload = payload;
      if (bar) bar.update(barValue, payload);
      else if (performance.now() - lastPrinted > 10_000 || l.progress >= 1) {
        lastPrinted = performance.now();
        console.error(`step ${l.step} (${(l.progress * 100).toFixed(1)}%) loss ${payload.loss}${l.fsp === null ? '' : ` (FSP ${l.fsp.toFixed(3)})`} | ${payload.tps} tok/s | T ${l.seqLen} | head ${head} of step time`);
      }
    },
    shouldStop: () => stopRequested,
  });
  bar?.stop();
  process.off('SIGINT', onSigint);
  const ev = result.lastEval as { loss: number; ppl: number; bpb: number | null } | null;
  console.error(`done: ${result.steps} steps, ${result.tokens.toLocaleString('en-US')} tokens in ${result.elapsed.toFixed(0)} s` +
    (ev ? ` — val loss ${ev.loss.toFixed(4)}, ppl ${ev.ppl.toFixed(2)}${ev.bpb !== null ? `, ${ev.bpb.toFixed(4)} bits/byte` : ''}` : ''));
  console.error(`checkpoint: ${result.checkpoint}`);
  if (result.stoppedEarly) process.exitCode = 130;
}
