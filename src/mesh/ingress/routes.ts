/**
 * The ingress's edge routes: which service answers a host and path. Written
 * `[host]/path-prefix=service[.namespace]`, e.g. `/=frontend` (every host, every path) or
 * `shop.example.com/api=backend.shop`. A route naming a host wins over one for every host; among
 * those, the longest path prefix wins (a plain string prefix, as Istio's `prefix`), matched against
 * the normalised path (see normalise-path.ts), which is also the path sent on.
 */

/** One edge route. */
export interface IngressRoute {
  /** Lower-case host without port; undefined: any host. */
  host?: string;
  pathPrefix: string;
  service: string;
  namespace: string;
}

const SPEC = /^([^/=\s]*)(\/[^=\s]*)=([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?:\.([a-z0-9]([-a-z0-9]*[a-z0-9])?))?$/;

/** Parses one `[host]/prefix=service[.namespace]`; throws with the expected form on a bad one. */
export function parseIngressRoute(spec: string, namespace: string): IngressRoute {
  const m = SPEC.exec(spec.trim());
  if (!m) throw new Error(`ingress route ${JSON.stringify(spec)} must look like [host]/path-prefix=service[.namespace], e.g. /=frontend`);
  const route: IngressRoute = { pathPrefix: m[2], service: m[3], namespace: m[5] ?? namespace };
  if (m[1] !== '' && m[1] !== '*') route.host = m[1].toLowerCase();
  return route;
}

/** Parses a list (flags, or MIXER_INGRESS_ROUTES split on commas) and orders it for matching. */
export function parseIngressRoutes(specs: readonly string[], namespace: string): IngressRoute[] {
  return specs
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => parseIngressRoute(s, namespace))
    .sort((a, b) => ((a.host === undefined) === (b.host === undefined) ? b.pathPrefix.length - a.pathPrefix.length : a.host === undefined ? 1 : -1));
}

/** The route for a request, or undefined (the ingress answers 404). */
export function matchIngressRoute(routes: readonly IngressRoute[], hostHeader: string | undefined, path: string): IngressRoute | undefined {
  const host = hostHeader?.replace(/:\d+$/, '').toLowerCase();
  for (const r of routes) {
    if (r.host !== undefined && r.host !== host) continue;
    if (path.startsWith(r.pathPrefix)) return r;
  }
  return undefined;
}
