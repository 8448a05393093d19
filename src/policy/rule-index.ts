/**
 * Selects the rules whose condition holds for a bag without evaluating every rule: rules are
 * bucketed by one equality they require, so only the rules whose bucket the bag's value hits
 * (plus the rules that have no such equality) are evaluated.
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
  readonly fact: string;
  readonly key: string | undefined;
  /** value → ordinals of the rules bucketed on it, ascending. Keys are the actual values: 1 ≠ "1". */
  readonly buckets: Map<Scalar, number[]>;
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
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
 * Choice of bucket: for each rule, among its required equalities, the one whose (key, value) is
 * required by the fewest rules (smallest bucket); on a tie, the key used by the most rules (fewer
 * keys to read per select); then the first written. Rules without a required equality are scanned.
 * Immutable after construction; `select` is synchronous and not re-entrant.
 */
export class RuleIndex<T> {
  private readonly predicates: Predicate[];
  private readonly payloads: T[];
  private readonly slots: Slot[] = [];
  private readonly scan: number[] = [];
  private readonly lists: (readonly number[])[];
  private readonly heads: number[];

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
    const slotById = new Map<string, Slot>();
    found.forEach((conj, ordinal) => {
      let best: Conjunct | undefined;
      let bestPair = Infinity;
      let bestKey = -1;
      for (const c of conj) {
        const pair = pairUse.get(c.id)!.get(c.value)!;
        const key = keyUse.get(c.id)!;
        if (pair < bestPair || (pair === bestPair && key > bestKey)) [best, bestPair, bestKey] = [c, pair, key];
      }
      if (best === undefined) {
        this.scan.push(ordinal);
        return;
      }
      let slot = slotById.get(best.id);
      if (slot === undefined) {
        slot = { fact: best.fact, key: best.key, buckets: new Map() };
        slotById.set(best.id, slot);
        this.slots.push(slot);
      }
      const bucket = slot.buckets.get(best.value);
      if (bucket === undefined) slot.buckets.set(best.value, [ordinal]);
      else bucket.push(ordinal);
    });
    this.lists = new Array(this.slots.length + 1);
    this.heads = new Array(this.slots.length + 1).fill(0);
  }

  /**
   * Payloads of the rules whose predicate holds for `facts`, in the rules' original order. Reads
   * each index key once through `facts` (so a TrackingReader records it), then evaluates only the
   * candidate rules' predicates.
   */
  select(facts: AttributeReader): T[] {
    const lists = this.lists;
    let n = 0;
    if (this.scan.length > 0) lists[n++] = this.scan;
    for (const slot of this.slots) {
      const v = slot.key === undefined ? facts.get(slot.fact) : facts.getKey(slot.fact, slot.key);
      if (v === undefined || typeof v === 'object') continue;
      const bucket = slot.buckets.get(v);
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

  /** How the rules were arranged. */
  stats(): RuleIndexStats {
    return {
      rules: this.predicates.length,
      indexed: this.predicates.length - this.scan.length,
      scanned: this.scan.length,
      keys: this.slots.map((s) => (s.key === undefined ? { fact: s.fact } : { fact: s.fact, key: s.key })),
    };
  }
}
