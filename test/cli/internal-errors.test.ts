// Unexpected (internal) errors: one line that says how to get the stack trace, unless --debug
// or TERNLM_DEBUG=1 asks for it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertRefused, ternlm } from './run-cli.js';

const PRELOAD = fileURLToPath(new URL('./internal-error-preload.js', import.meta.url));
const failingEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ ...process.env, TERNLM_DEBUG: undefined, NODE_OPTIONS: `--import=${PRELOAD}`, ...extra });
const ARGS = ['generate', '--model', 'no-such-model.bin', '--threads', '1'];
const STACK = /\n\s+at /;

describe('internal errors', () => {
  it('are one line without a stack trace, pointing to --debug and asking for a report', async () => {
    const r = await ternlm(ARGS, { env: failingEnv() });
    assertRefused(r, /^Error: internal error: simulated internal failure — rerun with --debug \(or TERNLM_DEBUG=1\) for the stack trace, and please report it$/);
  });

  it('show the stack trace with --debug, before or after the command', async () => {
    for (const args of [['--debug', ...ARGS], [...ARGS, '--debug']]) {
      const r = await ternlm(args, { env: failingEnv() });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^Error: internal error: simulated internal failure\n/);
      assert.match(r.stderr, STACK, r.stderr);
    }
  });

  it('show the stack trace with TERNLM_DEBUG=1', async () => {
    const r = await ternlm(ARGS, { env: failingEnv({ TERNLM_DEBUG: '1' }) });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, STACK, r.stderr);
  });

  it('--debug is not an option of the command: a refusal stays one line', async () => {
    const r = await ternlm(['train', '--debug', '--steps', '-5']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^Error: --steps must be an integer of at least 1, got '-5'\n/);
    assert.doesNotMatch(r.stderr, /unknown option/);
  });
});
