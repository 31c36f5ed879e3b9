// Opening any model file ternlm reads as a TokenScorer with its tokenizer: a training
// checkpoint and an exported model become the batched training model class (an export through
// modelFromPacked, so both go through the same forward pass); a llama2.c checkpoint is stepped
// through its inference engine.
import { TernlmError } from '../core/errors.js';
import { tokenizerFingerprint } from '../data/meta.js';
import { loadTokenizer, tokenizerFromJSON, type Tokenizer } from '../data/tokenizer.js';
import { startTokenOf } from '../infer/generate.js';
import { loadLlama2c, readModelHead, resolveTokenizer, sniffModelFormat } from '../infer/load.js';
import { modelFromPacked, loadTrainedModel } from '../infer/packed.js';
import { openSafetensors } from '../io/safetensors.js';
import { BatchedScorer, SteppedScorer, type TokenScorer } from './scorer.js';

export type ModelFileKind = 'checkpoint' | 'export' | 'llama2c';

export interface ScoringModel {
  scorer: TokenScorer;
  tokenizer: Tokenizer;
  kind: ModelFileKind;
  /** The token that starts (and, for scores that count it, ends) every scored document. */
  startToken: number;
}

/**
 * Open `path` for scoring. `tokenizerSpec` (a tokenizer file or `gpt2`) is needed only for a
 * llama2.c checkpoint with no tokenizer beside it; for our own files, which carry theirs, it
 * must be that same tokenizer.
 */
export function openScoringModel(path: string, tokenizerSpec?: string): ScoringModel {
  const format = sniffModelFormat(readModelHead(path));
  if (format === 'llama2c') {
    const model = loadLlama2c(path);
    try {
      const tokenizer = resolveTokenizer(path, model, tokenizerSpec);
      return { scorer: new SteppedScorer(model, 'llama (llama2.c checkpoint)'), tokenizer, kind: 'llama2c', startToken: startTokenOf(model, tokenizer) };
    } catch (err) {
      model.dispose();
      throw err;
    }
  }
  if (format !== 'safetensors') {
    throw new TernlmError(`${path} is not a model file ternlm can score (expected a training checkpoint, a file from \`ternlm export\` or a llama2.c .bin checkpoint)`);
  }
  const kind = safetensorsKind(path);
  const { model, meta } = kind === 'checkpoint' ? loadTrainedModel(path) : modelFromPacked(path);
  const tokenizerJSON = meta.tokenizer;
  try {
    const tokenizer = tokenizerFromJSON(tokenizerJSON, path);
    if (tokenizerSpec !== undefined) {
      const given = loadTokenizer(tokenizerSpec);
      if (tokenizerFingerprint(given.toJSON()) !== tokenizerFingerprint(tokenizerJSON, path)) {
        throw new TernlmError(`--tokenizer ${tokenizerSpec} is not the tokenizer ${path} was trained with — leave --tokenizer out: the model file carries its own`);
      }
    }
    return { scorer: new BatchedScorer(model, `${model.config.family} (${kind === 'checkpoint' ? 'training checkpoint' : 'exported model'})`), tokenizer, kind, startToken: tokenizer.eotId };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** Whether a safetensors file is a training checkpoint or an exported model, from its metadata. */
function safetensorsKind(path: string): 'checkpoint' | 'export' {
  const file = openSafetensors(path);
  try {
    const raw = file.metadata.format;
    const format = raw === undefined ? undefined : String(JSON.parse(raw));
    if (format?.startsWith('ternlm-checkpoint-')) return 'checkpoint';
    if (format?.startsWith('ternlm-packed-')) return 'export';
    throw new TernlmError(`${path} is a safetensors file but neither a ternlm checkpoint nor an export (format ${JSON.stringify(format ?? 'missing')})`);
  } catch (err) {
    if (err instanceof SyntaxError) throw new TernlmError(`${path} has an unreadable format entry in its metadata — it is not a ternlm file`);
    throw err;
  } finally {
    file.close();
  }
}
