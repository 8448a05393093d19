import * as http from 'node:http';
import * as https from 'node:https';
import type { PeerCertificate } from 'node:tls';
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

/**
 * Headers as Node gives and takes them raw: `[name, value, name, value, ...]`, names as received.
 * Proxies forward them in this form, so Node builds no header objects for upstream answers and
 * stores no header one by one (`setHeader`) on the way out: per request and per hop, that was
 * a visible share of a sidecar's CPU.
 */
export type RawHeaders = string[];

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'proxy-authenticate',
  'proxy-authorization',
]);
/** Headers Node's `req.headers` keeps the first of when repeated (the others are joined with `, `). */
const FIRST_WINS = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);
const NONE: ReadonlySet<string> = new Set();

/** A request's headers, read once: what to forward, the attribute map, and what the proxy needs. */
export interface ScannedHeaders {
  /** End-to-end headers to forward (hop-by-hop ones, those named in `connection`, `take` and `strip` left out). */
  forward: RawHeaders;
  /** The end-to-end headers as a STRING_MAP (`strip`'s too): lower-case names, repeats joined as Node's `req.headers` joins them. */
  map: Record<string, string>;
  /** The value of the header `take` names (left out of `forward` and `map`), if sent. */
  taken?: string;
  /** A body follows: `transfer-encoding` was sent, or a `content-length` above 0. */
  hasBody: boolean;
  /** `transfer-encoding` was sent (the body's length is not known up front). */
  chunked: boolean;
  /** The declared `content-length`, 0 when none. */
  contentLength: number;
}

function join(prev: string | undefined, name: string, value: string): string {
  if (prev === undefined) return value;
  if (FIRST_WINS.has(name)) return prev;
  return `${prev}${name === 'cookie' ? '; ' : ', '}${value}`;
}

/** Names listed in `connection` values that are not hop-by-hop already (usually none). */
function connectionNamed(values: readonly string[]): Set<string> | undefined {
  let named: Set<string> | undefined;
  for (const v of values)
    for (const part of v.split(',')) {
      const n = part.trim().toLowerCase();
      if (n !== '' && !HOP_BY_HOP.has(n)) (named ??= new Set()).add(n);
    }
  return named;
}

/**
 * Reads raw request headers once (see {@link RawHeaders}); `take` names a header the proxy
 * consumes (the mesh identity), `strip` headers it does not forward because it sets them itself
 * (the B3 ones: they stay in the map, where the proxy reads and then replaces them).
 */
export function scanHeaders(raw: readonly string[], take?: string, strip: ReadonlySet<string> = NONE): ScannedHeaders {
  let forward: RawHeaders = [];
  const map: Record<string, string> = {};
  const connection: string[] = [];
  let taken: string | undefined;
  let chunked = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const value = raw[i + 1];
    if (HOP_BY_HOP.has(name)) {
      // `keep-alive` and `close` (nearly every request) name no other header: no need to split them.
      if (name === 'connection' && value !== 'keep-alive' && value !== 'close') connection.push(value);
      else if (name === 'transfer-encoding') chunked = true;
      continue;
    }
    if (name === take) {
      taken = join(taken, name, value);
      continue;
    }
    if (!strip.has(name)) forward.push(raw[i], value);
    map[name] = join(map[name], name, value);
  }
  const named = connection.length > 0 ? connectionNamed(connection) : undefined;
  if (named) {
    for (const n of named) delete map[n];
    forward = forward.filter((_, i, a) => !named.has(a[i - (i % 2)].toLowerCase()));
  }
  const len = Number(map['content-length'] ?? 0);
  const contentLength = Number.isFinite(len) && len > 0 ? len : 0;
  return { forward, map, taken, hasBody: chunked || contentLength > 0, chunked, contentLength };
}

/** The end-to-end headers of an upstream response, raw, to relay to the caller. */
export function responseHeaders(raw: readonly string[]): RawHeaders {
  const out: RawHeaders = [];
  let connection: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (!HOP_BY_HOP.has(name)) out.push(raw[i], raw[i + 1]);
    else if (name === 'connection' && raw[i + 1] !== 'keep-alive' && raw[i + 1] !== 'close') (connection ??= []).push(raw[i + 1]);
  }
  const named = connection && connectionNamed(connection);
  return named ? out.filter((_, i, a) => !named.has(a[i - (i % 2)].toLowerCase())) : out;
}

/** Whether raw headers name `name` (lower-case). */
export function hasHeader(raw: readonly string[], name: string): boolean {
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === name.length && raw[i].toLowerCase() === name) return true;
  return false;
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
  /** Raw headers to send (not changed; a `host` is added when they have none). */
  headers: RawHeaders;
  /** A buffered body (retries possible; its length is sent), or a stream (piped once), or none. */
  body?: Buffer | Readable;
  /** Longest wait for the response headers, ms. */
  timeoutMs: number;
  /** Mutual TLS to the upstream: the agent holding this proxy's certificate, and the SPIFFE id the upstream must present. */
  tls?: { agent: https.Agent; principal: string };
}

/** `checkServerIdentity` of mesh calls: the server's certificate must name exactly the expected SPIFFE id (secure naming). */
export function expectPrincipal(principal: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const uris = (cert.subjectaltname ?? '').split(/,\s*/).filter((n) => n.startsWith('URI:'));
    return uris.length === 1 && uris[0] === `URI:${principal}`
      ? undefined
      : new Error(`the upstream presented ${uris.join(' ') || 'no SPIFFE id'}, not ${principal}`);
  };
}

/** The headers of one try: a buffered body's own length, and a `host` when the caller sent none (HTTP/1.0). */
function headersOf(t: UpstreamTry): RawHeaders {
  let h = t.headers;
  if (Buffer.isBuffer(t.body)) {
    h = h.filter((_, i, a) => a[i - (i % 2)].toLowerCase() !== 'content-length');
    h.push('content-length', String(t.body.length));
  }
  if (!hasHeader(h, 'host')) h = [...h, 'host', `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`];
  return h;
}

/**
 * Sends one request and resolves with the response once its headers arrive; rejects with
 * {@link UpstreamError} on connect failure, reset or timeout. `cancel` aborts the try.
 */
export function tryUpstream(t: UpstreamTry): { response: Promise<http.IncomingMessage>; cancel: (err?: Error) => void } {
  let req: http.ClientRequest;
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    const o = { host: t.host, port: t.port, method: t.method, path: t.path, headers: headersOf(t) };
    req = t.tls
      ? https.request({ ...o, agent: t.tls.agent, servername: undefined, checkServerIdentity: expectPrincipal(t.tls.principal) })
      : http.request({ ...o, agent: t.agent });
    const timer = setTimeout(() => req.destroy(new UpstreamError('timeout', `no response within ${t.timeoutMs} ms`)), t.timeoutMs);
    req.once('response', (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    req.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err instanceof UpstreamError) return reject(err);
      const connect =
        err.code === 'ECONNREFUSED' ||
        err.code === 'ERR_TLS_CERT_ALTNAME_INVALID' ||
        (err.code ?? '').startsWith('ERR_SSL') ||
        err.code === 'EHOSTUNREACH' ||
        err.code === 'ENOTFOUND' ||
        err.code === 'EADDRNOTAVAIL';
      reject(new UpstreamError(connect ? 'connect' : 'reset', `${err.code ?? 'error'}: ${err.message}`));
    });
    if (t.body === undefined) req.end();
    else if (Buffer.isBuffer(t.body)) req.end(t.body);
    else t.body.pipe(req);
  });
  return { response, cancel: (err) => req.destroy(err) };
}

/**
 * Streams an upstream response to the caller; `done(bytes, complete)` runs once. The caller going
 * away destroys the upstream response (and so its connection, which cancels the call). Forwarded
 * by hand rather than with `pipe`, whose set-up and tear-down cost more than the small answers
 * most calls carry.
 */
export function relay(up: http.IncomingMessage, res: http.ServerResponse, done: (size: number, complete: boolean) => void): void {
  let size = 0;
  let once = false;
  const end = (complete: boolean): void => {
    if (once) return;
    once = true;
    done(size, complete);
  };
  res.writeHead(up.statusCode ?? 502, responseHeaders(up.rawHeaders));
  up.on('data', (c: Buffer) => {
    size += c.length;
    if (!res.write(c)) up.pause();
  });
  res.on('drain', () => up.resume());
  up.on('end', () => res.end());
  res.on('finish', () => end(true));
  res.on('close', () => {
    if (!res.writableFinished) up.destroy();
    end(res.writableFinished);
  });
  up.on('error', () => {
    res.destroy();
    end(false);
  });
}
