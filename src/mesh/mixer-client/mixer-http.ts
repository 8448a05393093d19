import * as http from 'node:http';
import * as https from 'node:https';
import { mtlsAgent } from './tls-agent';
import type { CertMaterial } from './workload-cert';

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
  private agent: http.Agent;
  private readonly secure: boolean;
  private readonly host: string;
  private readonly port: number;
  private readonly basePath: string;

  /**
   * @param baseUrl e.g. `http://127.0.0.1:9091`, or `https://...` when Mixer's CA is on (then
   *   `tls` is this proxy's certificate, and Mixer is verified against its roots)
   */
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs: number,
    private readonly maxSockets = 32,
    tls?: CertMaterial,
  ) {
    const u = new URL(baseUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`Mixer URL must be http(s)://host:port, got ${baseUrl}`);
    this.secure = u.protocol === 'https:';
    if (this.secure && !tls) throw new Error('an https Mixer URL needs a workload certificate');
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port || (this.secure ? 443 : 80));
    this.basePath = u.pathname.replace(/\/$/, '');
    this.agent = this.newAgent(tls);
  }

  private newAgent(tls?: CertMaterial): http.Agent {
    const common = { keepAlive: true, maxSockets: this.maxSockets, timeout: 4000 };
    return this.secure && tls ? mtlsAgent(tls, { maxSockets: this.maxSockets, timeoutMs: 4000 }) : new http.Agent(common);
  }

  /**
   * Uses a new certificate (or new roots) for new connections. Connections of the old agent finish
   * what they carry and close once idle (its idle timeout), so no call in flight is cut.
   */
  setTls(tls: CertMaterial): void {
    if (this.secure) this.agent = this.newAgent(tls);
  }

  request(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}, timeoutMs = this.timeoutMs): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      const h: Record<string, string | number> = { ...headers };
      if (body !== undefined) {
        h['content-type'] ??= 'application/json';
        h['content-length'] = Buffer.byteLength(body);
      }
      const req = (this.secure ? https : http).request(
        { host: this.host, port: this.port, method, path: this.basePath + path, headers: h, agent: this.agent },
        (res) => {
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
        },
      );
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
