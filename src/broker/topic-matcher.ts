// Topic-exchange matching as a trie over dot-separated words: `*` matches exactly one word, `#`
// zero or more. An empty routing key has no words (so `#` matches it and `*` does not), as in
// RabbitMQ's topic trie.

interface Node<D> {
  words: Map<string, Node<D>> | null;
  star: Node<D> | null;
  hash: Node<D> | null;
  dests: Set<D> | null;
}

function newNode<D>(): Node<D> {
  return { words: null, star: null, hash: null, dests: null };
}

export function splitTopic(key: string): string[] {
  return key === '' ? [] : key.split('.');
}

export class TopicMatcher<D> {
  private root: Node<D> = newNode<D>();
  private size = 0;

  get bindingCount(): number { return this.size; }

  add(pattern: string, dest: D): boolean {
    let node = this.root;
    for (const w of splitTopic(pattern)) {
      if (w === '*') node = node.star ??= newNode<D>();
      else if (w === '#') node = node.hash ??= newNode<D>();
      else {
        node.words ??= new Map();
        let next = node.words.get(w);
        if (!next) { next = newNode<D>(); node.words.set(w, next); }
        node = next;
      }
    }
    node.dests ??= new Set();
    if (node.dests.has(dest)) return false;
    node.dests.add(dest);
    this.size++;
    return true;
  }

  remove(pattern: string, dest: D): boolean {
    const path: Array<[Node<D>, string]> = [];
    let node: Node<D> = this.root;
    for (const w of splitTopic(pattern)) {
      path.push([node, w]);
      const next: Node<D> | null | undefined = w === '*' ? node.star : w === '#' ? node.hash : node.words?.get(w);
      if (!next) return false;
      node = next;
    }
    if (!node.dests?.delete(dest)) return false;
    this.size--;
    // Prune empty branches so a churn of bindings does not leak trie nodes.
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, w] = path[i];
      const child = (w === '*' ? parent.star : w === '#' ? parent.hash : parent.words!.get(w))!;
      if (!isEmpty(child)) break;
      if (w === '*') parent.star = null;
      else if (w === '#') parent.hash = null;
      else { parent.words!.delete(w); if (parent.words!.size === 0) parent.words = null; }
    }
    return true;
  }

  match(routingKey: string, out: Set<D>): void {
    matchNode(this.root, splitTopic(routingKey), 0, out);
  }
}

function isEmpty<D>(n: Node<D>): boolean {
  return !n.words && !n.star && !n.hash && (!n.dests || n.dests.size === 0);
}

function matchNode<D>(node: Node<D>, words: string[], i: number, out: Set<D>): void {
  if (node.hash) {
    // `#` swallows zero or more words: try every split point.
    for (let j = i; j <= words.length; j++) matchNode(node.hash, words, j, out);
  }
  if (i === words.length) {
    if (node.dests) for (const d of node.dests) out.add(d);
    return;
  }
  const next = node.words?.get(words[i]);
  if (next) matchNode(next, words, i + 1, out);
  if (node.star) matchNode(node.star, words, i + 1, out);
}
