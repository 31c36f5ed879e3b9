// Reading training runs for a report: a run folder's metrics.jsonl (the lines the trainer logs,
// docs/training.md) and config.json, reduced to the series the plots and the summary need.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { TernlmError } from '../core/errors.js';

/** One `train` line: the mean over the steps since the previous one. */
export interface TrainPoint {
  step: number;
  loss: number | null;
  lr: number | null;
  tokens: number | null;
  tokensPerSecond: number | null;
  /** Seconds of training (evaluation excluded) up to this step. */
  elapsed: number | null;
}

/** Share of -1, 0 and +1 over all ternary layers of the model. */
export interface WeightMix {
  neg: number;
  zero: number;
  pos: number;
}

/** One `eval` line. */
export interface EvalPoint {
  step: number;
  tokens: number | null;
  elapsed: number | null;
  loss: number | null;
  bpb: number | null;
  /** null for a model without ternary layers (a float twin). */
  mix: WeightMix | null;
}

export interface Run {
  /** The folder as given. */
  dir: string;
  /** The legend's name: the folder's name, with as many parent folders as it takes to tell equal names apart. */
  name: string;
  /** The config's `name` and `model.precision`, where config.json says. */
  config: string | null;
  precision: string | null;
  train: TrainPoint[];
  evals: EvalPoint[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * The mix over all layers of an eval line's `ternary` record, weighted by each layer's weight
 * count where the line gives it (`weights`), else the mean over layers; null when there are none.
 */
export function overallMix(ternary: unknown): WeightMix | null {
  if (!isRecord(ternary)) return null;
  const layers = Object.values(ternary).filter(isRecord)
    .map((l) => ({ neg: num(l.neg), zero: num(l.zero), pos: num(l.pos), weights: num(l.weights) }))
    .filter((l): l is { neg: number; zero: number; pos: number; weights: number | null } => l.neg !== null && l.zero !== null && l.pos !== null);
  if (layers.length === 0) return null;
  const weighted = layers.every((l) => l.weights !== null && l.weights > 0);
  let total = 0;
  const mix = { neg: 0, zero: 0, pos: 0 };
  for (const l of layers) {
    const w = weighted ? l.weights! : 1;
    total += w;
    mix.neg += w * l.neg;
    mix.zero += w * l.zero;
    mix.pos += w * l.pos;
  }
  return { neg: mix.neg / total, zero: mix.zero / total, pos: mix.pos / total };
}

/**
 * The JSON objects of a .jsonl file, refusing a line that is not a JSON object (with its number).
 * A last line without its newline that does not parse is a line still being written by a live
 * run, and is left out.
 */
function readJsonLines(path: string): Record<string, unknown>[] {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const records: Record<string, unknown>[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      if (i === lines.length - 1) return; // no newline after it yet: still being appended
      throw new TernlmError(`${path} line ${i + 1} is not JSON (${(err as Error).message}) — fix or delete that line`);
    }
    if (!isRecord(value)) throw new TernlmError(`${path} line ${i + 1} is not a JSON object — fix or delete that line`);
    records.push(value);
  });
  return records;
}

function readConfig(dir: string): { config: string | null; precision: string | null } {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) return { config: null, precision: null };
  let c: unknown;
  try {
    c = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new TernlmError(`${path} is not JSON (${(err as Error).message}) — fix it, or delete it to report the run without its config`);
  }
  const model = isRecord(c) && isRecord(c.model) ? c.model : {};
  return {
    config: isRecord(c) && typeof c.name === 'string' ? c.name : null,
    precision: typeof model.precision === 'string' ? model.precision : null,
  };
}

/** Read one run folder (its name is filled in by `readRuns`). */
export function readRun(dir: string): Omit<Run, 'name'> {
  if (!existsSync(dir)) throw new TernlmError(`${dir} does not exist — give the folder of a training run (the --out of ternlm train)`);
  if (!statSync(dir).isDirectory()) throw new TernlmError(`${dir} is a file, not a run folder — give the folder of a training run (the --out of ternlm train)`);
  const metricsPath = join(dir, 'metrics.jsonl');
  if (!existsSync(metricsPath)) throw new TernlmError(`${dir} holds no metrics.jsonl, so it is not a training run folder — give the --out folder of ternlm train`);
  const records = readJsonLines(metricsPath);
  const train: TrainPoint[] = [];
  const evals: EvalPoint[] = [];
  for (const r of records) {
    const step = num(r.step);
    if (step === null) continue;
    if (r.type === 'train') {
      train.push({ step, loss: num(r.loss), lr: num(r.lr), tokens: num(r.tokens), tokensPerSecond: num(r.tokensPerSecond), elapsed: num(r.elapsed) });
    } else if (r.type === 'eval') {
      evals.push({ step, tokens: num(r.tokens), elapsed: num(r.elapsed), loss: num(r.val_loss), bpb: num(r.val_bpb), mix: overallMix(r.ternary) });
    }
  }
  if (train.length === 0) {
    throw new TernlmError(`${metricsPath} has no training steps logged yet — a run logs its first line after logEvery steps; report it once it has`);
  }
  return { dir, ...readConfig(dir), train, evals };
}

/**
 * Legend names for run folders: each folder's own name, extended by its parent folders where
 * that is needed to tell two runs apart (runs/a/ternary and runs/b/ternary -> a/ternary, b/ternary).
 */
export function runNames(dirs: readonly string[]): string[] {
  const parts = dirs.map((d) => resolve(d).split(sep).filter((p) => p !== ''));
  const depth = dirs.map(() => 1);
  for (;;) {
    const names = parts.map((p, i) => p.slice(-depth[i]).join('/') || resolve(dirs[i]));
    const clashing = names.map((n) => names.indexOf(n) !== names.lastIndexOf(n));
    let longer = false;
    clashing.forEach((clash, i) => {
      if (clash && depth[i] < parts[i].length) {
        depth[i]++;
        longer = true;
      }
    });
    if (!longer) return names;
  }
}

/** Read run folders for one report, refusing a folder given twice. */
export function readRuns(dirs: readonly string[]): Run[] {
  if (dirs.length === 0) throw new TernlmError('give at least one run folder, e.g. ternlm report runs/a runs/b --out report.html');
  const seen = new Map<string, string>();
  for (const d of dirs) {
    const abs = resolve(d);
    if (seen.has(abs)) throw new TernlmError(`the run folder ${d} is given twice (as ${seen.get(abs)} and ${d}) — give each run once`);
    seen.set(abs, d);
  }
  const names = runNames(dirs);
  return dirs.map((d, i) => ({ ...readRun(d), name: names[i] }));
}
