import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the sink received. */
export interface SinkRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  body: string;
  /** The status answered, or `hang` when the sink never answered. */
  answered?: number | 'hang';
}

/** What the sink answers a request with: a status (and body), or `hang` to never answer. */
export type SinkAnswer = { status: number; body?: string } | 'hang';

/** A Zipkin v2 span as JSON (the fields tests read). */
export interface SpanJson {
  traceId: string;
  id: string;
  parentId?: string;
  name?: string;
  kind?: string;
  timestamp?: number;
  duration?: number;
  debug?: boolean;
  shared?: boolean;
  localEndpoint?: Record<string, unknown>;
  remoteEndpoint?: Record<string, unknown>;
  tags?: Record<string, string>;
}

/**
 * A real local HTTP server standing in for Zipkin: records every request and answers with
 * `answer(request, index)` (default 202, as Zipkin does). Listens on 127.0.0.1, a free port.
 */
export class SpanSink {
  readonly requests: SinkRequest[] = [];
  answer: (req: SinkRequest, index: number) => SinkAnswer = () => ({ status: 202 });
  private readonly hanging = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<SpanSink> {
    const started: { sink?: SpanSink } = {};
    const server = createServer((req, res) => void started.sink!.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    started.sink = new SpanSink(server, `http://127.0.0.1:${port}`);
    return started.sink;
  }

  /** Spans of every POST to `/api/v2/spans` that was answered 2xx, in arrival order. */
  accepted(): SpanJson[] {
    const out: SpanJson[] = [];
    for (const r of this.requests) {
      const ok = typeof r.answered === 'number' && r.answered >= 200 && r.answered < 300;
      if (ok && r.path === '/api/v2/spans') out.push(...(JSON.parse(r.body) as SpanJson[]));
    }
    return out;
  }

  /** Spans of every request received, whatever the answer. */
  received(): SpanJson[] {
    return this.requests.flatMap((r) => JSON.parse(r.body) as SpanJson[]);
  }

  reset(): void {
    this.requests.length = 0;
    this.answer = () => ({ status: 202 });
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const r: SinkRequest = {
      method: req.method ?? '',
      path: req.url ?? '',
      contentType: req.headers['content-type'],
      body: Buffer.concat(chunks).toString('utf8'),
    };
    const index = this.requests.push(r) - 1;
    const a = this.answer(r, index);
    r.answered = a === 'hang' ? 'hang' : a.status;
    if (a === 'hang') {
      this.hanging.add(res);
      return;
    }
    res.writeHead(a.status, { 'content-type': 'text/plain' }).end(a.body ?? '');
  }
}

/** A URL on 127.0.0.1 where nothing listens (a port just released by a server of our own). */
export async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
