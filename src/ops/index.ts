export * from './elementwise.js';
export * from './matmul.js';
export * from './norm.js';
export * from './softmax.js';
export * from './embedding.js';
export * from './conv.js';
export * from './ternary.js';
export * from './loss.js';
