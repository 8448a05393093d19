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
    // One lookup for an absent name (the common miss); an own-property check only for a hit.
    const v = this.values[name];
    return v !== undefined && Object.hasOwn(this.values, name) ? v : undefined;
  }

  getKey(name: string, key: string): string | undefined {
    const map = this.get(name);
    if (map === undefined || typeof map !== 'object') return undefined;
    const v = map[key];
    return v !== undefined && Object.hasOwn(map, key) ? v : undefined;
  }

  /** Names of the attributes present. */
  names(): string[] {
    return Object.keys(this.values);
  }

  toJSON(): BagValues {
    return this.values;
  }
}

/** The shared records of one attribute name: reading it whole, or one key, present or absent. */
interface Interned {
  readonly exact: ReferencedAttribute;
  readonly absence: ReferencedAttribute;
  keys: Record<string, { exact: ReferencedAttribute; absence: ReferencedAttribute } | undefined> | undefined;
}

/** Most interned records kept; past it records are made per read (the config bounds names and keys). */
const MAX_INTERNED = 10_000;
/**
 * Name → records. A null-prototype object rather than a Map on purpose: config strings are often
 * slices of the YAML text, and a property lookup turns such a string into an internalized one for
 * good (later lookups compare pointers), where a Map would compare its characters on every read.
 */
const interned = Object.create(null) as Record<string, Interned | undefined>;
let internedCount = 0;

function record(name: string, key: string | undefined, present: boolean): ReferencedAttribute {
  const condition = present ? 'EXACT' : 'ABSENCE';
  return Object.freeze(key === undefined ? { name, condition } : { name, key, condition });
}

/** The interned entry of `name`, or undefined once the table is full. */
function internedOf(name: string): Interned | undefined {
  let e = interned[name];
  if (e === undefined && internedCount < MAX_INTERNED) {
    e = { exact: record(name, undefined, true), absence: record(name, undefined, false), keys: undefined };
    interned[name] = e;
    internedCount += 2;
  }
  return e;
}

/**
 * The frozen record of a read of one key of `e`'s attribute, shared by every check: names and keys
 * come from the config, so the same few records serve every request and an encoder can cache each
 * one's JSON by identity.
 */
function keyReference(e: Interned, name: string, key: string, present: boolean): ReferencedAttribute {
  let k = e.keys?.[key];
  if (k === undefined) {
    if (internedCount >= MAX_INTERNED) return record(name, key, present);
    k = { exact: record(name, key, true), absence: record(name, key, false) };
    (e.keys ??= Object.create(null) as Record<string, { exact: ReferencedAttribute; absence: ReferencedAttribute } | undefined>)[key] = k;
    internedCount += 2;
  }
  return present ? k.exact : k.absence;
}

/** Distinct names a {@link TrackingReader} looks up in a list; more go into a map. */
const LIST_MAX = 16;

/** What a {@link TrackingReader} recorded for one attribute name. */
interface Seen {
  readonly name: string;
  readonly interned: Interned | undefined;
  /** The read of the whole attribute, once it happened, and the value it gave. */
  whole: ReferencedAttribute | undefined;
  value: AttributeValue | undefined;
  /** Reads of single keys of it, in first-read order, with their values (few per name: a list beats a map). */
  keys: ReferencedAttribute[] | undefined;
  keyValues: Array<string | undefined> | undefined;
}

/**
 * A reader that records every attribute (and map key) read through it, with whether it was
 * present, so a check answer can list `referencedAttributes` exactly. The records are frozen and
 * shared between readers. The bag is immutable, so a value read once is remembered: rules read the
 * same few attributes many times.
 */
export class TrackingReader implements AttributeReader {
  /**
   * The names read so far. A check reads a handful of distinct names, many times each: a short list
   * compared with `===` (the same config strings come back, so mostly a pointer compare) beats any
   * hashed lookup.
   */
  private readonly seen: Seen[] = [];
  /** Past {@link LIST_MAX} names, a map takes over from the list. */
  private index: Map<string, Seen> | undefined;
  private readonly order: ReferencedAttribute[] = [];

  constructor(private readonly inner: AttributeReader) {}

  private entry(name: string): Seen {
    const seen = this.seen;
    if (this.index === undefined) {
      for (let i = 0; i < seen.length; i++) if (seen[i].name === name) return seen[i];
    } else {
      const found = this.index.get(name);
      if (found !== undefined) return found;
    }
    const s: Seen = { name, interned: internedOf(name), whole: undefined, value: undefined, keys: undefined, keyValues: undefined };
    seen.push(s);
    if (this.index !== undefined) this.index.set(name, s);
    else if (seen.length > LIST_MAX) this.index = new Map(seen.map((x) => [x.name, x]));
    return s;
  }

  get(name: string): AttributeValue | undefined {
    const s = this.entry(name);
    if (s.whole !== undefined) return s.value;
    const v = this.inner.get(name);
    const e = s.interned;
    s.value = v;
    s.whole = e === undefined ? record(name, undefined, v !== undefined) : v !== undefined ? e.exact : e.absence;
    this.order.push(s.whole);
    return v;
  }

  getKey(name: string, key: string): string | undefined {
    const s = this.entry(name);
    const keys = s.keys;
    if (keys !== undefined) {
      for (let i = 0; i < keys.length; i++) if (keys[i].key === key) return s.keyValues![i];
    }
    const v = this.inner.getKey(name, key);
    const e = s.interned;
    const ref = e === undefined ? record(name, key, v !== undefined) : keyReference(e, name, key, v !== undefined);
    (s.keys ??= []).push(ref);
    (s.keyValues ??= []).push(v);
    this.order.push(ref);
    return v;
  }

  /** What was read, in first-read order. */
  referenced(): ReferencedAttribute[] {
    return this.order.slice();
  }
}
