import { parentPort, workerData } from 'node:worker_threads';
import { tokenizerFromJSON } from './tokenizer.js';

/**
 * Worker side of TokenizePool: rebuilds the tokenizer from its JSON and turns batches of
 * document pieces into token arrays, one per split. Every document is preceded by EOT.
 */

export interface TokenizeJob {
  id: number;
  texts: string[];
  /** 1 where texts[i] starts a document. */
  docStart: Uint8Array;
  /** 0 = train, 1 = val. */
  split: Uint8Array;
}

export interface TokenizeResult {
  id: number;
  tokens: [Uint32Array, Uint32Array];
  bytes: [number, number];
  documents: [number, number];
}

const { tokenizer: json, lowercase } = workerData as { tokenizer: object; lowercase: boolean };
const tokenizer = tokenizerFromJSON(json);
const encodeStart = (t: string): number[] => tokenizer.encode(t);
const encodeMore = tokenizer.encodeContinuation ? (t: string): number[] => tokenizer.encodeContinuation!(t) : encodeStart;

parentPort!.on('message', (job: TokenizeJob) => {
  const ids: [number[], number[]] = [[], []];
  const bytes: [number, number] = [0, 0];
  const documents: [number, number] = [0, 0];
  for (let i = 0; i < job.texts.length; i++) {
    const s = job.split[i];
    const text = lowercase ? job.texts[i].toLowerCase() : job.texts[i];
    const out = ids[s];
    if (job.docStart[i]) {
      out.push(tokenizer.eotId);
      documents[s]++;
    }
    for (const id of job.docStart[i] ? encodeStart(text) : encodeMore(text)) out.push(id);
    bytes[s] += Buffer.byteLength(text, 'utf8');
  }
  const tokens: [Uint32Array, Uint32Array] = [Uint32Array.from(ids[0]), Uint32Array.from(ids[1])];
  const result: TokenizeResult = { id: job.id, tokens, bytes, documents };
  parentPort!.postMessage(result, [tokens[0].buffer as ArrayBuffer, tokens[1].buffer as ArrayBuffer]);
});
