import { open } from 'node:fs/promises';

/** Largest list a provider or file may deliver, bytes; larger ones fail the load. */
export const MAX_LIST_BYTES = 32 * 1024 * 1024;

/** Splits list text into entries: one per line, trimmed; blank lines and lines starting with `#` are skipped. */
export function parseEntries(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const e = line.trim();
    if (e !== '' && !e.startsWith('#')) out.push(e);
  }
  return out;
}

/** Reads a list file (UTF-8, at most {@link MAX_LIST_BYTES}); rejects with the OS error otherwise. */
export async function readListFile(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size > MAX_LIST_BYTES) throw new Error(`${path} is larger than ${MAX_LIST_BYTES} bytes`);
    return await fh.readFile({ encoding: 'utf8' });
  } finally {
    await fh.close();
  }
}

/**
 * GETs a list from `url` with global `fetch`. Rejects on a network error, a non-2xx status, a body
 * over {@link MAX_LIST_BYTES}, `timeoutMs` elapsing, or `signal` aborting.
 */
export async function fetchList(url: string, timeoutMs: number, signal: AbortSignal): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]), redirect: 'follow' });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`${url} answered HTTP ${res.status}`);
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_LIST_BYTES) {
      await reader.cancel();
      throw new Error(`${url} sent more than ${MAX_LIST_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
