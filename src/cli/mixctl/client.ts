import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import { parseDuration } from '../../attributes/duration';
import { CliError, EXIT, usageError } from './errors';

/** Mixer's address when neither `--mixer` nor `MIXER_URL` is given. */
export const DEFAULT_MIXER_URL = 'http://127.0.0.1:9091';
/** How long one call may take (connect + answer) when `--timeout` is not given: 10 s. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** Where and how to call Mixer. */
export interface ClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:9091` (a path prefix is kept). */
  url: string;
  /** Admin bearer token, sent as `Authorization: Bearer <token>` when set. */
  token?: string;
  /** Longest a call may take, ms. */
  timeoutMs: number;
  /** TLS of an https Mixer (PEM text): the roots to trust (else the system's) and a client certificate to present. */
  tls?: ClientTls;
}

/** PEM text read from `--cacert`, `--cert` and `--key` (or MIXCTL_CACERT, MIXCTL_CERT, MIXCTL_KEY). */
export interface ClientTls {
  ca?: string;
  cert?: string;
  key?: string;
}

/** The global flags as commander gives them. */
export interface GlobalFlags {
  mixer?: string;
  token?: string;
  timeout?: string;
  cert?: string;
  key?: string;
  cacert?: string;
}

/** Reads a PEM file named by a flag or its variable; a usage error names which when it cannot. */
function pemFile(flag: string, variable: string, flagValue: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const file = flagValue ?? (env[variable] || undefined);
  if (file === undefined) return undefined;
  const from = flagValue !== undefined ? flag : variable;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw usageError(`${from}: cannot read ${JSON.stringify(file)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!text.includes('-----BEGIN ')) throw usageError(`${from}: ${JSON.stringify(file)} is not a PEM file`);
  return text;
}

/** `--cacert`/`--cert`/`--key` and their variables; undefined when none is set. */
function resolveTls(flags: GlobalFlags, env: NodeJS.ProcessEnv, url: URL): ClientTls | undefined {
  const tls: ClientTls = {
    ca: pemFile('--cacert', 'MIXCTL_CACERT', flags.cacert, env),
    cert: pemFile('--cert', 'MIXCTL_CERT', flags.cert, env),
    key: pemFile('--key', 'MIXCTL_KEY', flags.key, env),
  };
  if (tls.ca === undefined && tls.cert === undefined && tls.key === undefined) return undefined;
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw usageError('--cert and --key go together (MIXCTL_CERT, MIXCTL_KEY): give both or neither');
  if (url.protocol !== 'https:')
    throw usageError(`--cacert, --cert and --key are for a Mixer with TLS: the URL must be https:// (got ${JSON.stringify(url.href.replace(/\/+$/, ''))})`);
  return tls;
}

/**
 * Resolves the global flags against the environment: `--mixer`, else `MIXER_URL`, else
 * {@link DEFAULT_MIXER_URL}; `--token`, else `MIXER_ADMIN_TOKEN` (empty means unset);
 * `--timeout` (Go duration text), else {@link DEFAULT_TIMEOUT_MS}.
 * @throws CliError (exit 2) naming the flag when a value is not usable.
 */
export function resolveClientOptions(flags: GlobalFlags, env: NodeJS.ProcessEnv = process.env): ClientOptions {
  const raw = flags.mixer ?? (env.MIXER_URL || DEFAULT_MIXER_URL);
  const from = flags.mixer !== undefined ? '--mixer' : env.MIXER_URL ? 'MIXER_URL' : 'the default';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`${from}: ${JSON.stringify(raw)} is not a URL (expected e.g. ${DEFAULT_MIXER_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`${from}: ${JSON.stringify(raw)} must be an http:// or https:// URL`);
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (flags.timeout !== undefined) {
    const ms = parseDuration(flags.timeout);
    if (ms === undefined || ms <= 0) throw usageError(`--timeout: ${JSON.stringify(flags.timeout)} is not a positive duration (e.g. 5s, 500ms)`);
    timeoutMs = ms;
  }
  const token = flags.token ?? (env.MIXER_ADMIN_TOKEN || undefined);
  const tls = resolveTls(flags, env, url);
  return { url: url.href.replace(/\/+$/, ''), token: token || undefined, timeoutMs, ...(tls ? { tls } : {}) };
}

/** What one call sends besides method and path. */
export interface RequestOptions {
  query?: Readonly<Record<string, string | undefined>>;
  /** A JS value is sent as JSON; a string as is, with `contentType`. */
  body?: unknown;
  contentType?: string;
}

/** A successful (2xx/3xx) answer. `json` is the parsed body when it is JSON. */
export interface Answer {
  status: number;
  contentType: string;
  text: string;
  json?: unknown;
}

interface ErrorBody {
  error?: { code?: unknown; message?: unknown; details?: unknown };
}

const TRANSPORT_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed',
};

/** Turns a failed fetch (no HTTP answer at all) into exit 3, saying which URL could not be reached. */
function unreachable(err: unknown, base: string, timeoutMs: number): CliError {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  let reason: string;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') reason = `no answer within ${timeoutMs} ms (--timeout)`;
  else if (e?.cause?.code) reason = `${TRANSPORT_REASONS[e.cause.code] ?? e.cause.message ?? 'failed'} (${e.cause.code})`;
  else reason = e?.cause?.message ?? e?.message ?? String(err);
  const hints = ['set --mixer <url> or MIXER_URL to the address of a running Mixer'];
  if (base.startsWith('https:'))
    hints.push(
      'a Mixer with its CA on: trust its root with --cacert (mixctl ca root > roots.pem), and present a workload certificate with --cert and --key for check and report (mixctl ca sign)',
    );
  return new CliError(EXIT.UNREACHABLE, `cannot reach Mixer at ${base}: ${reason}`, hints);
}

/** One call over node's https with the client TLS (fetch cannot present a client certificate). Rejects like fetch: the transport error as `cause`. */
function httpsSend(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
  tls: ClientTls,
  timeoutMs: number,
): Promise<{ status: number; contentType: string; text: string }> {
  const u = new URL(url);
  const headers: Record<string, string | number> = { ...init.headers };
  if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: u.hostname.replace(/^\[|\]$/g, ''),
        port: Number(u.port || 443),
        path: `${u.pathname}${u.search}`,
        method: init.method,
        headers,
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text }));
        res.on('error', (err) => reject(Object.assign(new Error(err.message), { cause: err })));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { name: 'TimeoutError' })));
    req.on('error', (err) => reject(err.name === 'TimeoutError' ? err : Object.assign(new Error(err.message), { cause: err })));
    req.end(init.body);
  });
}

/** Turns a 4xx/5xx answer into exit 4 (401, 403) or exit 1, with Mixer's error code, message and every detail. */
export function errorFromAnswer(status: number, text: string, method: string, path: string): CliError {
  let body: ErrorBody | undefined;
  try {
    body = JSON.parse(text) as ErrorBody;
  } catch {
    body = undefined;
  }
  const err = body?.error;
  const code = typeof err?.code === 'string' ? err.code : `HTTP ${status}`;
  const message = typeof err?.message === 'string' ? err.message : text.trim().slice(0, 500) || '(empty answer)';
  const lines: string[] = [];
  if (Array.isArray(err?.details)) {
    for (const d of err.details as Array<{ field?: unknown; reason?: unknown }>) {
      lines.push(`  ${typeof d?.field === 'string' && d.field ? `${d.field}: ` : ''}${String(d?.reason ?? JSON.stringify(d))}`);
    }
  }
  const head = `${method} ${path}: ${code} (${status}): ${message}`;
  if (code === 'MIXER_ERR_FORBIDDEN') {
    lines.push('authenticated, but not as the identity this needs (docs/security.md)');
    return new CliError(EXIT.UNAUTHORIZED, head, lines, status);
  }
  if (code === 'MIXER_ERR_CLIENT_CERT_REQUIRED') {
    lines.push('this Mixer has its CA on and asks check, report and registry callers for a mesh client certificate (docs/security.md)');
    return new CliError(EXIT.UNAUTHORIZED, head, lines, status);
  }
  if (status === 401 || status === 403) {
    lines.push(
      status === 401
        ? 'pass the admin token with --token <token> or MIXER_ADMIN_TOKEN'
        : 'the admin API is off on this Mixer: start it with MIXER_ADMIN_TOKEN or MIXER_ADMIN_TOKEN_FILE',
    );
    return new CliError(EXIT.UNAUTHORIZED, head, lines, status);
  }
  return new CliError(EXIT.ERROR, head, lines, status);
}

/** A thin HTTP client of Mixer's API (global `fetch`, one timeout per call, errors mapped to exit codes). */
export class MixerClient {
  readonly options: ClientOptions;

  constructor(options: ClientOptions) {
    this.options = options;
  }

  /** The full URL of `path` (which starts with `/`) with `query` (undefined values left out). */
  urlOf(path: string, query?: Readonly<Record<string, string | undefined>>): string {
    const url = new URL(path.replace(/^\/+/, ''), `${this.options.url}/`);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    return url.href;
  }

  /**
   * Calls Mixer. Resolves with a 2xx/3xx answer.
   * @throws CliError exit 3 when Mixer cannot be reached or does not answer in time,
   *   exit 4 on 401/403, exit 1 on any other 4xx/5xx.
   */
  async send(method: string, path: string, opts: RequestOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'application/json, text/plain;q=0.9, */*;q=0.5' };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let body: string | undefined;
    if (typeof opts.body === 'string') {
      body = opts.body;
      headers['content-type'] = opts.contentType ?? 'text/plain';
    } else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    const url = this.urlOf(path, opts.query);
    let status: number;
    let contentType: string;
    let text: string;
    try {
      if (this.options.tls) ({ status, contentType, text } = await httpsSend(url, { method, headers, body }, this.options.tls, this.options.timeoutMs));
      else {
        const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(this.options.timeoutMs) });
        status = res.status;
        contentType = res.headers.get('content-type') ?? '';
        text = await res.text();
      }
    } catch (err) {
      throw unreachable(err, this.options.url, this.options.timeoutMs);
    }
    if (status >= 400) throw errorFromAnswer(status, text, method, path);
    let json: unknown;
    if (/json/i.test(contentType)) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    return { status, contentType, text, json };
  }

  /** {@link send}, expecting a JSON answer (exit 1 when it is not JSON). */
  async json(method: string, path: string, opts: RequestOptions = {}): Promise<unknown> {
    const a = await this.send(method, path, opts);
    if (a.json === undefined)
      throw new CliError(EXIT.ERROR, `${method} ${path}: expected a JSON answer, got ${a.contentType || 'no content type'}: ${a.text.slice(0, 200)}`);
    return a.json;
  }
}
