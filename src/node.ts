// `ternlm/node`: everything of the package root plus the parts that need Node (the file system,
// worker threads): tokenizer files, data preparation and batches from shard files, training runs
// and their reports (plots), safetensors and llama2.c files, and loading models for inference from a path.
export * from './index.js';
export { loadTokenizer, tokenizerFromJSON } from './data/tokenizer.js';
export { Llama2cTokenizer } from './data/llama2c-tokenizer.js';
export { BatchLoader, type LoaderState } from './data/loader.js';
export { prepare, type PrepareOptions } from './data/prepare.js';
export { prepareChat, type PrepareChatOptions } from './data/prepare-chat.js';
export { readMeta, bitsPerByte, type DatasetMeta } from './data/meta.js';
export { TRAIN_DEFAULTS, loadTrainConfig, withOverrides, type TrainConfig } from './train/config.js';
export { train, type TrainOptions, type TrainResult } from './train/trainer.js';
export { writeReport, renderReport, reportFormat, type ReportFormat, type RenderOptions } from './report/report.js';
export { readRuns, type Run, type TrainPoint, type EvalPoint, type WeightMix } from './report/runs.js';
export { reportSpec } from './report/specs.js';
export { evaluateSplit, type EvalResult } from './train/evaluate.js';
export { openScoringModel, type ScoringModel, type ModelFileKind } from './eval/load.js';
export { BatchedScorer, SteppedScorer, type TokenScorer, type HiddenStateModel } from './eval/scorer.js';
export { scoreSequences, windowsOf, type ScoredSequence, type SequenceScore, type ScoreOptions } from './eval/sequences.js';
export { readTextDocuments, scoreText, type TextDocument, type TextScore } from './eval/text.js';
export { readMinimalPairs, scoreMinimalPairs, type MinimalPair, type MinimalPairsScore } from './eval/minimal-pairs.js';
export { readChoiceItems, scoreMultipleChoice, type ChoiceItem, type MultipleChoiceScore } from './eval/multiple-choice.js';
export { openSafetensors, writeSafetensors } from './io/safetensors.js';
export { readLlama2c, type Llama2cCheckpoint, type Llama2cHeader } from './io/llama2c.js';
export {
  readLlmcGpt2, readLlmcGpt2Shape, writeLlmcGpt2, readLlmcTokenizer, writeLlmcTokenizer, readLlmcTokens, writeLlmcTokens, writeLlmcDataset,
  type LlmcGpt2Shape,
} from './io/llmc.js';
export { gpt2ConfigFromLlmc, loadLlmcAsGpt2, loadLlmcInto, writeModelAsLlmc } from './models/llmc.js';
export { bitnetConfigFromLlama2c, loadLlama2cAsBitNet } from './models/llama2c.js';
export { saveStepZeroCheckpoint, ternarizedConfig, ternarizedModel } from './train/ternarize.js';
export { loadInferenceModel, loadLlama2c, resolveTokenizer } from './infer/load.js';
export { FlashLMInference } from './infer/flashlm.js';
export { GPT2Inference } from './infer/gpt2.js';
export { BitNetInference } from './infer/bitnet.js';
