import type { IncomingMessage, ServerResponse } from 'node:http';
import { asMixerError, httpStatusOf, MixerError } from '../../base/errors';

const JSON_TYPE = 'application/json; charset=utf-8';

/** Writes a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

/** Writes an answer whose JSON text is already made: head and body go out in one write. */
export function sendJsonText(res: ServerResponse, status: number, text: string, headers?: Record<string, string>): void {
  const head =
    headers === undefined
      ? { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text) }
      : { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), ...headers };
  res.writeHead(status, head);
  res.end(text);
}

/** An answer waiting for the end of the event-loop turn (see {@link sendJsonTextSoon}). */
interface Held {
  res: ServerResponse;
  status: number;
  text: string;
  onError: (err: unknown) => void;
}

let held: Held[] = [];
let flushScheduled = false;

function flushHeld(): void {
  flushScheduled = false;
  const list = held;
  held = [];
  for (let i = 0; i < list.length; i++) {
    const h = list[i];
    if (h.res.destroyed) continue; // the client is gone: nothing to answer
    try {
      sendJsonText(h.res, h.status, h.text);
    } catch (err) {
      h.onError(err);
    }
  }
}

/**
 * Writes an answer at the end of the current event-loop turn, right after the other answers made in
 * the same turn. Under load one turn handles many requests; writing their answers back to back lets
 * the client pick them up together instead of being woken once per answer, and such a cross-CPU
 * wake-up on every write is what dominates a loopback or same-host exchange. When a turn handles one
 * request this adds one `setImmediate` hop. `onError` gets what the write throws, if anything.
 */
export function sendJsonTextSoon(res: ServerResponse, status: number, text: string, onError: (err: unknown) => void): void {
  held.push({ res, status, text, onError });
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushHeld);
  }
}

/**
 * Writes an error answer: `{"error": {"code", "message", "details"}}` with the code's HTTP status.
 * The one place where errors become HTTP; used by the fast routes and the Express app alike.
 */
export function sendError(res: ServerResponse, err: unknown): MixerError {
  const e = asMixerError(err);
  if (res.headersSent) {
    res.destroy();
    return e;
  }
  const headers: Record<string, string> = {};
  if (httpStatusOf(e.code) === 503) headers['retry-after'] = '1';
  sendJson(res, httpStatusOf(e.code), e.toJSON(), headers);
  return e;
}

/**
 * Reads a request body up to `limit` bytes, parses it as JSON and calls `done` once: with the value,
 * or with MIXER_ERR_BODY_TOO_LARGE (413) past the limit, MIXER_ERR_BAD_JSON (400) when it does not
 * parse, MIXER_ERR_BAD_REQUEST when the stream fails. `done` runs inside the request's `end` event
 * (no promise, no extra tick), so a synchronous answer leaves in the same turn as the last byte came in.
 */
export function readJsonBodyThen(req: IncomingMessage, limit: number, done: (err: MixerError | undefined, body: unknown, bytes: number) => void): void {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) {
    req.resume();
    done(tooLarge(limit), undefined, 0);
    return;
  }
  let first: Buffer | undefined;
  let more: Buffer[] | undefined;
  let size = 0;
  let settled = false;
  req.on('data', (chunk: Buffer) => {
    if (settled) return;
    size += chunk.length;
    if (size > limit) {
      settled = true;
      done(tooLarge(limit), undefined, size);
      return;
    }
    if (first === undefined) first = chunk;
    else (more ??= [first]).push(chunk);
  });
  req.on('error', (err) => {
    if (settled) return;
    settled = true;
    done(new MixerError('MIXER_ERR_BAD_REQUEST', `request body could not be read: ${err.message}`), undefined, size);
  });
  req.on('end', () => {
    if (settled) return;
    settled = true;
    const text = more !== undefined ? Buffer.concat(more, size).toString('utf8') : first !== undefined ? first.toString('utf8') : '';
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      done(
        new MixerError('MIXER_ERR_BAD_JSON', `request body is not valid JSON: ${(err as Error).message}`, {
          details: [{ field: 'body', reason: (err as Error).message }],
        }),
        undefined,
        size,
      );
      return;
    }
    done(undefined, body, size);
  });
}

/**
 * Reads a request body up to `limit` bytes and parses it as JSON.
 * Rejects with MIXER_ERR_BODY_TOO_LARGE (413) past the limit, MIXER_ERR_BAD_JSON (400) when it does not parse.
 */
export function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    readJsonBodyThen(req, limit, (err, body) => (err ? reject(err) : resolve(body)));
  });
}

/** {@link readJsonBody}, with the body's size in bytes as received. */
export function readJsonBodySized(req: IncomingMessage, limit: number): Promise<{ body: unknown; bytes: number }> {
  return new Promise((resolve, reject) => {
    readJsonBodyThen(req, limit, (err, body, bytes) => (err ? reject(err) : resolve({ body, bytes })));
  });
}

function tooLarge(limit: number): MixerError {
  return new MixerError('MIXER_ERR_BODY_TOO_LARGE', `request body is larger than ${limit} bytes (MIXER_MAX_BODY_BYTES)`, {
    details: [{ field: 'body', reason: `over ${limit} bytes` }],
  });
}
