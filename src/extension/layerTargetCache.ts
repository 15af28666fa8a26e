/**
 * The layer entries of open model.json documents, found once per document version: hovering again,
 * or elsewhere in the same unchanged text, costs a lookup, not a parse. Free of `vscode` so it is
 * unit-tested directly; documents are named by their URI.
 */
import { ModelJsonParser } from './modelJsonParser';
import { LayerTarget } from './modelText';

/** Documents remembered at most (the least recently hovered goes first). */
const CAPACITY = 8;

export class LayerTargetCache {
  private readonly entries = new Map<string, { version: number; targets: Promise<LayerTarget[]> }>();
  /** How many times a text was parsed (the tests check it). */
  parses = 0;

  constructor(private readonly parser: ModelJsonParser) {}

  /** The document's layer entries at `version`; `text` is read only when this version is new. */
  targetsFor(uri: string, version: number, text: () => string): Promise<LayerTarget[]> {
    const cached = this.entries.get(uri);
    this.entries.delete(uri);
    if (cached?.version === version) {
      this.entries.set(uri, cached);
      return cached.targets;
    }
    this.parses++;
    let targets: Promise<LayerTarget[]>;
    try {
      targets = this.parser.layerTargets(text());
    } catch (e) {
      targets = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    const entry = { version, targets };
    this.entries.set(uri, entry);
    // A failed parse is not remembered: the next hover tries again.
    targets.catch(() => {
      if (this.entries.get(uri) === entry) this.entries.delete(uri);
    });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= CAPACITY) break;
      this.entries.delete(oldest);
    }
    return targets;
  }

  /** Drops a closed document (its version numbers start over when it is opened again). */
  forget(uri: string): void {
    this.entries.delete(uri);
  }

  has(uri: string): boolean {
    return this.entries.has(uri);
  }
}
