// The kernel module: every export is a kernel the TypeScript side calls by name.
// Parallel kernels take (..., start, end[, tid]) last: the range of their parallel dimension.
export * from './gemm';
export * from './ternary';
export * from './elementwise';
export * from './reduce';
export * from './norm';
export * from './softmax';
export * from './conv';
export * from './embedding';
export * from './optim';
export * from './probe';
export * from './infer';
export * from './heads';
export * from './optim_extra';
export * from './attention';
export * from './cumsum';
export * from './recurrence';
export * from './two_level';
export * from './cumulative_mean';
export * from './linear-attention';
