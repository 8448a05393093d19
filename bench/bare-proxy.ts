/**
 * The baseline of the mesh bench: the least a Node HTTP reverse proxy can do (keep-alive agent,
 * headers passed through, bodies piped; no policy, routing, tracing or telemetry). Two of them in a
 * row are what two sidecars cost at the very least in Node, so the mesh's figures are read beside it.
 *
 * Run: `node dist/bench/bare-proxy.js --port P --upstream Q`.
 */
import * as http from 'node:http';

/** Creates (does not start) a proxy forwarding everything to 127.0.0.1:`upstreamPort`. */
export function createBareProxy(upstreamPort: number): http.Server {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024, timeout: 4000 });
  const server = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 65_000;
  return server;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  const server = createBareProxy(Number(arg('upstream')));
  server.listen(Number(arg('port') ?? 0), '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`listening ${typeof a === 'object' && a ? a.port : ''}\n`);
  });
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
