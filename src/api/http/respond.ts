import type { IncomingMessage, ServerResponse } from 'node:http';
import { asMixerError, httpStatusOf, MixerError } from '../../errors';

/** Writes a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
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
  if (e.code === 'MIXER_ERR_QUEUE_UNAVAILABLE' || e.code === 'MIXER_ERR_NOT_READY') headers['retry-after'] = '1';
  sendJson(res, httpStatusOf(e.code), e.toJSON(), headers);
  return e;
}

/**
 * Reads a request body up to `limit` bytes and parses it as JSON.
 * Rejects with MIXER_ERR_BODY_TOO_LARGE (413) past the limit, MIXER_ERR_BAD_JSON (400) when it does not parse.
 */
export function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      req.resume();
      reject(tooLarge(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', (err) => {
      if (!failed) reject(new MixerError('MIXER_ERR_BAD_REQUEST', `request body could not be read: ${err.message}`));
      failed = true;
    });
    req.on('end', () => {
      if (failed) return;
      const text = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks, size).toString('utf8');
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(new MixerError('MIXER_ERR_BAD_JSON', `request body is not valid JSON: ${(err as Error).message}`, { details: [{ field: 'body', reason: (err as Error).message }] }));
      }
    });
  });
}

function tooLarge(limit: number): MixerError {
  return new MixerError('MIXER_ERR_BODY_TOO_LARGE', `request body is larger than ${limit} bytes (MIXER_MAX_BODY_BYTES)`, {
    details: [{ field: 'body', reason: `over ${limit} bytes` }],
  });
}
