// `ternlm bench serve`: it starts the server, every streaming client gets all its tokens, and it
// reports a round's throughput and time to first token.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ternlm } from '../cli/run-cli.js';
import { needsStories, STORIES260K } from '../infer/fixtures.js';

describe('ternlm bench serve', { skip: needsStories }, () => {
  it('runs concurrent streaming clients to the end and reports their figures', async () => {
    const r = await ternlm(['bench', 'serve', '--model', STORIES260K, '--clients', '1,3', '--max-tokens', '5', '--rounds', '1', '--threads', '1', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { batch: number; rounds: { clients: number; tokens: number; tokensPerS: number; ttftP50Ms: number; ttftP99Ms: number }[] };
    assert.equal(report.batch, 3);
    assert.deepEqual(report.rounds.map((r) => [r.clients, r.tokens]), [[1, 5], [3, 3 * 5]], 'every client got all its tokens');
    for (const round of report.rounds) assert.ok(round.tokensPerS > 0 && round.ttftP50Ms > 0 && round.ttftP99Ms >= round.ttftP50Ms);
  });

  it('refuses a bad count in one line', async () => {
    const r = await ternlm(['bench', 'serve', '--model', STORIES260K, '--clients', '0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: --clients takes counts of at least 1 separated by commas, e.g. 1,8,32; got '0'\n$/);
  });
});
