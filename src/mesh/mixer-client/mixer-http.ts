import * as http from 'node:http';

/** One answer from Mixer. */
export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Largest answer read from Mixer, bytes. */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/**
 * A small keep-alive HTTP client for the calls proxies make to Mixer (check, report, routes,
 * registry). Every call has a timeout; a failure rejects with an Error whose `code` says what
 * happened (`ETIMEDOUT`, `ECONNREFUSED`, ...).
 */
export class MixerHttp {
  private readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;
  private readonly basePath: string;

  /** @param baseUrl e.g. `http://127.0.0.1:9091` */
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs: number,
    maxSockets = 32,
  ) {
    const u = new URL(baseUrl);
    if (u.protocol !== 'http:') throw new Error(`Mixer URL must be http://host:port, got ${baseUrl}`);
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port || 80);
    this.basePath = u.pathname.replace(/\/$/, '');
    this.agent = new http.Agent({ keepAlive: true, maxSockets, timeout: 4000 });
  }

  request(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}, timeoutMs = this.timeoutMs): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      const h: Record<string, string | number> = { ...headers };
      if (body !== undefined) {
        h['content-type'] ??= 'application/json';
        h['content-length'] = Buffer.byteLength(body);
      }
      const req = http.request({ host: this.host, port: this.port, method, path: this.basePath + path, headers: h, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) req.destroy(Object.assign(new Error('answer too large'), { code: 'E2BIG' }));
          else chunks.push(c);
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks) });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      const timer = setTimeout(
        () => req.destroy(Object.assign(new Error(`Mixer did not answer ${method} ${path} within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
        timeoutMs,
      );
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end(body);
    });
  }

  /** Closes idle connections. */
  close(): void {
    this.agent.destroy();
  }
}
