// `ternlm bench serve`: it starts the server, every streaming client gets all its tokens, and it
// reports a round's throughput and time to first token.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ternlm } from '../cli/run-cli.js';
import { needsStories, STORIES260K } from '../infer/fixtures.js';

describe('ternlm bench serve', { skip: needsStories }, () => {
  it('runs concurrent streaming clients to the end and reports their figures', async () => {
    const r = await ternlm(['bench', 'serve', '--model', STORIES260K, '--clients', '3', '--max-tokens', '5', '--rounds', '1', '--threads', '1', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { rounds: { clients: number; tokens: number; tokensPerS: number; ttftP50Ms: number; ttftP99Ms: number }[] };
    assert.equal(report.rounds.length, 1);
    const [round] = report.rounds;
    assert.equal(round.tokens, 3 * 5, 'every client got all its tokens');
    assert.ok(round.tokensPerS > 0 && round.ttftP50Ms > 0 && round.ttftP99Ms >= round.ttftP50Ms);
  });

  it('refuses a bad count in one line', async () => {
    const r = await ternlm(['bench', 'serve', '--model', STORIES260K, '--clients', '0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: --clients must be an integer of at least 1, got '0'\n$/);
  });
});
