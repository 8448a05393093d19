import type { AttributeReader, AttributeValue, ReferencedAttribute } from './types';

const hasOwn = Object.prototype.hasOwnProperty;

/** Plain decoded attributes, as carried in a report job. */
export type BagValues = Readonly<Record<string, AttributeValue>>;

/**
 * An immutable, validated attribute bag. Build one with `decodeBag` (untrusted JSON) or
 * {@link Bag.trusted} (values already decoded by Mixer, e.g. read back from the queue).
 */
export class Bag implements AttributeReader {
  private constructor(readonly values: BagValues) {}

  /** Wraps values that Mixer itself decoded earlier; no validation. */
  static trusted(values: BagValues): Bag {
    return new Bag(values);
  }

  get(name: string): AttributeValue | undefined {
    // One lookup for an absent name (the common miss); an own-property check only for a hit.
    const v = this.values[name];
    return v !== undefined && hasOwn.call(this.values, name) ? v : undefined;
  }

  getKey(name: string, key: string): string | undefined {
    const map = this.get(name);
    if (map === undefined || typeof map !== 'object') return undefined;
    const v = map[key];
    return v !== undefined && hasOwn.call(map, key) ? v : undefined;
  }

  /** Names of the attributes present. */
  names(): string[] {
    return Object.keys(this.values);
  }

  toJSON(): BagValues {
    return this.values;
  }
}

/** What a {@link TrackingReader} recorded for one attribute name. */
interface Seen {
  /** The read of the whole attribute, once it happened. */
  whole: ReferencedAttribute | undefined;
  /** Reads of single keys of it, in first-read order (few per name, so a list beats a map). */
  keys: ReferencedAttribute[] | undefined;
}

/**
 * A reader that records every attribute (and map key) read through it, with whether it was
 * present, so a check answer can list `referencedAttributes` exactly.
 */
export class TrackingReader implements AttributeReader {
  /** Names are config strings, read again and again: one map lookup, no key building per read. */
  private readonly seen = new Map<string, Seen>();
  private readonly order: ReferencedAttribute[] = [];

  constructor(private readonly inner: AttributeReader) {}

  get(name: string): AttributeValue | undefined {
    const v = this.inner.get(name);
    let s = this.seen.get(name);
    if (s === undefined) {
      s = { whole: undefined, keys: undefined };
      this.seen.set(name, s);
    }
    if (s.whole === undefined) {
      s.whole = { name, condition: v === undefined ? 'ABSENCE' : 'EXACT' };
      this.order.push(s.whole);
    }
    return v;
  }

  getKey(name: string, key: string): string | undefined {
    const v = this.inner.getKey(name, key);
    let s = this.seen.get(name);
    if (s === undefined) {
      s = { whole: undefined, keys: undefined };
      this.seen.set(name, s);
    }
    const keys = (s.keys ??= []);
    for (let i = 0; i < keys.length; i++) if (keys[i].key === key) return v;
    const ref: ReferencedAttribute = { name, key, condition: v === undefined ? 'ABSENCE' : 'EXACT' };
    keys.push(ref);
    this.order.push(ref);
    return v;
  }

  /** What was read, in first-read order. */
  referenced(): ReferencedAttribute[] {
    return this.order.slice();
  }
}
