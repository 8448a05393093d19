/**
 * The sidecar's check client: asks Mixer `POST /v1/check` and caches verdicts the way Istio's
 * mixer client does, so a warm sidecar decides most requests without a network call.
 *
 * - A verdict is kept for `validDuration` and `validUseCount` uses (the request that fetched it is
 *   the first use; a duration of 0 or a single use is never cached).
 * - It applies to every bag that agrees with the bag it was fetched for on exactly the
 *   `referencedAttributes` of the answer: same value for `EXACT`, also missing for `ABSENCE`
 *   (a whole attribute, or one key of a map). Bags differing in anything else share the verdict.
 * - Every cached verdict is dropped when Mixer's `configGeneration` changes (seen in a check
 *   answer or told by the routes poll), so a new deny rule bites at once, not after validDuration.
 * - When Mixer cannot be asked: fail closed (UNAVAILABLE, code 14) by default, as Istio does, or
 *   fail open (allow) when configured. Such outcomes are never cached.
 */
import { parseDuration } from '../../attributes/duration';

/** An attribute bag as the sidecar sends it (JSON values). */
export type AttributeBag = Readonly<Record<string, unknown>>;

/** One attribute a decision read (as in Mixer's check answer). */
export interface ReferencedAttribute {
  name: string;
  key?: string;
  condition: 'EXACT' | 'ABSENCE';
}

/** google.rpc status of a verdict. */
export interface CheckStatus {
  code: number;
  message: string;
}

/** Mixer's check answer, as JSON. */
export interface CheckAnswerWire {
  status: { code: number; message?: string };
  validDuration: string;
  validUseCount: number;
  referencedAttributes: ReferencedAttribute[];
  configGeneration: number;
}

/** Asks Mixer; rejects when Mixer cannot answer (network, timeout, 4xx/5xx). */
export type CheckTransport = (bag: AttributeBag) => Promise<CheckAnswerWire>;

/** The decision for one request. */
export interface CheckVerdict {
  status: CheckStatus;
  cacheHit: boolean;
  /** Why Mixer could not be asked (the verdict then follows the fail policy). */
  mixerError?: string;
}

export interface CheckCacheOptions {
  transport: CheckTransport;
  /** Allow requests when Mixer cannot be asked (default false: fail closed). */
  failOpen?: boolean;
  /** Most cached verdicts (default 10 000); the oldest go first. */
  maxEntries?: number;
  /** Most distinct sets of referenced attributes (default 64); past it the cache starts over. */
  maxShapes?: number;
  now?: () => number;
}

/** Counters shown on the sidecar's status page. */
export interface CheckCacheStats {
  hits: number;
  misses: number;
  failures: number;
  generationDrops: number;
}

interface Entry {
  status: CheckStatus;
  expiresAt: number;
  usesLeft: number;
}

const UNAVAILABLE = 14;
/** The verdict of most warm requests, shared (verdicts are never changed by callers). */
const OK_HIT: CheckVerdict = Object.freeze({ status: Object.freeze({ code: 0, message: '' }), cacheHit: true });
const SEP = '\u0000';

function shapeKeyOf(refs: readonly ReferencedAttribute[]): string {
  return refs
    .map((r) => `${r.name}${r.key === undefined ? '' : `[${r.key}]`}:${r.condition}`)
    .sort()
    .join('|');
}

function canonical(v: unknown): string {
  if (typeof v !== 'object' || v === null) return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  return `{${Object.keys(v)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
    .join(',')}}`;
}

function read(bag: AttributeBag, ref: ReferencedAttribute): unknown {
  const v = Object.hasOwn(bag, ref.name) ? bag[ref.name] : undefined;
  if (ref.key === undefined) return v;
  if (typeof v !== 'object' || v === null) return undefined;
  return Object.hasOwn(v, ref.key) ? (v as Record<string, unknown>)[ref.key] : undefined;
}

/** The bag's key under a shape, or undefined when the bag does not fit it (present vs absent). */
function valueKey(bag: AttributeBag, refs: readonly ReferencedAttribute[]): string | undefined {
  let key = '';
  for (const ref of refs) {
    const v = read(bag, ref);
    if (ref.condition === 'ABSENCE') {
      if (v !== undefined) return undefined;
      key += `${SEP}-`;
    } else {
      if (v === undefined) return undefined;
      key += SEP + (typeof v === 'string' ? `s${v}` : typeof v === 'object' ? `o${canonical(v)}` : `${typeof v}${String(v)}`);
    }
  }
  return key;
}

/** Check verdicts, cached as described in this module's comment. */
export class CheckCache {
  private readonly shapes = new Map<string, readonly ReferencedAttribute[]>();
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly maxEntries: number;
  private readonly maxShapes: number;
  /** The config generation the cached verdicts belong to. */
  generation: number | undefined;
  epoch: string | undefined;
  readonly stats: CheckCacheStats = { hits: 0, misses: 0, failures: 0, generationDrops: 0 };

  constructor(private readonly opts: CheckCacheOptions) {
    this.now = opts.now ?? Date.now;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.maxShapes = opts.maxShapes ?? 64;
  }

  /** Cached verdicts held now. */
  get size(): number {
    return this.entries.size;
  }

  /** Drops every cached verdict. */
  clear(): void {
    this.entries.clear();
    this.shapes.clear();
  }

  /**
   * Tells the cache Mixer's current generation (from the routes poll, with Mixer's epoch):
   * anything different from what the cached verdicts belong to drops them all.
   */
  observeGeneration(generation: number, epoch?: string): void {
    const epochChanged = epoch !== undefined && this.epoch !== undefined && epoch !== this.epoch;
    if (epochChanged || (this.generation !== undefined && generation !== this.generation)) {
      if (this.entries.size > 0) this.stats.generationDrops++;
      this.clear();
    }
    this.generation = generation;
    if (epoch !== undefined) this.epoch = epoch;
  }

  /** The cached verdict for `bag` (using it once), or undefined. */
  lookup(bag: AttributeBag): CheckStatus | undefined {
    const now = this.now();
    for (const [shapeKey, refs] of this.shapes) {
      const vk = valueKey(bag, refs);
      if (vk === undefined) continue;
      const id = shapeKey + SEP + SEP + vk;
      const e = this.entries.get(id);
      if (!e) continue;
      if (e.expiresAt <= now) {
        this.entries.delete(id);
        continue;
      }
      if (--e.usesLeft <= 0) this.entries.delete(id);
      return e.status;
    }
    return undefined;
  }

  /**
   * The verdict for `bag` when the cache holds one (counted as a hit), else undefined: then
   * {@link check} asks Mixer. Lets a warm caller decide without a promise.
   */
  cached(bag: AttributeBag): CheckVerdict | undefined {
    const hit = this.lookup(bag);
    if (!hit) return undefined;
    this.stats.hits++;
    return hit.code === 0 && hit.message === '' ? OK_HIT : { status: hit, cacheHit: true };
  }

  /** Decides `bag`: from the cache when it can, else by asking Mixer (then caching the answer). */
  async check(bag: AttributeBag): Promise<CheckVerdict> {
    const hit = this.cached(bag);
    if (hit) return hit;
    this.stats.misses++;
    let answer: CheckAnswerWire;
    try {
      answer = await this.opts.transport(bag);
    } catch (err) {
      this.stats.failures++;
      const why = (err as Error).message;
      return {
        status: this.opts.failOpen ? { code: 0, message: '' } : { code: UNAVAILABLE, message: `Mixer is unavailable: ${why}` },
        cacheHit: false,
        mixerError: why,
      };
    }
    const status: CheckStatus = { code: answer.status.code, message: answer.status.message ?? '' };
    this.store(bag, answer, status);
    return { status, cacheHit: false };
  }

  private store(bag: AttributeBag, answer: CheckAnswerWire, status: CheckStatus): void {
    const gen = answer.configGeneration;
    if (this.generation === undefined || gen > this.generation) this.observeGeneration(gen);
    if (gen !== this.generation) return; // decided on an older config: use it once, keep nothing
    const ttl = parseDuration(answer.validDuration) ?? 0;
    const uses = answer.validUseCount - 1;
    if (!(ttl > 0) || !(uses > 0)) return;
    const refs = answer.referencedAttributes ?? [];
    const shapeKey = shapeKeyOf(refs);
    if (!this.shapes.has(shapeKey)) {
      if (this.shapes.size >= this.maxShapes) this.clear();
      this.shapes.set(shapeKey, [...refs]);
    }
    const vk = valueKey(bag, this.shapes.get(shapeKey)!);
    if (vk === undefined) return; // the answer does not describe this bag: do not trust it for others
    const id = shapeKey + SEP + SEP + vk;
    this.entries.delete(id);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(id, { status, expiresAt: this.now() + ttl, usesLeft: uses });
  }
}
