import type { AttributeReader, AttributeValue, ReferencedAttribute } from './types';

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
    return Object.prototype.hasOwnProperty.call(this.values, name) ? this.values[name] : undefined;
  }

  getKey(name: string, key: string): string | undefined {
    const map = this.get(name);
    if (map === undefined || typeof map !== 'object') return undefined;
    return Object.prototype.hasOwnProperty.call(map, key) ? map[key] : undefined;
  }

  /** Names of the attributes present. */
  names(): string[] {
    return Object.keys(this.values);
  }

  toJSON(): BagValues {
    return this.values;
  }
}

/**
 * A reader that records every attribute (and map key) read through it, with whether it was
 * present, so a check answer can list `referencedAttributes` exactly.
 */
export class TrackingReader implements AttributeReader {
  private readonly seen = new Map<string, ReferencedAttribute>();

  constructor(private readonly inner: AttributeReader) {}

  get(name: string): AttributeValue | undefined {
    const v = this.inner.get(name);
    if (!this.seen.has(name)) this.seen.set(name, { name, condition: v === undefined ? 'ABSENCE' : 'EXACT' });
    return v;
  }

  getKey(name: string, key: string): string | undefined {
    const v = this.inner.getKey(name, key);
    const id = `${name}\u0000${key}`;
    if (!this.seen.has(id)) this.seen.set(id, { name, key, condition: v === undefined ? 'ABSENCE' : 'EXACT' });
    return v;
  }

  /** What was read, in first-read order. */
  referenced(): ReferencedAttribute[] {
    return [...this.seen.values()];
  }
}
