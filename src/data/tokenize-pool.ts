import { Worker } from 'node:worker_threads';
import type { TokenizeJob, TokenizeResult } from './tokenize-worker.js';

/**
 * A fixed set of tokenizer workers. `run` queues a job and resolves with its result; jobs
 * are handed to whichever worker is free, so results may complete out of order (callers
 * keep the promises in order).
 */
export class TokenizePool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: TokenizeJob[] = [];
  private readonly waiting = new Map<number, { resolve: (r: TokenizeResult) => void; reject: (e: unknown) => void }>();
  private failed: unknown;

  constructor(threads: number, tokenizerJSON: object, lowercase: boolean) {
    const url = new URL('./tokenize-worker.js', import.meta.url);
    for (let i = 0; i < threads; i++) {
      const w = new Worker(url, { workerData: { tokenizer: tokenizerJSON, lowercase } });
      w.on('message', (r: TokenizeResult) => {
        const p = this.waiting.get(r.id);
        this.waiting.delete(r.id);
        this.idle.push(w);
        this.dispatch();
        p?.resolve(r);
      });
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`tokenizer worker exited with code ${code}`));
      });
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  run(job: TokenizeJob): Promise<TokenizeResult> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting.set(job.id, { resolve, reject });
      this.queue.push(job);
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.idle.pop()!.postMessage(job, [job.docStart.buffer as ArrayBuffer, job.split.buffer as ArrayBuffer]);
    }
  }

  private fail(err: unknown): void {
    this.failed ??= err;
    for (const p of this.waiting.values()) p.reject(err);
    this.waiting.clear();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
