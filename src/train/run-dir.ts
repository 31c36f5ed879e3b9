// A run's folder (`runs/<name>/`): config.json, metrics.jsonl, samples.txt, ckpt.safetensors
// and ckpt.prev.safetensors (and the plots report.html and report.png drawn from them), guarded by
// a lock so that one process trains into it at a time.
//
// - A folder that already holds a run is refused unless the run is resumed or overwritten.
// - The lock file holds the owner's pid, host, start time and command line; a lock whose process
//   is gone (or whose pid now belongs to another command) is taken over, with a warning.
// - On resume, metrics.jsonl and samples.txt drop what was logged after the checkpoint's step,
//   so each step appears once.
// - Temp files that a killed save left behind are deleted when the next run starts.
import { appendFileSync, closeSync, existsSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { TernlmError } from '../core/errors.js';
import { isProcessAlive, removeStaleTemps, writeTextAtomic } from '../io/atomic.js';
import { ensureDir } from '../io/fs.js';
import { previousCheckpointPath } from '../io/checkpoint.js';
import { RUN_REPORT_FILES } from '../report/report.js';

export const LOCK_FILE = 'train.lock';

interface LockRecord {
  pid: number;
  host: string;
  started: string;
  /** The holder's command line, to tell it from an unrelated process that got the same pid later. */
  command?: string;
}

/** A process's command line as Linux shows it (arguments joined by spaces), or null where unreadable. */
function commandLineOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '').join(' ');
  } catch {
    return null;
  }
}

/** True while the process that wrote `rec` still runs (a reused pid with another command line does not count). */
function holderRuns(rec: LockRecord): boolean {
  if (rec.host !== hostname() || !isProcessAlive(rec.pid)) return false;
  const now = rec.command === undefined ? null : commandLineOf(rec.pid);
  return now === null || now === rec.command;
}

export class RunDir {
  readonly checkpoint: string;
  readonly previousCheckpoint: string;
  readonly metrics: string;
  readonly samples: string;
  readonly config: string;
  private readonly lockPath: string;
  private locked = false;
  private readonly releaseOnExit = (): void => this.unlock();

  constructor(readonly dir: string) {
    this.checkpoint = join(dir, 'ckpt.safetensors');
    this.previousCheckpoint = previousCheckpointPath(this.checkpoint);
    this.metrics = join(dir, 'metrics.jsonl');
    this.samples = join(dir, 'samples.txt');
    this.config = join(dir, 'config.json');
    this.lockPath = join(dir, LOCK_FILE);
  }

  /** The files that make the folder a run (present ones only). */
  runFiles(): string[] {
    return [this.checkpoint, this.previousCheckpoint, this.metrics, this.samples, this.config].filter((p) => existsSync(p));
  }

  /**
   * Create the folder and take its lock; refuse a folder holding a run unless resuming or
   * overwriting (overwrite deletes the old run's files). `warn` hears about stale locks and temps.
   */
  open(mode: { resume: boolean; overwrite: boolean }, warn: (text: string) => void): void {
    if (existsSync(this.dir)) this.refuseIfLocked();
    const existing = this.runFiles();
    if (existing.length > 0 && !mode.resume && !mode.overwrite) {
      throw new TernlmError(`${this.dir} already holds a training run (${existing.map((p) => p.slice(this.dir.length + 1)).join(', ')}) — continue it with --resume, or start again with --overwrite (which deletes it), or choose another --out`);
    }
    ensureDir(this.dir);
    this.lock(warn);
    for (const p of removeStaleTemps(this.dir)) warn(`removed ${p}, left by a save that was interrupted`);
    // The old run's plots go with it (they do not make a folder a run on their own).
    const plots = Object.values(RUN_REPORT_FILES).map((f) => join(this.dir, f)).filter((p) => existsSync(p) && statSync(p).isFile());
    if (mode.overwrite && !mode.resume) for (const p of [...existing, ...plots]) rmSync(p, { force: true });
  }

  private readLock(): LockRecord | null {
    try {
      const rec = JSON.parse(readFileSync(this.lockPath, 'utf8')) as LockRecord;
      return Number.isInteger(rec.pid) ? rec : null;
    } catch {
      return null;
    }
  }

  /** Refuse when another live process holds the lock (checked before anything is written). */
  private refuseIfLocked(): void {
    const rec = existsSync(this.lockPath) ? this.readLock() : null;
    if (rec && rec.pid !== process.pid && holderRuns(rec)) {
      throw new TernlmError(`${this.dir} is in use: ternlm train (pid ${rec.pid}, started ${rec.started}) is training into it — wait for it to finish, stop it, or choose another --out`);
    }
  }

  private lock(warn: (text: string) => void): void {
    const record: LockRecord = { pid: process.pid, host: hostname(), started: new Date().toISOString(), command: commandLineOf(process.pid) ?? undefined };
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd: number;
      try {
        fd = openSync(this.lockPath, 'wx');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        this.refuseIfLocked();
        const rec = this.readLock();
        warn(`warning: taking over the lock of ${this.dir}${rec ? ` left by pid ${rec.pid} (started ${rec.started}), which no longer runs` : ' (unreadable)'}`);
        rmSync(this.lockPath, { force: true });
        continue;
      }
      writeSync(fd, JSON.stringify(record) + '\n');
      closeSync(fd);
      this.locked = true;
      process.on('exit', this.releaseOnExit);
      return;
    }
    throw new TernlmError(`could not take the lock ${this.lockPath}: another process took it at the same time — try again`);
  }

  /** Release the lock (also done when the process exits). */
  unlock(): void {
    if (!this.locked) return;
    this.locked = false;
    process.off('exit', this.releaseOnExit);
    try {
      unlinkSync(this.lockPath);
    } catch {
      /* already gone */
    }
  }

  /** Drop log lines and samples written after `step` (they belong to steps the resumed run redoes). */
  truncateLogsAfter(step: number): void {
    if (existsSync(this.metrics)) {
      const lines = readFileSync(this.metrics, 'utf8').split('\n').filter((l) => l.trim() !== '');
      const kept = lines.filter((l) => {
        try {
          const s = (JSON.parse(l) as { step?: unknown }).step;
          return typeof s !== 'number' || s <= step;
        } catch {
          return false; // a line cut off by a crash
        }
      });
      if (kept.length !== lines.length) writeTextAtomic(this.metrics, kept.map((l) => l + '\n').join(''));
    }
    if (existsSync(this.samples)) {
      const text = readFileSync(this.samples, 'utf8');
      const sections = text.split(/(?=^--- step \d+$)/m);
      const kept = sections.filter((s) => {
        const m = /^--- step (\d+)$/m.exec(s);
        return !m || Number(m[1]) <= step;
      });
      if (kept.length !== sections.length) writeTextAtomic(this.samples, kept.join(''));
    }
  }

  log(record: object): void {
    appendFileSync(this.metrics, JSON.stringify(record) + '\n');
  }

  appendSample(step: number, text: string): void {
    appendFileSync(this.samples, `--- step ${step}\n${text}\n`);
  }

  writeConfig(config: object): void {
    writeTextAtomic(this.config, JSON.stringify(config, null, 2) + '\n');
  }
}
