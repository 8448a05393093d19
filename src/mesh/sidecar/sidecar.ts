import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { deriveKey } from '../common/mesh-key';
import { IdentityVerifier } from '../common/identity';
import { Registration } from '../mixer-client/registry-client';
import { CheckCache } from './check-cache';
import type { CheckTransport } from './check-cache';
import { adminServer, closeServer, coreStatus, createProxyCore, listen, proxyServer } from './core';
import type { ProxyCore, ProxyHandler } from './core';
import { handleInbound } from './inbound';
import { dualListener } from './mtls-listener';
import type { DualListener } from './mtls-listener';
import type { InboundDeps } from './inbound';
import { checkTransport } from './mixer-calls';
import { proxyOutbound, targetOfHost } from './outbound';
import type { SidecarOptions } from './options';

/** A running sidecar. */
export interface RunningSidecar {
  readonly inboundPort: number;
  readonly outboundPort: number;
  readonly adminPort?: number;
  /** What `GET /status` on the admin port shows. */
  status(): Record<string, unknown>;
  /** Leaves the registry, stops accepting, finishes requests in flight, flushes reports. Safe twice. */
  close(): Promise<void>;
}

/** The outbound listener's handler: the app names the service in `Host` (or in an absolute URL, proxy style). */
export function outboundHandler(core: ProxyCore): ProxyHandler {
  return (req, res) => {
    let host = req.headers.host;
    let path = req.url ?? '/';
    if (/^https?:\/\//i.test(path)) {
      const u = new URL(path);
      host = u.host;
      path = `${u.pathname}${u.search}`;
    }
    const target = targetOfHost(host, core.options.identity.namespace);
    if (!target) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('no Host header: name the service to call in Host (e.g. Host: backend)\n');
      return;
    }
    return proxyOutbound(core, req, res, target, path);
  };
}

/**
 * Starts a sidecar beside one app instance: polls Mixer's route rules (its generation also drops
 * cached check verdicts), listens inbound and outbound, then registers the instance with Mixer
 * (waiting at most 5 s for the first heartbeat; it keeps trying in the background).
 */
export async function startSidecar(o: SidecarOptions, logger: Logger): Promise<RunningSidecar> {
  // The cache hears Mixer's generation from the core's routes poll, and asks Mixer over the core's connection.
  let transport: CheckTransport = () => Promise.reject(new Error('not started'));
  const checks = new CheckCache({ transport: (bag) => transport(bag), failOpen: o.failOpen });
  const core = await createProxyCore(o, logger, o.checkTimeoutMs, (a) => checks.observeGeneration(a.configGeneration, a.epoch));
  transport = checkTransport(core.mixer);
  const deps: InboundDeps = {
    self: o.identity,
    appHost: o.appHost,
    appPort: o.appPort,
    verifier: o.meshKey ? new IdentityVerifier(deriveKey(o.meshKey, 'identity'), o.identity.namespace, o.identity.service) : undefined,
    mtls: core.cert ? () => core.mtlsMode(o.identity.namespace, o.identity.labels) : undefined,
    checks,
    reports: core.reports,
    agent: core.agent,
    permissive: o.permissive,
    timeoutMs: o.defaultTimeoutMs,
  };
  const inbound = proxyServer((req, res) => handleInbound(deps, req, res), logger);
  const outbound = proxyServer(outboundHandler(core), logger);
  const servers: Server[] = [outbound];
  // With a workload certificate the inbound port takes mutual TLS (and plaintext, as the PeerAuthentication allows).
  let dual: DualListener | undefined;
  if (core.cert) {
    const d = (dual = dualListener(inbound, core.cert.current, logger));
    core.cert.onChange((m) => d.setTls(m));
  } else servers.push(inbound);
  const inboundPort = await listen(dual?.server ?? inbound, o.host, o.inboundPort);
  // The outbound port sends with this instance's identity: it listens for the app beside it only (see SidecarOptions.outboundHost).
  const outboundPort = await listen(outbound, o.outboundHost, o.outboundPort);
  const registration = new Registration(
    core.mixer,
    o.meshKey,
    {
      id: o.identity.instance,
      service: o.identity.service,
      namespace: o.identity.namespace,
      workload: o.identity.workload,
      labels: o.identity.labels,
      principal: o.identity.principal,
      address: `${o.address}:${inboundPort}`,
    },
    logger,
  );
  const status = (): Record<string, unknown> => ({
    ...coreStatus(core),
    app: `${o.appHost}:${o.appPort}`,
    inboundPort,
    outboundPort,
    listen: { inbound: o.host, outbound: o.outboundHost },
    failOpen: o.failOpen,
    registered: registration.beats > 0,
    registryError: registration.lastError ?? null,
    checkCache: { ...checks.stats, entries: checks.size, generation: checks.generation ?? null },
    ...(core.cert && dual ? { mtls: { mode: core.mtlsMode(o.identity.namespace, o.identity.labels), inbound: dual.stats } } : {}),
  });
  let adminPort: number | undefined;
  if (o.adminPort !== undefined) {
    const admin = adminServer(status);
    servers.push(admin);
    adminPort = await listen(admin, o.host, o.adminPort);
  }
  await Promise.race([registration.start(), new Promise((r) => setTimeout(r, 5000).unref())]);
  logger.info(
    {
      service: o.identity.service,
      instance: o.identity.instance,
      inboundPort,
      outboundPort: `${o.outboundHost}:${outboundPort}`,
      adminPort,
      app: o.appPort,
      mixer: o.mixerUrl,
      failOpen: o.failOpen,
    },
    'sidecar ready',
  );
  let closing: Promise<void> | undefined;
  return {
    inboundPort,
    outboundPort,
    adminPort,
    status,
    close: () =>
      (closing ??= (async () => {
        await registration.stop();
        await Promise.all([...servers.map((s) => closeServer(s)), dual?.close()]);
        await core.close();
      })()),
  };
}
