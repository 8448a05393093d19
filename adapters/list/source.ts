import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';

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

/**
 * Reads a list file (UTF-8, at most {@link MAX_LIST_BYTES}). Only regular files (symlinks to them
 * too): a device (`/dev/zero`), a FIFO or a directory is refused without being read, and a file that
 * grows past the limit while it is read is refused too. Rejects with the reason or the OS error.
 */
export async function readListFile(path: string): Promise<string> {
  if (!(await stat(path)).isFile()) throw new Error(`${path} is not a regular file`);
  // O_NONBLOCK: should the path be swapped for a FIFO after the check, open does not wait for a writer.
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error(`${path} is not a regular file`);
    if (st.size > MAX_LIST_BYTES) throw new Error(`${path} is larger than ${MAX_LIST_BYTES} bytes`);
    // Sized by stat, grown (up to the limit and one byte) should the file grow while it is read.
    let buf = Buffer.alloc(Math.min(st.size, MAX_LIST_BYTES) + 1);
    let total = 0;
    for (;;) {
      if (total === buf.length) {
        if (total > MAX_LIST_BYTES) throw new Error(`${path} is larger than ${MAX_LIST_BYTES} bytes`);
        const bigger = Buffer.alloc(Math.min(buf.length * 2, MAX_LIST_BYTES + 1));
        buf.copy(bigger);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, total, buf.length - total, total);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    return buf.toString('utf8', 0, total);
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
