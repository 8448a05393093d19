/**
 * Mixer's listener TLS, from one place: with the CA on, the serving certificate is issued by the
 * mesh CA (SPIFFE id `spiffe://cluster.local/ns/istio-system/sa/mixer` plus the DNS names and IPs
 * Mixer is reached at), renewed at half-life and whenever the roots change, and clients are asked
 * for a certificate chained to any trusted root. Every listener takes its TLS from here: the HTTP
 * port through {@link ServerTls.serverOptions} (and `setSecureContext` on change), the gRPC port
 * through {@link ServerTls.material} and {@link ServerTls.onChange} (PEMs pushed to grpc-js's
 * certificate-provider credentials, see `src/api/grpc/tls.ts`).
 */
import type { ServerOptions } from 'node:https';
import * as os from 'node:os';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { lifetimeOf } from '../mesh/common/pki';
import type { MeshCa } from '../mesh/control/ca';

/** Mixer's current TLS material and options. */
export interface ServerTls {
  /** Options for `https.createServer` / `tls.createServer` / `server.setSecureContext`: key, chain, trusted roots, client certificates asked (verified per route). */
  serverOptions(): ServerOptions;
  /** The same as PEM text: `key`, `certChain` (leaf then root), `roots` (every trusted root). */
  material(): { key: string; certChain: string; roots: string };
  /** `fn` runs after every renewal (new certificate or new roots): listeners swap their context for new connections. */
  onChange(fn: (tls: ServerTls) => void): void;
  close(): void;
}

/** DNS names and IPs of Mixer's serving certificate: localhost, 127.0.0.1, ::1, the host name, `mixer`, `mixer.mixer.svc` and `extra` (`MIXER_TLS_SANS`). */
export function servingNames(extra: readonly string[] = []): { dns: string[]; ips: string[] } {
  const all = ['localhost', '127.0.0.1', '::1', os.hostname(), 'mixer', 'mixer.mixer', 'mixer.mixer.svc', 'mixer.mixer.svc.cluster.local', ...extra];
  const uniq = [...new Set(all.filter((n) => n !== ''))];
  return { dns: uniq.filter((n) => isIP(n) === 0), ips: uniq.filter((n) => isIP(n) !== 0) };
}

/** Issues Mixer's serving certificate and keeps it current. */
export async function startServerTls(ca: MeshCa, logger: Logger, extraNames: readonly string[] = []): Promise<ServerTls> {
  const names = servingNames(extraNames);
  let current = { key: '', certChain: '', roots: '' };
  let timer: NodeJS.Timeout | undefined;
  const listeners: Array<(t: ServerTls) => void> = [];
  const self: ServerTls = {
    serverOptions: () => ({
      key: current.key,
      cert: current.certChain,
      ca: current.roots,
      requestCert: true,
      // Verified per route: /metrics, /healthz and the graph stay readable without a certificate.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    }),
    material: () => ({ ...current }),
    onChange: (fn) => void listeners.push(fn),
    close: () => {
      if (timer) clearTimeout(timer);
    },
  };
  const renew = async (): Promise<void> => {
    const issued = await ca.issueServer(names.dns, names.ips);
    current = { key: issued.key, certChain: issued.certChain.join(''), roots: ca.trustedRoots().join('') };
    const { renewAt } = lifetimeOf(issued.certChain[0]);
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void renewSafely(), Math.max(1000, renewAt - Date.now()));
    timer.unref();
    for (const fn of listeners) fn(self);
  };
  const renewSafely = async (): Promise<void> => {
    try {
      await renew();
      logger.debug('Mixer serving certificate renewed');
    } catch (err) {
      logger.error({ err }, 'cannot renew the serving certificate; retrying in 10s');
      timer = setTimeout(() => void renewSafely(), 10_000);
      timer.unref();
    }
  };
  await renew();
  ca.onChange(() => void renewSafely());
  return self;
}
