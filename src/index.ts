// ternlm as a library, for Node and browsers: the compute runtime, tensors, ops, modules, heads,
// models, optimizers, the tokenizers that need no files, and the inference engines that work on
// weights already in memory. Nothing reachable from here imports a Node module (the core asks
// its host through core/platform.ts; test/core/browser-safe.test.ts checks the import graph).
// File formats, data preparation, training runs and loading from paths are in `ternlm/node`.
export { initRuntime, rt, shutdownRuntime, type Runtime, type RuntimeOptions } from './core/runtime.js';
export { Tensor, scope, type DType } from './core/tensor.js';
export { backward, noGrad, zeroGrad, section } from './core/autograd.js';
export { TernlmError } from './core/errors.js';
export { Rng } from './core/rng.js';
export * as kernels from './core/kernels.js';
export * as ops from './ops/index.js';
export { Module, init, type NamedParam, type ParamInfo } from './nn/module.js';
export * from './nn/layers.js';
export * from './heads/index.js';
export { Sampler, type SamplingOptions } from './heads/sampling.js';
export { FlashLM, FLASHLM_DEFAULTS, type FlashLMConfig } from './models/flashlm.js';
export { GPT2, GPT2_DEFAULTS, type GPT2Config } from './models/gpt2.js';
export { BitNet, BITNET_DEFAULTS, type BitNetConfig } from './models/bitnet.js';
export { Mmfree, MMFREE_DEFAULTS, type MmfreeConfig } from './models/mmfree.js';
export { FlashLMMlp, FLASHLM_MLP_DEFAULTS, type FlashLMMlpConfig } from './models/flashlm-mlp.js';
export { LanguageModel, createModel, MODEL_DEFAULTS, MODEL_FAMILIES, type ModelConfig, type ModelFamily } from './models/index.js';
export { applyPrecisionOverrides, matchingProjections, type PrecisionOverrides } from './models/precision.js';
export { AdamW, Muon, MuonWithAdamW, SGD, clipGradNorm, type Optimizer } from './train/optim.js';
export type { Tokenizer } from './data/tokenizer.js';
export { Gpt2Tokenizer } from './data/gpt2-tokenizer.js';
export { BpeTokenizer } from './data/bpe-tokenizer.js';
export { CHAT_TEMPLATE, renderConversation, withChatTokens, type ChatMessage, type ChatTemplate } from './data/chat.js';
export type { InferenceModel, InferenceState } from './infer/model.js';
export { LlamaModel, LlamaState, type LlamaConfig, type LlamaWeights } from './infer/llama.js';
export { generate, type GenerateOptions, type GenerateResult } from './infer/generate.js';
export { BatchDecoder, QueueFullError, type BatchOptions, type BatchReplyOptions } from './infer/batch.js';
export { Conversation, type ConversationOptions } from './infer/conversation.js';
export { TokenTextStream } from './infer/text-stream.js';
