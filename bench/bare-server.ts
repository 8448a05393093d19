/**
 * The baseline of the check bench: a bare Node `http` server that reads a POST body, JSON-parses it
 * and answers 200 with a small JSON verdict. Nothing Mixer does is cheaper than this, so Mixer's
 * figures are read as a share of it.
 *
 * Run: `node dist/bench/bare-server.js --host 127.0.0.1 --port P`; prints `listening <port>` once up.
 */
import * as http from 'node:http';

const ANSWER = JSON.stringify({ status: { code: 0, message: '' }, validDuration: '1m0s', validUseCount: 10000, referencedAttributes: [], configGeneration: 1 });

/** Creates (does not start) the baseline server. */
export function createBareServer(): http.Server {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse((chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString('utf8'));
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":"bad json"}');
        return;
      }
      const ok = typeof body === 'object' && body !== null;
      res.writeHead(ok ? 200 : 400, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(ANSWER) });
      res.end(ANSWER);
    });
  });
  server.keepAliveTimeout = 65_000;
  return server;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

if (require.main === module) {
  const server = createBareServer();
  server.listen(Number(arg('port', '0')), arg('host', '127.0.0.1'), () => {
    const addr = server.address();
    process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : ''}\n`);
  });
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
