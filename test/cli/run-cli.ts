// Running the real CLI from tests, and the contract every refusal keeps: exit code 1 and one
// line on stderr that names the problem (no stack trace).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

export interface CliRun { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Run `ternlm <args>`; `onStderr` sees stderr as it grows and may interrupt (SIGINT) the child. */
export function ternlm(args: string[], opts: { onStderr?: (all: string, interrupt: () => void) => void; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
    let stdout = '', stderr = '';
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : null;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      opts.onStderr?.(stderr, () => child.kill('SIGINT'));
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolveRun({ code, signal, stdout, stderr });
    });
  });
}

/** A refusal: exit code 1, exactly one line on stderr starting `Error:`, matching `pattern`, no stack trace. */
export function assertRefused(r: CliRun, pattern: RegExp): void {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(r.code, 1, `expected exit code 1, got ${r.code}; stderr:\n${r.stderr}`);
  assert.equal(lines.length, 1, `expected one line on stderr, got ${lines.length}:\n${r.stderr}`);
  assert.match(lines[0], /^Error: /, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `stack trace on stderr:\n${r.stderr}`);
  assert.match(lines[0], pattern);
}

/** Path -> sha256 of every file below `dir` (to assert that a refused command changed nothing). */
export function snapshotTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(p, createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}
