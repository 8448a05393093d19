/**
 * The baseline of the mesh bench: the least a Node HTTP reverse proxy can do (keep-alive agent,
 * headers passed through, bodies piped; no policy, routing, tracing or telemetry). Two of them in a
 * row are what two sidecars cost at the very least in Node, so the mesh's figures are read beside it.
 * With TLS files they are the least two mutual TLS proxies cost: the first sends over mutual TLS
 * (`--tls-upstream <dir>`: key.pem, cert.pem, ca.pem), the second takes it (`--tls-listen <dir>`,
 * client certificates required), both keep-alive, with the same mesh certificates as the sidecars.
 *
 * Run: `node dist/bench/bare-proxy.js --port P --upstream Q [--tls-upstream D] [--tls-listen D] [--admin-port A]`
 * (the admin port answers `{"handshakes": n}`: TLS handshakes the proxy accepted).
 */
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';

/** key, cert and ca PEMs of a directory. */
function tlsFiles(dir: string): { key: string; cert: string; ca: string } {
  const r = (f: string): string => readFileSync(path.join(dir, f), 'utf8');
  return { key: r('key.pem'), cert: r('cert.pem'), ca: r('ca.pem') };
}

/** Creates (does not start) a proxy forwarding everything to 127.0.0.1:`upstreamPort`. */
export function createBareProxy(
  upstreamPort: number,
  tls: { upstream?: string; listen?: string } = {},
): { server: http.Server | https.Server; handshakes: () => number } {
  const up = tls.upstream ? tlsFiles(tls.upstream) : undefined;
  const agent = up
    ? new https.Agent({ keepAlive: true, maxSockets: 1024, timeout: 4000, ...up, checkServerIdentity: () => undefined })
    : new http.Agent({ keepAlive: true, maxSockets: 1024, timeout: 4000 });
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const o = { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent };
    const onAnswer = (r: http.IncomingMessage): void => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    };
    const upReq = up ? https.request(o, onAnswer) : http.request(o, onAnswer);
    upReq.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upReq);
  };
  let handshakes = 0;
  const server = tls.listen
    ? https.createServer({ ...tlsFiles(tls.listen), requestCert: true, rejectUnauthorized: true }, handler)
    : http.createServer(handler);
  server.on('secureConnection', () => handshakes++);
  server.keepAliveTimeout = 65_000;
  return { server, handshakes: () => handshakes };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  const { server, handshakes } = createBareProxy(Number(arg('upstream')), { upstream: arg('tls-upstream'), listen: arg('tls-listen') });
  server.listen(Number(arg('port') ?? 0), '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`listening ${typeof a === 'object' && a ? a.port : ''}\n`);
  });
  const adminPort = arg('admin-port');
  const admin = adminPort
    ? http
        .createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ handshakes: handshakes() })))
        .listen(Number(adminPort), '127.0.0.1')
    : undefined;
  const stop = (): void => {
    admin?.close();
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
