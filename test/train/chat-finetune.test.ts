// Chat fine-tuning: the loss sees only the assistant's replies (for every family: the masked loss
// is the mean over scored tokens and a masked token's value moves no gradient); through the real
// CLI a tiny base model is fine-tuned with --init on conversations, its reply loss falls, and
// `ternlm chat` on the export answers in the template and stops at <|end|>; a fine-tuning run
// resumes exactly; bad input is refused in one line with nothing written.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backward, gradOf, noGrad, zeroGrad } from '../../src/core/autograd.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { scope } from '../../src/core/tensor.js';
import { readMeta } from '../../src/data/meta.js';
import { tokenizerFromJSON } from '../../src/data/tokenizer.js';
import { readCheckpointMeta } from '../../src/io/checkpoint.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { createModel, MODEL_FAMILIES, withVocabulary, type LanguageModel, type ModelConfig } from '../../src/models/index.js';
import { TRAIN_DEFAULTS, withOverrides, type TrainConfig } from '../../src/train/config.js';
import { splitBatch } from '../../src/train/batch.js';
import { train } from '../../src/train/trainer.js';
import { assertRefused, CLI, snapshotTree, ternlm } from '../cli/run-cli.js';
import { prepareTinyDataset, TINY_MODEL } from '../cli/tiny-data.js';
import { assertSameTensors } from './same-tensors.js';

/** Gradients of every parameter after backward of the loss of `rows` with mask `scored`. */
function gradients(model: LanguageModel<ModelConfig>, rows: Int32Array, scored: Uint8Array, T: number): { loss: number; grads: Float32Array[] } {
  const params = model.parameters().filter((p) => p.requiresGrad);
  zeroGrad(params);
  const loss = scope(() => {
    const { ids, targets } = splitBatch(rows, 1, T, scored);
    const l = model.loss(ids, targets);
    backward(l);
    return l.item();
  });
  const grads = params.map((p) => Float32Array.from(gradOf(p)?.f32() ?? new Float32Array(p.size)));
  zeroGrad(params);
  return { loss, grads };
}

const maxAbs = (a: Float32Array[]): number => Math.max(...a.map((g) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
const maxDiff = (a: Float32Array[], b: Float32Array[]): number => Math.max(...a.map((g, i) => g.reduce((m, v, j) => Math.max(m, Math.abs(v - b[i][j])), 0)));

describe('assistant-only loss, every family', () => {
  before(() => initRuntime({ threads: 1 }));
  const T = 12, V = 40;
  const rng = new Rng(3);
  const rows = Int32Array.from({ length: T + 1 }, () => rng.int(V));
  // Targets 1..T: a "user" stretch (unscored), a reply (scored), then unscored up to the row's end.
  const scored = Uint8Array.from({ length: T + 1 }, (_, i) => (i >= 5 && i <= 9 ? 1 : 0));

  for (const family of MODEL_FAMILIES) {
    it(`${family}: the loss is the mean over scored tokens, and masked content moves no gradient`, () => {
      const c = withOverrides(TRAIN_DEFAULTS, { seqLen: 16, curriculum: [], model: { family, dim: 32, layers: 2, contextLength: 16 } });
      const model = createModel(withVocabulary(c.model, V), new Rng(1), new Array<number>(V).fill(1)); // counts: a two-level head needs them
      const masked = gradients(model, rows, scored, T);

      // The masked loss equals the mean of the scored tokens' own losses.
      const perToken = noGrad(() => scope(() => {
        const { ids, targets } = splitBatch(rows, 1, T);
        return model.head.tokenLosses(model.hidden(ids), targets);
      }));
      const scoredLosses = Array.from(perToken).filter((_, t) => scored[t + 1] === 1);
      assert.ok(Math.abs(masked.loss - scoredLosses.reduce((a, b) => a + b, 0) / scoredLosses.length) < 1e-4);

      // The last token is a target only: masked, its value changes nothing; scored, it does.
      const changed = Int32Array.from(rows);
      changed[T] = (rows[T] + 7) % V;
      assert.equal(maxDiff(gradients(model, changed, scored, T).grads, masked.grads), 0);
      const scoredLast = Uint8Array.from(scored);
      scoredLast[T] = 1;
      assert.ok(maxDiff(gradients(model, changed, scoredLast, T).grads, gradients(model, rows, scoredLast, T).grads) > 1e-6);

      // Nothing scored: loss 0 and not one non-zero gradient.
      const none = gradients(model, rows, new Uint8Array(T + 1), T);
      assert.equal(none.loss, 0);
      assert.equal(maxAbs(none.grads), 0);
    });
  }
});

/** `ternlm chat` with stdin lines. */
function chatCli(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'chat', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const conversation = (user: string, reply: string): string => JSON.stringify({ messages: [{ role: 'user', content: user }, { role: 'assistant', content: reply }] });

describe('ternlm prepare --chat, train --init, chat', () => {
  const root = mkdtempSync(join(tmpdir(), 'ternlm-chat-ft-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  let tiny: { corpus: string; tokenizer: string; data: string };
  const base = join(root, 'base');
  const baseCkpt = join(base, 'ckpt.safetensors');
  const chatData = join(root, 'chat');
  const chatJsonl = join(root, 'chat.jsonl');

  before(async () => {
    tiny = await prepareTinyDataset(root, 4);
    const r = await ternlm(['train', '--data', tiny.data, '--out', base, '--steps', '20', '--threads', '1', ...TINY_MODEL]);
    assert.equal(r.code, 0, r.stderr);
    // Two exchanges, many times: enough for a tiny model to learn them by heart.
    const lines = Array.from({ length: 40 }, () => [conversation('Hi!', 'Hello there.'), conversation('Bye!', 'See you soon.')]).flat();
    writeFileSync(chatJsonl, lines.join('\n') + '\n');
    const p = await ternlm(['prepare', '--chat', chatJsonl, '--tokenizer', tiny.tokenizer, '--out', chatData]);
    assert.equal(p.code, 0, p.stderr);
  });

  it('fine-tunes the base model on the replies: the loss falls, and chat answers in the template', async () => {
    const meta = readMeta(chatData);
    assert.equal(meta.vocabSize, 304, 'the 300-token base grew by the four chat tokens');
    const out = join(root, 'ft');
    const r = await ternlm(['train', '--init', baseCkpt, '--data', chatData, '--out', out, '--steps', '150', '--threads', '1', '--set', 'lr=0.01', '--set', 'warmupSteps=10']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /weights: .*base model, vocabulary grown by the chat tokens/);
    const train = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss?: number; val_loss?: number })
      .filter((l) => l.type === 'train');
    assert.ok(train[train.length - 1].loss! < 0.2 * train[0].loss!, `reply loss ${train[0].loss} -> ${train[train.length - 1].loss}`);
    // The checkpoint keeps the base's model and the grown tokenizer with its template.
    const ck = readCheckpointMeta(join(out, 'ckpt.safetensors'));
    const baseModel = (readCheckpointMeta(baseCkpt).config as TrainConfig).model;
    assert.deepEqual((ck.config as TrainConfig).model, { ...baseModel, vocabSize: 304 });
    assert.ok(tokenizerFromJSON(ck.tokenizer).chatTemplate);

    const model = join(root, 'ft.tlm.safetensors');
    const e = await ternlm(['export', '--model', join(out, 'ckpt.safetensors'), '--out', model]);
    assert.equal(e.code, 0, e.stderr);
    const chat = await chatCli(['--model', model, '--temperature', '0', '--max-tokens', '40', '--threads', '1'], 'Hi!\nBye!\n/clear\nBye!\n');
    assert.equal(chat.code, 0, chat.stderr);
    assert.match(chat.stderr, /chat template/);
    // Each reply ends at <|end|> (long before 40 tokens) and nothing of the template is printed.
    assert.equal(chat.stdout, 'Hello there.\nSee you soon.\nSee you soon.\n');
    // generate does not stop at <|end|>: the model does write it after the reply.
    const g = await ternlm(['generate', '--model', model, '--prompt', '<|user|>Hi!<|end|><|assistant|>', '--temperature', '0', '--max-tokens', '12', '--threads', '1']);
    assert.equal(g.code, 0, g.stderr);
    assert.ok(g.stdout.startsWith('<|user|>Hi!<|end|><|assistant|>Hello there.<|end|>'), g.stdout);
  });

  it('resumes a fine-tuning run exactly', async () => {
    const meta = readCheckpointMeta(baseCkpt);
    const { vocabSize: _, ...model } = (meta.config as { model: ModelConfig }).model;
    const config = withOverrides({ ...(meta.config as TrainConfig), model }, { lr: 0.005, warmupSteps: 5, report: false, model: { dropout: 0.1 } });
    const tokenizer = tokenizerFromJSON(readMeta(chatData).tokenizer.json);
    const common = { config, dataDir: chatData, tokenizer, initCheckpoint: baseCkpt };
    const straight = await train({ ...common, outDir: join(root, 'straight'), steps: 30 });
    let steps = 0;
    const first = await train({ ...common, outDir: join(root, 'resumed'), steps: 30, shouldStop: () => ++steps >= 13 });
    assert.equal(first.steps, 13);
    const second = await train({ ...common, outDir: join(root, 'resumed'), steps: 30, resume: true });
    assert.equal(second.steps, 30);
    assert.equal(second.finalTrainLoss, straight.finalTrainLoss);
    assert.equal(second.lastEval?.loss, straight.lastEval?.loss);
    assertSameTensors(straight.checkpoint, second.checkpoint);
  });

  it('may freeze what the base trained (a training choice, not a change of shape): frozen rows stay as the base left them', async () => {
    const out = join(root, 'ft-frozen');
    const r = await ternlm(['train', '--init', baseCkpt, '--data', chatData, '--out', out, '--steps', '5', '--threads', '1', '--set', 'model.frozenEmbeddings=true']);
    assert.equal(r.code, 0, r.stderr);
    const a = openSafetensors(baseCkpt), b = openSafetensors(join(out, 'ckpt.safetensors'));
    try {
      const before = a.read('param.embed.weight').data, after = b.read('param.embed.weight').data; // bytes
      // The base's 300 rows are unchanged; the 4 chat rows start at the mean of those.
      assert.deepEqual(after.subarray(0, before.length), before);
      assert.equal(after.length, (before.length / 300) * 304);
    } finally {
      a.close();
      b.close();
    }
    const refused = await ternlm(['train', '--init', baseCkpt, '--data', chatData, '--out', join(root, 'ft-dim'), '--steps', '5', '--set', 'model.dim=64']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /dim is \d+ \(the config says 64\)/);
  });

  it('refuses bad input in one line and writes nothing', async () => {
    const bad = join(root, 'bad.jsonl');
    writeFileSync(bad, `${conversation('a', 'b')}\n{"messages": [{"role": "user", "content": "no reply"}]}\n`);
    const hierarchical = join(root, 'hier');
    const h = await ternlm(['train', '--data', tiny.data, '--out', hierarchical, '--steps', '2', '--threads', '1', ...TINY_MODEL, '--set', 'model.head.type=hierarchical']);
    assert.equal(h.code, 0, h.stderr);
    const out = join(root, 'refused');
    const cases: [string[], RegExp][] = [
      [['prepare', '--chat', bad, '--tokenizer', tiny.tokenizer, '--out', out], /bad\.jsonl:2: the conversation has no assistant message/],
      [['prepare', '--chat', chatJsonl, '--tokenizer', 'gpt2', '--out', out], /a gpt2 tokenizer cannot grow the chat template's special tokens/],
      [['prepare', '--chat', tiny.corpus, '--tokenizer', tiny.tokenizer, '--out', out], /is not a \.jsonl file/],
      [['train', '--init', join(root, 'nope.safetensors'), '--data', chatData, '--out', out, '--steps', '2'], /checkpoint .*nope\.safetensors not found/],
      [['train', '--init', baseCkpt, '--out', out, '--steps', '2'], /--init fine-tunes a base model on prepared data — give --data/],
      [['train', '--init', baseCkpt, '--data', chatData, '--out', out, '--steps', '2', '--set', 'model.dim=32'], /holds a model whose dim is 16 \(the config says 32\)/],
      [['train', '--init', join(hierarchical, 'ckpt.safetensors'), '--data', chatData, '--out', out, '--steps', '2'], /has a hierarchical head, which cannot grow by the chat template's 4 tokens/],
      [['train', '--init', baseCkpt, '--data', join(root, 'other-data'), '--out', out, '--steps', '2'], /was not tokenized with the tokenizer of/],
    ];
    // Data of another tokenizer: the base corpus under a fresh 280-token BPE.
    const otherTok = join(root, 'other-tok.json');
    assert.equal((await ternlm(['tokenizer', 'train', '--input', tiny.corpus, '--vocab', '280', '--out', otherTok])).code, 0);
    assert.equal((await ternlm(['prepare', '--input', tiny.corpus, '--tokenizer', otherTok, '--out', join(root, 'other-data'), '--val-fraction', '0.05'])).code, 0);
    const before = snapshotTree(root);
    for (const [args, pattern] of cases) {
      assertRefused(await ternlm(args), pattern);
      assert.ok(!existsSync(out), `${args.join(' ')} created ${out}`);
      assert.deepEqual(snapshotTree(root), before, `${args.join(' ')} changed files`);
    }
  });
});
