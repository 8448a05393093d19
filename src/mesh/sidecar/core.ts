import * as http from 'node:http';
import type * as https from 'node:https';
import type * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { deriveKey } from '../common/mesh-key';
import { IdentitySigner, peerMetadataHeader } from '../common/identity';
import type { PeerAuthPlan } from '../../routing/types';
import { MixerHttp } from '../mixer-client/mixer-http';
import { RegistryClient } from '../mixer-client/registry-client';
import type { EndpointSource } from '../common/registry-types';
import { RoutesPoller } from '../mixer-client/routes-client';
import { WorkloadCert } from '../mixer-client/workload-cert';
import { mtlsAgent } from '../mixer-client/tls-agent';
import type { CertMaterial } from '../mixer-client/workload-cert';
import { mtlsModeFor } from '../../routing/peer-auth';
import type { EffectiveMtls } from '../../routing/peer-auth';
import type { RoutesAnswer } from '../../routing/types';
import { upstreamAgent } from './forward';
import { reportTransport } from './mixer-calls';
import { ReportBatcher } from './report-batcher';
import type { ProxyOptions } from './options';

/** How long an idle mutual TLS connection to another sidecar is kept, ms (below the 65 s the inbound side keeps it). */
export const MESH_IDLE_MS = 30_000;

/** Counters of a proxy's outbound side. */
export interface OutboundStats {
  requests: number;
  retries: number;
  noUpstream: number;
  faultsInjected: number;
}

/** What sidecars and the ingress share: Mixer links, route rules, endpoints, reports, identity. */
export interface ProxyCore {
  readonly options: ProxyOptions;
  readonly logger: Logger;
  /** Checks, routes and registry calls. */
  readonly mixer: MixerHttp;
  readonly reports: ReportBatcher;
  readonly routes: RoutesPoller;
  /** Where instances come from: Mixer's registry by default (Kubernetes Endpoints would plug in here). */
  readonly endpoints: EndpointSource;
  /** Signs the identity header of plaintext calls; undefined without a mesh key. */
  readonly signer?: IdentitySigner;
  /** Keep-alive agent for plaintext upstream calls. */
  readonly agent: http.Agent;
  /** With Mixer's CA on: this proxy's workload certificate. */
  readonly cert?: WorkloadCert;
  /** With a certificate: the keep-alive agent for mutual TLS upstream calls (replaced when the certificate or the roots change). */
  tlsAgent?: https.Agent;
  /** The mutual TLS mode of a workload, from the PeerAuthentications Mixer serves (remembered per labels object until they change). */
  mtlsMode(namespace: string, labels: Readonly<Record<string, string>>): EffectiveMtls;
  /** This proxy's metadata header for mutual TLS calls (computed once). */
  readonly peerHeader: string;
  readonly outbound: OutboundStats;
  /** Round-robin positions per service. */
  readonly rr: Map<string, number>;
  /** Stops polling, flushes reports, closes connections. */
  close(): Promise<void>;
}

/**
 * Creates the shared parts and polls Mixer for route rules once (at most 2 s) before returning;
 * `onRoutes` hears every new config generation. `endpoints` replaces Mixer's registry as the
 * source of instances (e.g. a Kubernetes Endpoints watcher).
 */
export async function createProxyCore(
  options: ProxyOptions,
  logger: Logger,
  timeoutMs: number,
  onRoutes: (a: RoutesAnswer) => void = () => undefined,
  endpoints?: EndpointSource,
): Promise<ProxyCore> {
  let cert: WorkloadCert | undefined;
  if (options.bootstrapToken) {
    cert = new WorkloadCert({ mixerUrl: options.mixerUrl, principal: options.identity.principal, token: options.bootstrapToken, logger });
    await cert.start();
  }
  const mixer = new MixerHttp(options.mixerUrl, timeoutMs, 32, cert?.current);
  // Reports get connections of their own, so a slow report never queues a check behind it.
  const reportHttp = new MixerHttp(options.mixerUrl, 10_000, 4, cert?.current);
  const reports = new ReportBatcher({
    send: reportTransport(reportHttp),
    logger,
    maxBatchBytes: options.maxReportBytes,
    headers: options.reportHeaders,
  });
  const routes = new RoutesPoller(mixer, logger, onRoutes);
  await routes.start();
  const agent = upstreamAgent();
  const source: EndpointSource = endpoints ?? new RegistryClient(mixer, options.meshKey, logger);
  // Modes by the labels object of an instance (registry answers are kept, so the same object comes back until they change).
  const modes = new WeakMap<object, { policies: readonly PeerAuthPlan[]; namespace: string; mode: EffectiveMtls }>();
  // Mutual TLS goes to other sidecars only, whose inbound keeps idle connections 65 s (proxyServer):
  // idle ones are kept 30 s here (not the 4 s of app upstreams, whose servers may close at 5 s), so a
  // pause in traffic to a service does not cost a new handshake.
  const tlsAgentOf = (m: CertMaterial): https.Agent => mtlsAgent(m, { maxSockets: 1024, timeoutMs: MESH_IDLE_MS });
  const core: ProxyCore = {
    options,
    logger,
    mixer,
    reports,
    routes,
    endpoints: source,
    signer: options.meshKey ? new IdentitySigner(deriveKey(options.meshKey, 'identity'), options.identity) : undefined,
    agent,
    cert,
    tlsAgent: cert ? tlsAgentOf(cert.current) : undefined,
    mtlsMode: (namespace, labels) => {
      const policies = routes.peerAuthentications;
      const hit = modes.get(labels);
      if (hit && hit.policies === policies && hit.namespace === namespace) return hit.mode;
      const mode = mtlsModeFor(policies, namespace, labels);
      modes.set(labels, { policies, namespace, mode });
      return mode;
    },
    peerHeader: peerMetadataHeader(options.identity),
    outbound: { requests: 0, retries: 0, noUpstream: 0, faultsInjected: 0 },
    rr: new Map(),
    close: async () => {
      cert?.stop();
      routes.stop();
      await reports.close();
      await source.close?.();
      mixer.close();
      reportHttp.close();
      agent.destroy();
      core.tlsAgent?.destroy();
    },
  };
  // A new certificate or new roots: new connections use them; connections in flight keep theirs
  // (the old agents' sockets close once idle).
  cert?.onChange((m) => {
    mixer.setTls(m);
    reportHttp.setTls(m);
    core.tlsAgent = tlsAgentOf(m);
  });
  return core;
}

/** Listens on `host:port` (0: any free port) and resolves with the port bound. */
export function listen(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops accepting, lets requests in flight finish (at most `graceMs`), then closes what is left. */
export async function closeServer(server: http.Server, graceMs = 5000): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const t = setTimeout(() => server.closeAllConnections(), graceMs);
  await closed;
  clearTimeout(t);
}

/** Serves one proxied request; answers its own failures (upstream down, refusals) and resolves when done. */
export type ProxyHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

/**
 * An HTTP server for proxy traffic (long keep-alive, so callers' pooled sockets are not cut under them).
 * A handler that throws or rejects anyway (a bug) costs that one request a 500 and a log line, never
 * the proxy: every request of the pod goes through it.
 */
export function proxyServer(handler: ProxyHandler, logger: Logger): http.Server {
  const failed = (err: unknown, req: http.IncomingMessage, res: http.ServerResponse): void => {
    logger.error({ err, method: req.method, url: req.url }, 'proxy: a request failed unexpectedly; answered 500');
    if (res.headersSent) res.destroy();
    else res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('proxy error\n');
  };
  const server = http.createServer((req, res) => {
    try {
      const pending = handler(req, res);
      if (pending) pending.catch((err: unknown) => failed(err, req, res));
    } catch (err) {
      failed(err, req, res);
    }
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}

/** The status page of a proxy: `GET /status` (JSON from `status`) and `GET /healthz`. */
export function adminServer(status: () => unknown): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (path === '/status' || path === '/healthz')) {
      const body = JSON.stringify(path === '/status' ? status() : { status: 'ok' });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /status or /healthz\n');
  });
}

/** The parts of a core shown on a status page. */
export function coreStatus(core: ProxyCore): Record<string, unknown> {
  return {
    identity: core.options.identity,
    mixer: core.options.mixerUrl,
    configGeneration: core.routes.generation ?? null,
    routeRules: core.routes.table.rules.map((r) => r.ref),
    routesError: core.routes.lastError ?? null,
    outbound: core.outbound,
    reports: { ...core.reports.stats, pending: core.reports.pending },
    ...(core.cert
      ? {
          certificate: {
            principal: core.options.identity.principal,
            notAfter: new Date(core.cert.current.notAfter).toISOString(),
            renewAt: new Date(core.cert.current.renewAt).toISOString(),
            issuer: core.cert.current.issuer,
            issued: core.cert.issued,
            lastError: core.cert.lastError ?? null,
          },
        }
      : {}),
  };
}
