// The Huffman tree of the hierarchical-softmax head: built once from token frequencies, stored
// as two child arrays (all a checkpoint needs), with each token's root-to-leaf path derived.

/** The serialised tree: children of the V-1 inner nodes (see HuffmanTree.left). */
export interface TreeJson {
  left: number[];
  right: number[];
}

export interface HuffmanTree {
  vocabSize: number;
  /**
   * Children of inner node n (V-1 each): c >= 0 is inner node c, c < 0 is the leaf of token
   * -c-1. Root is 0 and every parent has a smaller id than its children (breadth-first order),
   * so one ascending pass visits the tree top-down.
   */
  left: Int32Array;
  right: Int32Array;
  /** Token t's path is pathNode/pathSign[pathStart[t] .. pathStart[t+1]) (V+1 entries). */
  pathStart: Int32Array;
  /** Inner nodes on each path, root first. */
  pathNode: Int32Array;
  /** +1 where the path goes to the right child (p = sigmoid(h.v)), -1 to the left. */
  pathSign: Float32Array;
  maxDepth: number;
}

/**
 * Huffman tree over `counts` (one per token; zero counts count as 1 so every token stays
 * reachable). Ties break towards lower token ids and earlier merges, so equal counts give the
 * same tree on every machine.
 */
export function buildHuffmanTree(counts: ArrayLike<number>): HuffmanTree {
  const V = counts.length;
  if (V < 2) throw new Error(`a hierarchical softmax needs at least 2 tokens, got ${V}`);
  const weight = new Float64Array(2 * V - 1);
  for (let t = 0; t < V; t++) {
    const c = counts[t];
    if (!Number.isFinite(c) || c < 0) throw new Error(`token ${t} has count ${c}; counts must be finite and >= 0`);
    weight[t] = Math.max(1, c);
  }
  // Two-queue Huffman: leaves sorted by weight, merged nodes appended in non-decreasing weight.
  // Ids: leaves 0..V-1, merged nodes V..2V-2 in creation order (the last one is the root).
  const leaves = Array.from({ length: V }, (_, t) => t).sort((a, b) => weight[a] - weight[b] || a - b);
  const kids = new Int32Array(2 * (V - 1));
  let li = 0, mi = V, next = V;
  const pop = (): number => (li < V && (mi >= next || weight[leaves[li]] <= weight[mi]) ? leaves[li++] : mi++);
  while (next < 2 * V - 1) {
    const a = pop(), b = pop();
    weight[next] = weight[a] + weight[b];
    kids[2 * (next - V)] = a;
    kids[2 * (next - V) + 1] = b;
    next++;
  }
  // Renumber inner nodes breadth-first from the root: parents before children.
  const left = new Int32Array(V - 1), right = new Int32Array(V - 1);
  const order = [2 * V - 2];
  const idOf = new Map<number, number>([[2 * V - 2, 0]]);
  const child = (node: number): number => {
    if (node < V) return -node - 1;
    idOf.set(node, order.length);
    order.push(node);
    return idOf.get(node)!;
  };
  for (let i = 0; i < order.length; i++) {
    const k = order[i] - V;
    left[i] = child(kids[2 * k]);
    right[i] = child(kids[2 * k + 1]);
  }
  return treeFromChildren(left, right);
}

/** Rebuild a tree from its children (as saved by treeToJson), checking that it is well formed. */
export function treeFromChildren(leftIn: ArrayLike<number>, rightIn: ArrayLike<number>): HuffmanTree {
  const n = leftIn.length;
  const V = n + 1;
  if (n < 1 || rightIn.length !== n) throw new Error(`a tree needs equal, non-empty child lists (got ${leftIn.length} and ${rightIn.length})`);
  const left = Int32Array.from(leftIn), right = Int32Array.from(rightIn);
  // parent of inner node c / leaf t, and the sign of the edge into it
  const innerParent = new Int32Array(n).fill(-1);
  const leafParent = new Int32Array(V).fill(-1);
  const leafSign = new Float32Array(V);
  const innerSign = new Float32Array(n);
  for (let p = 0; p < n; p++) {
    for (const [c, sign] of [[left[p], -1], [right[p], 1]] as const) {
      if (c >= 0) {
        if (c <= p || c >= n || innerParent[c] !== -1) throw new Error(`tree: inner node ${c} under ${p} breaks the parent-before-child order or has two parents`);
        innerParent[c] = p;
        innerSign[c] = sign;
      } else {
        const t = -c - 1;
        if (t >= V || leafParent[t] !== -1) throw new Error(`tree: leaf of token ${t} is out of range or appears twice`);
        leafParent[t] = p;
        leafSign[t] = sign;
      }
    }
  }
  // Every child slot names a distinct node (checked above), and 2(V-1) slots hold at most V
  // leaves and V-2 non-root inner nodes: so each appears exactly once, and since parents have
  // smaller ids than children, every node's chain of parents ends at the root.
  const depth = new Int32Array(V);
  let maxDepth = 0, total = 0;
  for (let t = 0; t < V; t++) {
    let k = 1;
    for (let p = leafParent[t]; p !== 0; p = innerParent[p]) k++;
    depth[t] = k;
    total += k;
    maxDepth = Math.max(maxDepth, k);
  }
  const pathStart = new Int32Array(V + 1);
  for (let t = 0; t < V; t++) pathStart[t + 1] = pathStart[t] + depth[t];
  const pathNode = new Int32Array(total), pathSign = new Float32Array(total);
  for (let t = 0; t < V; t++) {
    // walk leaf -> root, writing the path from its end
    let j = pathStart[t + 1] - 1;
    pathNode[j] = leafParent[t];
    pathSign[j] = leafSign[t];
    for (let c = leafParent[t]; c !== 0; c = innerParent[c]) {
      j--;
      pathNode[j] = innerParent[c];
      pathSign[j] = innerSign[c];
    }
  }
  return { vocabSize: V, left, right, pathStart, pathNode, pathSign, maxDepth };
}

export function treeToJson(tree: HuffmanTree): TreeJson {
  return { left: Array.from(tree.left), right: Array.from(tree.right) };
}

/** A token's code: the turns from the root (0 left, 1 right). */
export function codeOf(tree: HuffmanTree, token: number): number[] {
  const out: number[] = [];
  for (let j = tree.pathStart[token]; j < tree.pathStart[token + 1]; j++) out.push(tree.pathSign[j] > 0 ? 1 : 0);
  return out;
}
