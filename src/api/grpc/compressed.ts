/**
 * Istio mixer v1 `CompressedAttributes` ↔ Mixer's attributes. Names, string values and map keys
 * travel as word indexes: `i ≥ 0` is word `i` of Istio 1.4's global dictionary, `-n` is the
 * message's own `words[n-1]`. Decoding gives a record in Mixer's JSON wire forms, so the bag is then
 * validated against the manifest exactly as a `/v1/check` body is.
 */
import { MixerError } from '../../base/errors';
import type { ErrorDetail } from '../../base/errors';
import type { ReferencedAttribute } from '../../attributes/types';
import { durationText, timestampText } from './wire';
import type { ProtoTime } from './wire';

/** CompressedAttributes as proto-loader gives it (keepCase; sint32 map keys as object keys; int64 as text). */
export interface CompressedAttributes {
  words?: string[];
  strings?: Record<string, number>;
  int64s?: Record<string, string | number>;
  doubles?: Record<string, number>;
  bools?: Record<string, boolean>;
  timestamps?: Record<string, ProtoTime>;
  durations?: Record<string, ProtoTime>;
  bytes?: Record<string, Buffer | Uint8Array>;
  string_maps?: Record<string, { entries?: Record<string, number> }>;
}

/** `o[k] = v`, as an own property even for `__proto__` (which the manifest check then names). */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

function bad(field: string, reason: string): MixerError {
  return new MixerError('MIXER_ERR_BAD_REQUEST', `${field}: ${reason}`, { details: [{ field, reason }] as ErrorDetail[] });
}

/** Resolves word indexes against the global dictionary and a message's own words. */
export class WordResolver {
  constructor(
    private readonly global: readonly string[],
    private readonly words: readonly string[],
    private readonly where: string,
  ) {}

  /** The word at `index` (an int32 as number, or a map key as text); throws MIXER_ERR_BAD_REQUEST naming it. */
  word(index: number | string, what: string): string {
    const i = typeof index === 'number' ? index : Number(index);
    if (!Number.isInteger(i)) throw bad(`${this.where}.${what}`, `word index ${String(index)} is not an integer`);
    if (i >= 0) {
      if (i < this.global.length) return this.global[i];
      throw bad(`${this.where}.${what}`, `word index ${i} is past the global dictionary (${this.global.length} words, Istio 1.4)`);
    }
    const local = -i - 1;
    if (local < this.words.length) return this.words[local];
    throw bad(`${this.where}.${what}`, `word index ${i} is past the message's own words (${this.words.length})`);
  }
}

/**
 * Decodes one CompressedAttributes into a record of attribute name → JSON wire value (strings,
 * integers, numbers, booleans, RFC 3339 text, Go duration text, base64, string maps). `fallbackWords`
 * (a Report's `default_words`) serve when the message carries no words of its own, as Istio does.
 * Throws MIXER_ERR_BAD_REQUEST naming the field for an index out of range or an int64 past ±(2^53−1).
 */
export function decodeCompressed(
  msg: CompressedAttributes,
  global: readonly string[],
  where: string,
  fallbackWords: readonly string[] = [],
): Record<string, unknown> {
  const words = msg.words && msg.words.length > 0 ? msg.words : fallbackWords;
  const r = new WordResolver(global, words, where);
  const out: Record<string, unknown> = {};
  const put = (name: string, v: unknown): void => setOwn(out, name, v);
  for (const [k, v] of Object.entries(msg.strings ?? {})) {
    const name = r.word(k, `strings[${k}]`);
    put(name, r.word(v, `strings[${k}] (${name}) value`));
  }
  for (const [k, v] of Object.entries(msg.int64s ?? {})) {
    const name = r.word(k, `int64s[${k}]`);
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw bad(`${where}.${name}`, `int64 ${String(v)} is outside ±(2^53−1)`);
    put(name, n);
  }
  for (const [k, v] of Object.entries(msg.doubles ?? {})) put(r.word(k, `doubles[${k}]`), v);
  for (const [k, v] of Object.entries(msg.bools ?? {})) put(r.word(k, `bools[${k}]`), v);
  for (const [k, v] of Object.entries(msg.timestamps ?? {})) {
    const name = r.word(k, `timestamps[${k}]`);
    const text = timestampText(v);
    if (text === undefined) throw bad(`${where}.${name}`, 'timestamp out of range');
    put(name, text);
  }
  for (const [k, v] of Object.entries(msg.durations ?? {})) put(r.word(k, `durations[${k}]`), durationText(v));
  for (const [k, v] of Object.entries(msg.bytes ?? {})) put(r.word(k, `bytes[${k}]`), Buffer.from(v).toString('base64'));
  for (const [k, v] of Object.entries(msg.string_maps ?? {})) {
    const name = r.word(k, `string_maps[${k}]`);
    const map: Record<string, string> = {};
    for (const [mk, mv] of Object.entries(v?.entries ?? {})) {
      const key = r.word(mk, `string_maps[${k}] (${name}) key`);
      const value = r.word(mv, `string_maps[${k}] (${name}).${key}`);
      setOwn(map, key, value);
    }
    put(name, map);
  }
  return out;
}

/**
 * Applies DELTA_ENCODING: element i carries only what changed since element i-1, so each bag is the
 * previous one with the new element's attributes laid over it.
 */
export function applyDelta(prev: Record<string, unknown> | undefined, next: Record<string, unknown>): Record<string, unknown> {
  if (prev === undefined) return next;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(prev)) setOwn(out, k, prev[k]);
  for (const k of Object.keys(next)) setOwn(out, k, next[k]);
  return out;
}

/** Builds word indexes for an answer: global ones the client knows, else the answer's own words. */
export class WordEncoder {
  readonly words: string[] = [];
  private readonly local = new Map<string, number>();
  private readonly globalIndex: ReadonlyMap<string, number>;

  /** `clientWordCount`: how many leading global words the client knows (its `global_word_count`). */
  constructor(globalIndex: ReadonlyMap<string, number>, clientWordCount: number) {
    this.globalIndex = clientWordCount >= globalIndex.size ? globalIndex : new Map([...globalIndex].filter(([, i]) => i < clientWordCount));
  }

  index(word: string): number {
    const g = this.globalIndex.get(word);
    if (g !== undefined) return g;
    let l = this.local.get(word);
    if (l === undefined) {
      this.words.push(word);
      l = -this.words.length;
      this.local.set(word, l);
    }
    return l;
  }
}

/** word → first index, for {@link WordEncoder}. */
export function indexOfWords(words: readonly string[]): ReadonlyMap<string, number> {
  const m = new Map<string, number>();
  words.forEach((w, i) => {
    if (!m.has(w)) m.set(w, i);
  });
  return m;
}

/** `ReferencedAttributes` of istio mixer v1, from what a check decision read. */
export function encodeReferenced(
  refs: readonly ReferencedAttribute[],
  globalIndex: ReadonlyMap<string, number>,
  clientWordCount: number,
): { words: string[]; attribute_matches: Array<{ name: number; condition: string; map_key?: number }> } {
  const enc = new WordEncoder(globalIndex, clientWordCount);
  const attribute_matches = refs.map((r) => {
    const m: { name: number; condition: string; map_key?: number } = { name: enc.index(r.name), condition: r.condition };
    if (r.key !== undefined) m.map_key = enc.index(r.key);
    return m;
  });
  return { words: enc.words, attribute_matches };
}
