import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A local HTTP server that records JSON POST bodies and answers with a configurable status. */
export class HttpSink {
  private server: http.Server | undefined;
  readonly received: unknown[] = [];
  status = 202;
  /** Delay before answering, ms (a slow sink). */
  delayMs = 0;
  requests = 0;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens (on the same port again after a stop). */
  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests++;
        if (this.status < 300) {
          const body = Buffer.concat(chunks).toString('utf8');
          const parsed: unknown = JSON.parse(body);
          if (Array.isArray(parsed)) this.received.push(...parsed);
          else this.received.push(parsed);
        }
        if (this.delayMs > 0) setTimeout(() => res.writeHead(this.status).end(), this.delayMs);
        else res.writeHead(this.status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', () => resolve()));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening (connections are refused until start). */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
