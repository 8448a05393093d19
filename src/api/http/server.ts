import * as http from 'node:http';
import * as https from 'node:https';
import type { Express } from 'express';
import { handleCheck } from './check-route';
import type { CheckRouteDeps } from './check-route';

/** Fast routes answered by the listener itself, by exact path. */
export type FastRoute = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Runs before any route; answers the request itself and returns false to stop it (e.g. no client certificate). */
export type RequestGuard = (req: http.IncomingMessage, res: http.ServerResponse, path: string) => boolean;

/** How the listener is secured. */
export interface ListenerOptions {
  /** TLS options (see `src/server/tls.ts`); unset: plaintext HTTP. */
  tls?: https.ServerOptions;
  guard?: RequestGuard;
}

function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * One server (HTTP, or HTTPS when `o.tls` is set): `POST /v1/check` (and other registered hot POST
 * routes) go through lean handlers that share validation and error mapping with the rest;
 * everything else goes to Express. `o.guard` sees every request first. A key of `extra` ending in
 * `/*` is a prefix route taking every method (Envoy's HTTP ext_authz).
 */
export function createHttpServer(
  app: Express,
  deps: CheckRouteDeps,
  extra: Record<string, FastRoute> = {},
  o: ListenerOptions = {},
): http.Server | https.Server {
  const fast = new Map<string, FastRoute>(Object.entries(extra).filter(([k]) => !k.endsWith('/*')));
  const prefixes = Object.entries(extra)
    .filter(([k]) => k.endsWith('/*'))
    .map(([k, route]) => [k.slice(0, -1), route] as const);
  fast.set('/v1/check', (req, res) => void handleCheck(req, res, deps));
  const guard = o.guard;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const path = pathOf(req.url);
    if (guard && !guard(req, res, path)) return;
    if (req.method === 'POST') {
      const route = fast.get(path);
      if (route) return route(req, res);
    }
    for (const [prefix, route] of prefixes) if (req.url?.startsWith(prefix)) return route(req, res);
    app(req, res);
  };
  const server = o.tls ? https.createServer(o.tls, handler) : http.createServer(handler);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}
