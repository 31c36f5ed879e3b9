import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TernlmError } from '../core/errors.js';
import { ensureDir } from '../io/fs.js';
import { globToRegExp } from './glob.js';

/**
 * Hugging Face hub datasets: list a repository's files, download them with resume (HTTP
 * Range into `<file>.part`), verify the checksum the listing gives (sha256 of LFS files,
 * git blob sha1 of the others), and rename into place only when it matches.
 */

export interface HubFile {
  /** Path inside the repository, '/'-separated. */
  path: string;
  size: number;
  /** sha256 hex of the content (LFS files). */
  sha256?: string;
  /** git blob sha1 hex (files stored in git itself). */
  gitOid?: string;
}

export interface HubOptions {
  /** Default: env HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Bearer token. Default: env HF_TOKEN. */
  token?: string;
  revision?: string;
  /** Attempts per file when the connection fails (each resumes where the last stopped). Default 3. */
  attempts?: number;
}

interface TreeEntry {
  type: string;
  path: string;
  size?: number;
  oid?: string;
  lfs?: { oid?: string; size?: number };
}

function endpointOf(opts: HubOptions): string {
  return (opts.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
}

function headersOf(opts: HubOptions): Record<string, string> {
  const token = opts.token ?? process.env.HF_TOKEN;
  return token ? { authorization: `Bearer ${token}` } : {};
}

const encodePath = (p: string): string => p.split('/').map(encodeURIComponent).join('/');

function httpError(status: number, what: string, repo: string): TernlmError {
  if (status === 401 || status === 403) return new TernlmError(`${what}: HTTP ${status} — dataset ${repo} is private or gated; accept its terms on the hub and set HF_TOKEN`);
  if (status === 404) return new TernlmError(`${what}: HTTP 404 — check the dataset name (${repo}), --revision and the file path`);
  return new TernlmError(`${what}: HTTP ${status}`);
}

/** Every file of a dataset repository at a revision (follows the listing's pagination). */
export async function listDatasetFiles(repo: string, opts: HubOptions = {}): Promise<HubFile[]> {
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(repo)) throw new TernlmError(`'${repo}' is not a dataset name — expected owner/name, e.g. roneneldan/TinyStories`);
  const revision = opts.revision ?? 'main';
  let url: string | undefined = `${endpointOf(opts)}/api/datasets/${repo}/tree/${encodeURIComponent(revision)}?recursive=true`;
  const files: HubFile[] = [];
  while (url) {
    let res: Response;
    try {
      res = await fetch(url, { headers: headersOf(opts) });
    } catch (err) {
      throw new TernlmError(`cannot reach ${endpointOf(opts)} to list ${repo} (${(err as Error).message}) — check the network or HF_ENDPOINT`);
    }
    if (!res.ok) throw httpError(res.status, `listing ${repo}@${revision}`, repo);
    const entries = (await res.json()) as TreeEntry[];
    if (!Array.isArray(entries)) throw new TernlmError(`listing ${repo}@${revision}: the hub answered with something that is not a file list`);
    for (const e of entries) {
      if (e.type !== 'file') continue;
      if (e.path.startsWith('/') || e.path.split('/').some((s) => s === '..' || s === '')) throw new TernlmError(`listing ${repo}: unsafe file path ${JSON.stringify(e.path)}`);
      const lfs = e.lfs?.oid !== undefined;
      files.push({ path: e.path, size: e.lfs?.size ?? e.size ?? -1, sha256: lfs ? e.lfs!.oid : undefined, gitOid: lfs ? undefined : e.oid });
    }
    url = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
  }
  return files;
}

/**
 * Files for a split and/or glob: `split` keeps paths with a segment named after it or
 * starting with it and then '-', '_' or '.' (data/train-00000-of-00004.parquet, train/x.jsonl).
 */
export function selectFiles(files: HubFile[], filter: { split?: string; glob?: string }): HubFile[] {
  const re = filter.glob ? globToRegExp(filter.glob) : undefined;
  const split = filter.split;
  return files.filter((f) => {
    if (re && !re.test(f.path)) return false;
    if (split && !f.path.split('/').some((seg) => seg === split || (seg.startsWith(split) && /^[-_.]/.test(seg.slice(split.length))))) return false;
    return true;
  });
}

async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

function newHash(file: HubFile): Hash | undefined {
  if (file.sha256) return createHash('sha256');
  if (file.gitOid && file.size >= 0) return createHash('sha1').update(`blob ${file.size}\0`);
  return undefined;
}

/**
 * Download one file to `dest`, resuming a `dest.part` left by an earlier attempt. Returns
 * false when `dest` already exists with the expected size.
 */
export async function downloadFile(repo: string, file: HubFile, dest: string, opts: HubOptions & { onBytes?: (n: number) => void } = {}): Promise<boolean> {
  try {
    if (statSync(dest).size === file.size) return false;
  } catch {
    // not there yet
  }
  ensureDir(dirname(dest));
  const part = `${dest}.part`;
  const revision = opts.revision ?? 'main';
  const url = `${endpointOf(opts)}/datasets/${repo}/resolve/${encodeURIComponent(revision)}/${encodePath(file.path)}`;
  const attempts = opts.attempts ?? 3;
  let reported = 0;
  const at = (pos: number): void => {
    opts.onBytes?.(pos - reported);
    reported = pos;
  };
  for (let attempt = 1; ; attempt++) {
    try {
      await fetchInto(url, file, part, repo, opts, at);
      break;
    } catch (err) {
      if (err instanceof TernlmError || attempt >= attempts) {
        if (!(err instanceof TernlmError)) throw new TernlmError(`downloading ${file.path} failed after ${attempts} attempts (${(err as Error).message}) — run the command again to resume`);
        throw err;
      }
      await new Promise((r) => setTimeout(r, 250 * attempt));
    }
  }
  await verify(file, part);
  renameSync(part, dest);
  return true;
}

/** Append the rest of the file to `part` (Range from its current size); `at` follows its length. */
async function fetchInto(url: string, file: HubFile, part: string, repo: string, opts: HubOptions, at: (pos: number) => void): Promise<void> {
  let have = 0;
  try {
    have = statSync(part).size;
  } catch {
    // fresh download
  }
  if (file.size >= 0 && have > file.size) {
    rmSync(part);
    have = 0;
  }
  at(have);
  if (file.size >= 0 && have === file.size) return;
  const headers: Record<string, string> = { ...headersOf(opts) };
  if (have > 0) headers.range = `bytes=${have}-`;
  const res = await fetch(url, { headers });
  if (res.status === 200 && have > 0) have = 0; // the server ignored Range: start over
  else if (res.status === 206) {
    const start = Number(/bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1]);
    if (start !== have) throw new TernlmError(`downloading ${file.path}: server resumed at byte ${start}, expected ${have}`);
  } else if (!res.ok) throw httpError(res.status, `downloading ${file.path}`, repo);
  if (!res.body) throw new Error('empty response body');
  at(have);
  const fd = openSync(part, have === 0 ? 'w' : 'r+');
  try {
    let pos = have;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      let off = 0;
      while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off, pos + off);
      pos += chunk.length;
      at(pos);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Check size and checksum of a finished `.part`; a mismatch deletes it. */
async function verify(file: HubFile, part: string): Promise<void> {
  const size = statSync(part).size;
  if (file.size >= 0 && size !== file.size) {
    rmSync(part);
    throw new TernlmError(`downloaded ${file.path} has ${size} bytes, the hub lists ${file.size} — deleted; run the command again`);
  }
  const hash = newHash(file);
  if (!hash) return;
  await hashFile(part, hash);
  const got = hash.digest('hex');
  const want = file.sha256 ?? file.gitOid!;
  if (got !== want) {
    rmSync(part);
    throw new TernlmError(`checksum mismatch for ${file.path}: expected ${file.sha256 ? 'sha256' : 'git sha1'} ${want}, got ${got} — the download was corrupted and has been deleted; run the command again`);
  }
}

export interface DownloadOptions extends HubOptions {
  split?: string;
  glob?: string;
  outDir: string;
  onFile?: (file: HubFile, index: number, count: number) => void;
  onBytes?: (n: number) => void;
}

/** List, select and download a dataset's files into `outDir`, keeping their repository paths. */
export async function downloadDataset(repo: string, opts: DownloadOptions): Promise<{ files: HubFile[]; downloaded: number; skipped: number }> {
  const all = await listDatasetFiles(repo, opts);
  const files = selectFiles(all, { split: opts.split, glob: opts.glob });
  if (files.length === 0) {
    const sample = all.slice(0, 8).map((f) => f.path).join(', ');
    throw new TernlmError(`no files of ${repo} match${opts.split ? ` split '${opts.split}'` : ''}${opts.glob ? ` --files '${opts.glob}'` : ''} (it has ${all.length} files: ${sample}${all.length > 8 ? ', ...' : ''}) — pass --files <glob>`);
  }
  let downloaded = 0;
  let skipped = 0;
  for (let i = 0; i < files.length; i++) {
    opts.onFile?.(files[i], i, files.length);
    if (await downloadFile(repo, files[i], join(opts.outDir, ...files[i].path.split('/')), opts)) downloaded++;
    else {
      skipped++;
      opts.onBytes?.(files[i].size);
    }
  }
  return { files, downloaded, skipped };
}
