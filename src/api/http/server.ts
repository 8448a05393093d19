import * as http from 'node:http';
import type { Express } from 'express';
import { handleCheck } from './check-route';
import type { CheckRouteDeps } from './check-route';

/** Fast routes answered by the listener itself, by exact path. */
export type FastRoute = (req: http.IncomingMessage, res: http.ServerResponse) => void;

function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * One `http.Server`: `POST /v1/check` (and other registered hot POST routes) go through lean
 * handlers that share validation and error mapping with the rest; everything else goes to Express.
 * A key of `extra` ending in `/*` is a prefix route taking every method (Envoy's HTTP ext_authz).
 */
export function createHttpServer(app: Express, deps: CheckRouteDeps, extra: Record<string, FastRoute> = {}): http.Server {
  const fast = new Map<string, FastRoute>(Object.entries(extra).filter(([k]) => !k.endsWith('/*')));
  const prefixes = Object.entries(extra)
    .filter(([k]) => k.endsWith('/*'))
    .map(([k, route]) => [k.slice(0, -1), route] as const);
  fast.set('/v1/check', (req, res) => void handleCheck(req, res, deps));
  const server = http.createServer((req, res) => {
    if (req.method === 'POST') {
      const route = fast.get(pathOf(req.url));
      if (route) return route(req, res);
    }
    for (const [prefix, route] of prefixes) if (req.url?.startsWith(prefix)) return route(req, res);
    app(req, res);
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}
