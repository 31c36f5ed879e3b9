// The messages between the page (page.ts, the tab's main thread) and its training worker
// (train-worker.ts), which holds the runtime, the model and the engine.

/** The text to train on: the built-in stories, or a file the user gave (its bytes). */
export type CorpusChoice = { kind: 'stories' } | { kind: 'file'; name: string; bytes: ArrayBuffer };

export type ToWorker =
  /** Build the tokenizer and a fresh model, then train `steps` steps. */
  | { type: 'train'; corpus: CorpusChoice; preset: string; steps: number }
  /** Stop after the step under way. */
  | { type: 'stop' }
  /** Train `steps` more steps (after the planned ones, at the schedule's last learning rate). */
  | { type: 'continue'; steps: number }
  | { type: 'generate'; prompt: string; maxTokens: number; temperature: number }
  | { type: 'chat'; message: string; temperature: number }
  | { type: 'chat-clear' }
  /** The exported file of the model as it is now. */
  | { type: 'export' };

export type FromWorker =
  | { type: 'ready'; threads: number; build: string; presets: { id: string; label: string; parameters: number }[] }
  /** One line of what the worker is doing. */
  | { type: 'status'; text: string }
  /** Bad input or a failure: one line naming it and the way out. */
  | { type: 'error'; text: string }
  | { type: 'model'; parameters: number; trainTokens: number; valTokens: number }
  /** A step done: its loss, rate and wall time (ms), and tokens per second over the latest steps. */
  | { type: 'step'; step: number; planned: number; loss: number; lr: number; tokensPerSecond: number; ms: number }
  /** Validation: mean loss (nats per token) and bits per UTF-8 byte of the held-out slice. */
  | { type: 'val'; step: number; loss: number; bpb: number }
  /** Training paused: the planned steps are done, or the user stopped it. */
  | { type: 'paused'; step: number; done: boolean }
  /** A piece of generated text, for the generate box or the chat. */
  | { type: 'text'; target: 'generate' | 'chat'; text: string }
  | { type: 'text-end'; target: 'generate' | 'chat'; tokens: number; tokensPerSecond: number }
  | { type: 'export'; name: string; data: Uint8Array };
