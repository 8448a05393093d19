import type { Logger } from 'pino';
import { adminServer, closeServer, coreStatus, createProxyCore, listen, proxyServer } from '../sidecar/core';
import { resolveProxyOptions } from '../sidecar/options';
import type { Flags, ProxyOptions } from '../sidecar/options';
import { proxyOutbound } from '../sidecar/outbound';
import { normaliseRequestPath } from './normalise-path';
import { matchIngressRoute, parseIngressRoutes } from './routes';
import type { IngressRoute } from './routes';

/** An ingress: the mesh's edge proxy. */
export interface IngressOptions extends ProxyOptions {
  routes: IngressRoute[];
}

/** A running ingress. */
export interface RunningIngress {
  readonly port: number;
  readonly adminPort?: number;
  status(): Record<string, unknown>;
  close(): Promise<void>;
}

/**
 * Ingress options from flags over the environment: `--port` (MIXER_INGRESS_PORT, default 8080),
 * `--route` (repeatable; MIXER_INGRESS_ROUTES, comma-separated), and the proxy options with
 * `MIXER_INGRESS_*` names. Its identity defaults to service `ingress`, namespace `istio-system`,
 * label `app=ingress`.
 */
export function resolveIngressOptions(f: Flags, routeFlags: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): IngressOptions {
  const port = typeof f.port === 'string' ? f.port : env.MIXER_INGRESS_PORT;
  const base = resolveProxyOptions('ingress', { ...f, outboundPort: port }, env, { service: 'ingress', namespace: 'istio-system', outboundPort: 8080 });
  const specs = routeFlags.length > 0 ? routeFlags : (env.MIXER_INGRESS_ROUTES ?? '').split(',');
  const routes = parseIngressRoutes(specs, 'default');
  if (routes.length === 0) throw new Error('the ingress needs at least one route: --route /=frontend (or MIXER_INGRESS_ROUTES)');
  return { ...base, routes };
}

/**
 * Starts the ingress: the same routing, tracing and reporting as a sidecar's outbound side, for
 * requests from outside the mesh, sent to services by host and path. It is the mesh's edge: it
 * starts traces and signs its own identity (`app=ingress`), so the graph draws ingress → frontend.
 */
export async function startIngress(o: IngressOptions, logger: Logger): Promise<RunningIngress> {
  const core = await createProxyCore(o, logger, 2000);
  const server = proxyServer((req, res) => {
    const path = normaliseRequestPath(req.url ?? '/');
    if (path === undefined) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request path (malformed or escaped-slash percent-encoding, or not a path)\n');
      return;
    }
    const route = matchIngressRoute(o.routes, req.headers.host, path);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no ingress route for ${req.headers.host ?? ''}${path}\n`);
      return;
    }
    return proxyOutbound(core, req, res, { service: route.service, namespace: route.namespace }, path);
  }, logger);
  const port = await listen(server, o.host, o.outboundPort);
  const status = (): Record<string, unknown> => ({ ...coreStatus(core), port, routes: o.routes });
  let admin: ReturnType<typeof adminServer> | undefined;
  let adminPort: number | undefined;
  if (o.adminPort !== undefined) {
    admin = adminServer(status);
    adminPort = await listen(admin, o.host, o.adminPort);
  }
  logger.info({ port, adminPort, routes: o.routes, mixer: o.mixerUrl }, 'ingress ready');
  let closing: Promise<void> | undefined;
  return {
    port,
    adminPort,
    status,
    close: () =>
      (closing ??= (async () => {
        await Promise.all([closeServer(server), admin ? closeServer(admin) : Promise.resolve()]);
        await core.close();
      })()),
  };
}
