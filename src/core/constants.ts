// Constant tensors that ops rebuild from their shape alone (position tables, per-row scales): built
// once per runtime and key, kept out of every scope, and shared by every step that asks again.
import { rt } from './runtime.js';
import type { Tensor } from './tensor.js';

const constants = new WeakMap<object, Map<string, Tensor>>();

/** The tensor `build` makes for `key`, built on the first call in this runtime (a view into its memory). */
export function cachedConstant(key: string, build: () => Tensor): Tensor {
  const r = rt();
  let byKey = constants.get(r);
  if (!byKey) constants.set(r, (byKey = new Map()));
  let t = byKey.get(key);
  if (!t) byKey.set(key, (t = build().keep()));
  return t;
}
