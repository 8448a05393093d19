/**
 * A test-side encoder of Istio mixer v1 `CompressedAttributes`, written from the protocol (not from
 * Mixer's decoder): names and string values are global word indexes when Istio 1.4's dictionary has
 * the word, else negative indexes into `words` (`-1` is `words[0]`).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO } from './processes';

export const DICTIONARY: readonly string[] = JSON.parse(readFileSync(path.join(REPO, 'proto', 'istio-global-dictionary-1.4.json'), 'utf8'));
const GLOBAL = new Map(DICTIONARY.map((w, i) => [w, i]));

/** A duration value for {@link compress}. */
export class Dur {
  constructor(readonly ms: number) {}
}

/** Encodes `bag`; local words are appended to `words` (shared by several bags when given). */
export function compress(bag: Record<string, unknown>, words: string[] = [], useLocalWords = true): Record<string, any> {
  const idx = (w: string): number => {
    const g = GLOBAL.get(w);
    if (g !== undefined) return g;
    let i = words.indexOf(w);
    if (i < 0) {
      words.push(w);
      i = words.length - 1;
    }
    return -(i + 1);
  };
  const out: Record<string, any> = {};
  const add = (field: string, k: number, v: unknown) => ((out[field] ??= {})[k] = v);
  for (const [name, v] of Object.entries(bag)) {
    const k = idx(name);
    if (typeof v === 'string') add('strings', k, idx(v));
    else if (typeof v === 'number' && Number.isInteger(v)) add('int64s', k, v);
    else if (typeof v === 'number') add('doubles', k, v);
    else if (typeof v === 'boolean') add('bools', k, v);
    else if (v instanceof Date) add('timestamps', k, { seconds: Math.floor(v.getTime() / 1000), nanos: (v.getTime() % 1000) * 1e6 });
    else if (v instanceof Dur) add('durations', k, { seconds: Math.floor(v.ms / 1000), nanos: Math.round((v.ms % 1000) * 1e6) });
    else if (typeof v === 'object' && v !== null) {
      const entries: Record<number, number> = {};
      for (const [mk, mv] of Object.entries(v as Record<string, string>)) entries[idx(mk)] = idx(mv);
      add('string_maps', k, { entries });
    }
  }
  if (useLocalWords) out.words = words;
  return out;
}
