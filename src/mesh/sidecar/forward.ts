import * as http from 'node:http';
import type { Readable } from 'node:stream';

/** How an upstream try failed before a response arrived. */
export type UpstreamFailure = 'connect' | 'timeout' | 'reset';

/** A try that got no response: connection refused, reset, or no headers within its timeout. */
export class UpstreamError extends Error {
  constructor(
    readonly failure: UpstreamFailure,
    message: string,
  ) {
    super(message);
  }
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authenticate', 'proxy-authorization']);

/** Copies end-to-end headers (hop-by-hop ones and those named in `connection` are left out). */
export function endToEnd(h: http.IncomingHttpHeaders, drop?: ReadonlySet<string>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const named = typeof h.connection === 'string' ? h.connection.toLowerCase().split(',').map((s) => s.trim()) : [];
  for (const k in h) {
    const v = h[k];
    if (v === undefined || HOP_BY_HOP.has(k) || drop?.has(k)) continue;
    if (named.length > 0 && named.includes(k)) continue;
    out[k] = v;
  }
  return out;
}

/** A keep-alive agent for upstream calls (idle sockets close after 4 s, before Node's default 5 s server timeout). */
export function upstreamAgent(): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: 1024, timeout: 4000 });
}

/** One try at an upstream. */
export interface UpstreamTry {
  agent: http.Agent;
  host: string;
  port: number;
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  /** A buffered body (retries possible), or a stream (piped once), or none. */
  body?: Buffer | Readable;
  /** Longest wait for the response headers, ms. */
  timeoutMs: number;
}

/**
 * Sends one request and resolves with the response once its headers arrive; rejects with
 * {@link UpstreamError} on connect failure, reset or timeout. `cancel` aborts the try.
 */
export function tryUpstream(t: UpstreamTry): { response: Promise<http.IncomingMessage>; cancel: (err?: Error) => void } {
  let req: http.ClientRequest;
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    const headers = t.headers;
    if (Buffer.isBuffer(t.body)) headers['content-length'] = String(t.body.length);
    req = http.request({ host: t.host, port: t.port, method: t.method, path: t.path, headers, agent: t.agent });
    const timer = setTimeout(() => req.destroy(new UpstreamError('timeout', `no response within ${t.timeoutMs} ms`)), t.timeoutMs);
    req.once('response', (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    req.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err instanceof UpstreamError) return reject(err);
      const connect = err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENOTFOUND' || err.code === 'EADDRNOTAVAIL';
      reject(new UpstreamError(connect ? 'connect' : 'reset', `${err.code ?? 'error'}: ${err.message}`));
    });
    if (t.body === undefined) req.end();
    else if (Buffer.isBuffer(t.body)) req.end(t.body);
    else t.body.pipe(req);
  });
  return { response, cancel: (err) => req.destroy(err) };
}
