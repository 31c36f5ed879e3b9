// safetensors files on disk (checkpoints, exported models, and other projects' weights): the
// format itself, its checksums and the half-precision conversions are in safetensors-format.ts
// (browser-safe, re-exported here); this module writes files atomically and reads them with
// positioned reads, one tensor at a time.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { TernlmError } from '../core/errors.js';
import { writeFileAtomic, type AtomicWriteOptions } from './atomic.js';
import { encodeSafetensors, openSafetensorsFrom, type SafetensorsFile, type TensorToWrite } from './safetensors-format.js';

export * from './safetensors-format.js';

/** Positioned reads are split into pieces below Node's 2 GiB limit per call. */
const READ_PIECE = 1 << 30;

/**
 * Write tensors and string metadata to `path` atomically (temp file, fsync, rename), with a
 * checksum of every tensor. The tensors' own buffers are handed to the writer as chunks: nothing
 * is copied but the header. `opts` can verify the temp file and keep the replaced one.
 * Returns the file size in bytes.
 */
export function writeSafetensors(
  path: string, tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}, opts: AtomicWriteOptions = {},
): { bytes: number } {
  const { chunks, bytes } = encodeSafetensors(path, tensors, metadata);
  writeFileAtomic(path, chunks, opts);
  return { bytes };
}

/** Read exactly `length` bytes at `position`, or fail naming the file. */
function readAt(fd: number, path: string, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, Math.min(READ_PIECE, length - done), position + done);
    if (n === 0) throw new TernlmError(`${path} is truncated: expected ${(position + length).toLocaleString('en-US')} bytes, the file ended at ${(position + done).toLocaleString('en-US')}`);
    done += n;
  }
  return out;
}

/** Open a safetensors file: read and validate its header; tensors are read on demand. */
export function openSafetensors(path: string): SafetensorsFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new TernlmError(`cannot open ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw new TernlmError(`${path} is a folder, not a safetensors file — give the file inside it (e.g. ${path}/ckpt.safetensors)`);
    return openSafetensorsFrom({ path, fileBytes: stat.size, readAt: (position, length) => readAt(fd, path, position, length), close: () => closeSync(fd) });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}
