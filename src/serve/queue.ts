// The server's request queue: jobs run one at a time, in arrival order, with at most `limit`
// waiting behind the one that runs. A job that finds the queue full is refused at once.

/** Thrown by `RequestQueue.run` when `limit` jobs already wait. */
export class QueueFullError extends Error {
  constructor(limit: number) {
    super(`the server is busy: ${limit} requests are already waiting — retry later`);
    this.name = 'QueueFullError';
  }
}

export class RequestQueue {
  /** Wake-up calls of the waiting jobs, oldest first. */
  private readonly waiting: (() => void)[] = [];
  private running = false;

  constructor(readonly limit: number) {}

  /** Jobs waiting for their turn (the running one excluded). */
  get pending(): number {
    return this.waiting.length;
  }

  /** Run `job` after every job queued before it has finished; its result or error is passed on. */
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running) {
      if (this.waiting.length >= this.limit) throw new QueueFullError(this.limit);
      // The job that finishes hands `running` straight to this one (see below).
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running = true;
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running = false;
    }
  }
}
