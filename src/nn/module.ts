// Module: a node of a model that owns parameters and child modules, named by their path.
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';

/** What the optimizer needs to know about a parameter besides its values. */
export interface ParamInfo {
  /** Apply weight decay (true for weight matrices; false for norms, biases, embeddings). */
  decay: boolean;
  /** A 2-D matrix that Muon may orthogonalise. */
  matrix: boolean;
}

export interface NamedParam {
  name: string;
  tensor: Tensor;
  info: ParamInfo;
}

export abstract class Module {
  private readonly params = new Map<string, { tensor: Tensor; info: ParamInfo }>();
  private readonly children = new Map<string, Module>();

  /** Register a trainable parameter of this module. */
  protected param(name: string, t: Tensor, info: Partial<ParamInfo> = {}): Tensor {
    t.requiresGrad = true;
    t.isParam = true;
    t.keep();
    this.params.set(name, { tensor: t, info: { decay: info.decay ?? t.shape.length >= 2, matrix: info.matrix ?? t.shape.length === 2 } });
    return t;
  }

  /** Register a child module (its parameters are named `name.<param>`). */
  protected child<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** Every parameter below this module, depth first, named by path. */
  namedParameters(prefix = ''): NamedParam[] {
    const out: NamedParam[] = [];
    for (const [name, p] of this.params) out.push({ name: prefix + name, tensor: p.tensor, info: p.info });
    for (const [name, c] of this.children) out.push(...c.namedParameters(`${prefix}${name}.`));
    for (const p of out) p.tensor.name = p.name;
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map((p) => p.tensor);
  }

  /** Number of trainable scalars. */
  parameterCount(): number {
    return this.parameters().reduce((s, t) => s + t.size, 0);
  }

  /** Child modules, depth first (for per-layer statistics). */
  modules(prefix = ''): { name: string; module: Module }[] {
    const out: { name: string; module: Module }[] = [];
    for (const [name, c] of this.children) {
      out.push({ name: prefix + name, module: c });
      out.push(...c.modules(`${prefix}${name}.`));
    }
    return out;
  }

  dispose(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.dispose();
    }
  }
}

/** Parameter initialisers (values are written once, on the host, at construction). */
export const init = {
  normal(shape: number[], std: number, rng: Rng): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = rng.normal() * std;
    return Tensor.from(v, shape);
  },
  constant(shape: number[], value: number): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    return Tensor.from(new Float32Array(n).fill(value), shape);
  },
};
