/**
 * The demo's tiny apps: they know nothing of Mixer. `frontend` answers `GET /ping` by calling
 * `backend` by name through its sidecar's outbound port (forwarding the trace headers it got, as
 * Istio asks of apps); `backend` answers with its version.
 *
 * Run: `node dist/src/mesh/demo/app.js --role frontend --port P --outbound-port Q`
 *  or  `node dist/src/mesh/demo/app.js --role backend --port P --version v1`
 *
 * `x-demo-flaky: 1` on a request makes a backend fail the first try of each request id with 503
 * (to show retries hiding it).
 */
import * as http from 'node:http';

/** Headers an app forwards to keep a trace and a route rule's match intact. */
export const PROPAGATED = [
  'x-request-id',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'b3',
  'user-agent',
  'x-demo-flaky',
];

export interface DemoAppOptions {
  role: 'frontend' | 'backend';
  version: string;
  /** frontend: the sidecar's outbound port. */
  outboundPort?: number;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function callBackend(req: http.IncomingMessage, outboundPort: number, agent: http.Agent): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = { host: 'backend' };
  for (const h of PROPAGATED) {
    const v = req.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  return new Promise((resolve, reject) => {
    const out = http.request({ host: '127.0.0.1', port: outboundPort, path: '/ping', method: 'GET', headers, agent }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => resolve({ status: r.statusCode ?? 502, text: Buffer.concat(chunks).toString('utf8') }));
      r.on('error', reject);
    });
    out.on('error', reject);
    out.end();
  });
}

/** Creates (does not start) a demo app. */
export function createDemoApp(o: DemoAppOptions): http.Server {
  const agent = new http.Agent({ keepAlive: true, timeout: 4000 });
  const seen = new Set<string>();
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return send(res, 200, { status: 'ok' });
    if (path !== '/ping' && path !== '/') return send(res, 404, 'not found\n');
    if (o.role === 'backend') {
      const id = req.headers['x-request-id'];
      if (req.headers['x-demo-flaky'] === '1' && typeof id === 'string' && !seen.has(id)) {
        if (seen.size > 10_000) seen.clear();
        seen.add(id);
        return send(res, 503, 'flaky backend: the first try of each request fails\n');
      }
      return send(res, 200, { service: 'backend', version: o.version, pid: process.pid });
    }
    callBackend(req, o.outboundPort ?? 15001, agent).then(
      (r) => {
        if (r.status !== 200) return send(res, r.status, r.text);
        send(res, 200, { service: 'frontend', version: o.version, backend: JSON.parse(r.text) as unknown });
      },
      (err: Error) => send(res, 502, `frontend could not reach its sidecar: ${err.message}\n`),
    );
  });
  server.keepAliveTimeout = 65_000;
  return server;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  const role = arg('role');
  if (role !== 'frontend' && role !== 'backend') {
    process.stderr.write('usage: app.js --role frontend|backend --port P [--version v1] [--outbound-port Q]\n');
    process.exit(2);
  }
  const server = createDemoApp({ role, version: arg('version') ?? 'v1', outboundPort: Number(arg('outbound-port') ?? 15001) });
  server.listen(Number(arg('port') ?? 0), '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`${role} listening on ${typeof a === 'object' && a ? a.port : ''}\n`);
  });
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
