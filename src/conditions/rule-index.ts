/**
 * Selects the rules whose condition holds for a bag without evaluating every rule: rules are
 * bucketed by the equalities they require (two at once where a rule has two on different
 * attributes, e.g. source app and destination service), so only the rules whose bucket the bag's
 * values hit (plus the rules that have no such equality) are evaluated.
 */
import type { AttributeReader, Vocabulary } from '../attributes/types';
import type { Predicate } from './condition';
import { booleanOperatorOf, pathKey } from './condition';

/** One rule to index. */
export interface IndexedRule<T> {
  /** The rule's condition as configured (validated); absent or null means "always". */
  readonly match?: unknown;
  /** `match` compiled (or `alwaysTrue`): it must give exactly the results `match` gives. */
  readonly predicate: Predicate;
  readonly payload: T;
}

/** An attribute (or one key of a STRING_MAP attribute) that rules are bucketed by. */
export interface IndexKey {
  readonly fact: string;
  readonly key?: string;
}

/** How a {@link RuleIndex} arranged its rules (for logs, benchmarks and tests). */
export interface RuleIndexStats {
  readonly rules: number;
  /** Rules found through a bucket. */
  readonly indexed: number;
  /** Rules evaluated on every select (no usable equality). */
  readonly scanned: number;
  /** The keys read (once each) by every select, in reading order. */
  readonly keys: readonly IndexKey[];
}

type Scalar = string | number | boolean;

interface Conjunct {
  readonly id: string;
  readonly fact: string;
  readonly key: string | undefined;
  readonly value: Scalar;
}

interface Slot {
  /** Positions in `RuleIndex.keys` of the one or two attributes this slot is keyed by. */
  readonly parts: readonly number[];
  /**
   * Bucket key → ordinals of the rules bucketed on it, ascending. One part: the actual value
   * (1 ≠ "1"). Two parts: both values, each tagged with its type, joined.
   */
  readonly buckets: Map<Scalar, number[]>;
}

/** Marks an index key not read yet in this select. */
const UNREAD: unique symbol = Symbol('unread');

/** A type-exact text form of a value, for two-part bucket keys. */
function tag(v: Scalar): string {
  return `${typeof v === 'string' ? 's' : typeof v === 'number' ? 'n' : 'b'}${String(v)}`;
}

function bucketKey(values: readonly Scalar[]): Scalar {
  return values.length === 1 ? values[0] : `${tag(values[0])}\u0001${tag(values[1])}`;
}

const hasOwn = (o: object, k: string): boolean => Object.hasOwn(o, k);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function isIndexable(v: unknown): v is Scalar {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && !Number.isNaN(v));
}

/**
 * The equalities `match` cannot hold without: `{fact, [path], operator: equal, value: scalar}` as
 * the root, or as a member of the root `all` (recursively through nested `all`). `any`, `not` and
 * fact-to-fact comparisons contribute none.
 */
function requiredEqualities(c: unknown, vocab: Vocabulary | undefined, out: Conjunct[]): Conjunct[] {
  if (!isObject(c) || hasOwn(c, 'condition')) return out;
  const bool = booleanOperatorOf(c);
  if (bool === 'all' && Array.isArray(c.all)) for (const sub of c.all) requiredEqualities(sub, vocab, out);
  if (bool !== undefined || c.operator !== 'equal' || typeof c.fact !== 'string' || !isIndexable(c.value)) return out;
  let key: string | undefined;
  if (c.path !== undefined && c.path !== '') {
    key = typeof c.path === 'string' ? pathKey(c.path) : undefined;
    const type = vocab?.get(c.fact);
    if (key === undefined || (type !== undefined && type !== 'STRING_MAP')) return out;
  }
  out.push({ id: key === undefined ? c.fact : `${c.fact}\u0000${key}`, fact: c.fact, key, value: c.value });
  return out;
}

/**
 * Rules in their configured order, indexed for {@link RuleIndex.select}.
 *
 * Choice of bucket: for each rule, its required equalities are ranked by how few rules require the
 * same (key, value) (on a tie, the key used by the most rules, then the first written). A rule with
 * required equalities on two different keys is bucketed by the best two together, so a thousand
 * rules each keyed on a service pair cost one small bucket per select; a rule with one is bucketed by
 * it alone. Rules without a required equality are scanned. Immutable after construction; `select`
 * is synchronous and not re-entrant.
 */
export class RuleIndex<T> {
  private readonly predicates: Predicate[];
  private readonly payloads: T[];
  private readonly keys: IndexKey[] = [];
  private readonly slots: Slot[] = [];
  private readonly scan: number[] = [];
  private readonly lists: (readonly number[])[];
  private readonly heads: number[];
  private readonly values: Array<Scalar | undefined | typeof UNREAD>;

  /** `vocab`, when given, keeps `path` equalities on non-STRING_MAP attributes out of the index. */
  constructor(rules: readonly IndexedRule<T>[], vocab?: Vocabulary) {
    this.predicates = rules.map((r) => r.predicate);
    this.payloads = rules.map((r) => r.payload);
    const found = rules.map((r) => requiredEqualities(r.match, vocab, []));
    const keyUse = new Map<string, number>();
    const pairUse = new Map<string, Map<Scalar, number>>();
    for (const conj of found) {
      const seenKeys = new Set<string>();
      const seenPairs = new Map<string, Set<Scalar>>();
      for (const c of conj) {
        if (!seenKeys.has(c.id)) keyUse.set(c.id, (keyUse.get(c.id) ?? 0) + 1);
        seenKeys.add(c.id);
        const pairs = seenPairs.get(c.id) ?? seenPairs.set(c.id, new Set()).get(c.id)!;
        if (pairs.has(c.value)) continue;
        pairs.add(c.value);
        const counts = pairUse.get(c.id) ?? pairUse.set(c.id, new Map()).get(c.id)!;
        counts.set(c.value, (counts.get(c.value) ?? 0) + 1);
      }
    }
    const keyPos = new Map<string, number>();
    const slotById = new Map<string, Slot>();
    found.forEach((conj, ordinal) => {
      const ranked = conj
        .map((c, i) => ({ c, i, pair: pairUse.get(c.id)!.get(c.value)!, key: keyUse.get(c.id)! }))
        .sort((a, b) => a.pair - b.pair || b.key - a.key || a.i - b.i);
      if (ranked.length === 0) {
        this.scan.push(ordinal);
        return;
      }
      const first = ranked[0].c;
      const second = ranked.find((x) => x.c.id !== first.id)?.c;
      // Most selective first: select reads the second key only when the first one is present.
      const chosen = second ? [first, second] : [first];
      const parts = chosen.map((c) => {
        let pos = keyPos.get(c.id);
        if (pos === undefined) {
          pos = this.keys.length;
          keyPos.set(c.id, pos);
          this.keys.push(c.key === undefined ? { fact: c.fact } : { fact: c.fact, key: c.key });
        }
        return pos;
      });
      const slotId = parts.join(',');
      let slot = slotById.get(slotId);
      if (slot === undefined) {
        slot = { parts, buckets: new Map() };
        slotById.set(slotId, slot);
        this.slots.push(slot);
      }
      const bk = bucketKey(chosen.map((c) => c.value));
      const bucket = slot.buckets.get(bk);
      if (bucket === undefined) slot.buckets.set(bk, [ordinal]);
      else bucket.push(ordinal);
    });
    this.lists = new Array<readonly number[]>(this.slots.length + 1);
    this.heads = new Array<number>(this.slots.length + 1).fill(0);
    this.values = new Array<Scalar | undefined | typeof UNREAD>(this.keys.length);
  }

  /**
   * Payloads of the rules whose predicate holds for `facts`, in the rules' original order. Reads
   * each index key once through `facts` (so a TrackingReader records it), then evaluates only the
   * candidate rules' predicates.
   */
  select(facts: AttributeReader): T[] {
    const lists = this.lists;
    const values = this.values;
    values.fill(UNREAD);
    let n = 0;
    if (this.scan.length > 0) lists[n++] = this.scan;
    for (const slot of this.slots) {
      const p = slot.parts;
      const a = this.read(facts, p[0]);
      if (a === undefined) continue;
      let bk: Scalar = a;
      if (p.length === 2) {
        const b = this.read(facts, p[1]);
        if (b === undefined) continue;
        bk = `${tag(a)}\u0001${tag(b)}`;
      }
      const bucket = slot.buckets.get(bk);
      if (bucket !== undefined) lists[n++] = bucket;
    }
    const out: T[] = [];
    const { predicates, payloads } = this;
    if (n === 1) {
      for (const i of lists[0]) if (predicates[i](facts)) out.push(payloads[i]);
      return out;
    }
    // k-way merge of ascending ordinal lists; k is at most the number of keys plus one.
    const heads = this.heads;
    for (let j = 0; j < n; j++) heads[j] = 0;
    for (;;) {
      let from = -1;
      let next = Infinity;
      for (let j = 0; j < n; j++) {
        const list = lists[j];
        if (heads[j] < list.length && list[heads[j]] < next) {
          from = j;
          next = list[heads[j]];
        }
      }
      if (from < 0) return out;
      heads[from]++;
      if (predicates[next](facts)) out.push(payloads[next]);
    }
  }

  /** The scalar value of index key `i` for this select, read through `facts` at most once. */
  private read(facts: AttributeReader, i: number): Scalar | undefined {
    const seen = this.values[i];
    if (seen !== UNREAD) return seen;
    const k = this.keys[i];
    const v = k.key === undefined ? facts.get(k.fact) : facts.getKey(k.fact, k.key);
    const scalar = v === undefined || typeof v === 'object' ? undefined : v;
    this.values[i] = scalar;
    return scalar;
  }

  /** How the rules were arranged. */
  stats(): RuleIndexStats {
    return {
      rules: this.predicates.length,
      indexed: this.predicates.length - this.scan.length,
      scanned: this.scan.length,
      keys: [...this.keys],
    };
  }
}
