// Folders and file-system errors: create folder chains safely, and say what went wrong with a
// path in words.
import { mkdirSync, statSync, type Stats } from 'node:fs';
import { dirname, normalize } from 'node:path';
import { TernlmError } from '../core/errors.js';

/** The errno codes a user can act on, in words. */
const CAUSES: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder, not a file',
  EEXIST: 'it already exists',
  ENOENT: 'no such file or folder',
  ENOTEMPTY: 'the folder is not empty',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many levels of symbolic links',
  EMFILE: 'too many open files',
  EBUSY: 'it is in use',
  EIO: 'the device reported an input/output error',
};

/** What the failing system call was doing, as the verb of "cannot <verb> <path>". */
const ACTIONS: Record<string, string> = {
  open: 'open', read: 'read', write: 'write', fsync: 'write', ftruncate: 'write', close: 'close',
  mkdir: 'create folder', rmdir: 'remove folder', unlink: 'remove', rm: 'remove', rename: 'rename',
  scandir: 'list folder', opendir: 'list folder', stat: 'read', lstat: 'read', fstat: 'read',
  access: 'access', copyfile: 'copy', realpath: 'resolve', readlink: 'read link', symlink: 'link', chmod: 'change mode of', utime: 'touch',
};

/**
 * One line for a file-system error (`cannot write runs/x/ckpt.safetensors: permission denied
 * (EACCES)`), from the error's code, syscall and path; null for anything else.
 */
export function describeFsError(err: unknown): string | null {
  const e = err as NodeJS.ErrnoException & { dest?: string };
  if (!(e instanceof Error) || typeof e.code !== 'string' || typeof e.syscall !== 'string' || !(e.code in CAUSES)) return null;
  const action = ACTIONS[e.syscall] ?? e.syscall;
  const target = e.path === undefined ? '' : ` ${e.path}${e.dest === undefined ? '' : ` to ${e.dest}`}`;
  // mkdir answers ENOENT where the parent exists but takes no new folders (/proc, /sys).
  const cause = e.syscall === 'mkdir' && e.code === 'ENOENT' ? 'this file system does not allow new folders here' : CAUSES[e.code];
  return `cannot ${action}${target}: ${cause} (${e.code})`;
}

/** stat, or undefined when nothing is there (or a part of the path is a file). */
function statIfAny(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** Walk up from `dir` to the nearest path that exists; `missing` lists those passed, deepest first. */
function nearestExisting(dir: string): { found: string; stats: Stats | undefined; missing: string[] } {
  const missing: string[] = [];
  for (;;) {
    const stats = statIfAny(dir);
    const parent = dirname(dir);
    if (stats || parent === dir) return { found: dir, stats, missing };
    missing.push(dir);
    dir = parent;
  }
}

/**
 * Create the folder `path` and its missing parents, one level at a time. Node 20's
 * `mkdirSync(path, { recursive: true })` retries forever where a parent exists but refuses new
 * folders with ENOENT (under /proc: 100% CPU, deaf to Ctrl-C); here each level is created once,
 * and a failure is a TernlmError naming the folder and the cause.
 */
export function ensureDir(path: string): void {
  const { found, stats, missing } = nearestExisting(normalize(path));
  if (stats && !stats.isDirectory()) throw new TernlmError(`cannot create folder ${path}: ${found} is a file, not a folder (ENOTDIR)`);
  for (const level of missing.reverse()) {
    try {
      mkdirSync(level);
    } catch (err) {
      // Another process may have made it in the meantime; that is fine if it is a folder.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statIfAny(level)?.isDirectory()) continue;
      throw new TernlmError(describeFsError(err) ?? `cannot create folder ${level}: ${(err as Error).message}`);
    }
  }
}

/**
 * Refuse at once, before any long work, to write a file where that cannot succeed: `path` is a
 * folder, or a part of its folder path is a file. (Other failures are reported when they happen.)
 */
export function checkFileTarget(path: string): void {
  if (statIfAny(path)?.isDirectory()) throw new TernlmError(`cannot write ${path}: it is a folder, not a file (EISDIR)`);
  const { found, stats } = nearestExisting(dirname(normalize(path)));
  if (stats && !stats.isDirectory()) throw new TernlmError(`cannot write ${path}: ${found} is a file, not a folder (ENOTDIR)`);
}
