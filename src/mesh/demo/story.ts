/**
 * The files and the text of the demo's story (from the seed notes): deny frontend → backend and
 * allow it again, pin traffic to v1, send mobile clients to v2, retries, a 90/10 split.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

const route = (name: string, spec: string): string =>
  `apiVersion: mixer/v1\nkind: RouteRule\nmetadata: {name: ${name}, namespace: default}\nspec:\n  destination: {name: backend}\n${spec}`;

/** Example files the story uses, by file name. */
export const STORY_FILES: Readonly<Record<string, string>> = {
  'deny-frontend.yaml': readFileSync(path.resolve(__dirname, '..', '..', '..', '..', 'docs', 'examples', 'deny-frontend-to-backend.yaml'), 'utf8'),
  'route-all-v1.yaml': `# Every request to backend goes to v1.\n${route('backend-default', '  precedence: 1\n  route:\n    - labels: {version: v1}\n      weight: 100\n')}`,
  'route-mobile-v2.yaml': `# Mobile clients go to v2 (precedence 2 beats the v1 rule).\n${route('backend-mobile', '  precedence: 2\n  match:\n    request:\n      headers:\n        user-agent: {regex: ".*Mobile.*"}\n  route:\n    - labels: {version: v2}\n')}`,
  'route-retry.yaml': `# v1 only, with retries and a timeout.\n${route('backend-default', '  precedence: 1\n  route:\n    - labels: {version: v1}\n  httpReqTimeout: {simpleTimeout: {timeout: 3s}}\n  httpReqRetries:\n    simpleRetry: {attempts: 2, perTryTimeout: 1s}\n')}`,
  'route-90-10.yaml': `# A canary: 10% of requests to v2.\n${route('backend-default', '  precedence: 1\n  route:\n    - labels: {version: v1}\n      weight: 90\n    - labels: {version: v2}\n      weight: 10\n')}`,
};

/** Writes the story files into `dir`. */
export function writeStoryFiles(dir: string): void {
  for (const [name, text] of Object.entries(STORY_FILES)) writeFileSync(path.join(dir, name), text);
}

/** What to look at and what to type, once everything runs. */
export function storyText(o: {
  mixerUrl: string;
  ingressUrl: string;
  adminToken: string;
  storyDir: string;
  configDir: string;
  zipkinUrl?: string;
  statusPages: string[];
  redis: string;
  /** With mutual TLS on: the mesh root, for clients of Mixer's https port. */
  rootFile?: string;
  /** The demo's mesh key (random per run), for `mixctl ca sign`. */
  meshKey?: string;
}): string {
  const f = (name: string): string => path.join(o.storyDir, name);
  const tls = o.rootFile
    ? `
Mutual TLS (STRICT): every proxy holds a 24 h SPIFFE certificate from Mixer's CA; /metrics shows connection_security_policy="mutual_tls".
  Mixer speaks https: curl --cacert ${o.rootFile} ${o.mixerUrl}/metrics   (mixctl: export NODE_EXTRA_CA_CERTS=${o.rootFile})
  mixctl ca root --ca-file ${o.rootFile}        the trusted roots;  mixctl ca inspect -f <cert.pem>  what a certificate says
  Check and report need a client certificate: mixctl ca sign --service-account tester --ca-file ${o.rootFile}
                   (with MIXER_MESH_KEY=${o.meshKey ?? '<the mesh key>'}: the demo's; production proxies get only their own token)
  A plaintext call to a sidecar's inbound port is refused (401); deny by identity with a rule on source.principal.
`
    : '';
  return `
The mesh is up: ingress → frontend → backend v1 and v2, every app with its sidecar, Mixer (${o.redis}).
A traffic generator sends GET /ping to the ingress (a quarter of it from "mobile" clients).

Where to look
  curl ${o.ingressUrl}/ping                    the app, through the ingress
  ${o.mixerUrl}/graph                   the service graph (page); JSON: ${o.mixerUrl}/v1/graph
  ${o.mixerUrl}/metrics                 Prometheus metrics (istio_requests_total, ...)
  ${o.zipkinUrl ? `${o.zipkinUrl}  Zipkin: every request is one trace` : 'Zipkin: set ZIPKIN_URL to send traces (e.g. a local Zipkin on :9411)'}
  ${o.statusPages.join('\n  ')}

${tls}
The story (mixctl talks to Mixer's config API: export MIXER_URL=${o.mixerUrl} MIXER_ADMIN_TOKEN=${o.adminToken})
${o.rootFile ? '' : '  Ask Mixer:       mixctl check --stringmap_attributes source.labels=app:frontend -s destination.service.name=backend\n'}  Deny a call:     mixctl rule create global backend.default.svc.cluster.local -f ${f('deny-frontend.yaml')}
                   (requests now fail with 403, counted in /metrics with response_code="403")
  Allow it again:  mixctl rule delete global backend.default.svc.cluster.local -f ${f('deny-frontend.yaml')}
  Pin to v1:       mixctl apply -f ${f('route-all-v1.yaml')}
  Mobile to v2:    mixctl apply -f ${f('route-mobile-v2.yaml')}
  Retries:         mixctl apply -f ${f('route-retry.yaml')}
  A 90/10 canary:  mixctl delete -f ${f('route-mobile-v2.yaml')} && mixctl apply -f ${f('route-90-10.yaml')}
Without mixctl, copy a file into the config directory (and remove it to undo); Mixer reloads it at once:
  cp ${f('route-all-v1.yaml')} ${o.configDir}/
Nothing restarts: sidecars pick up new rules within a second.

Ctrl-C stops everything.
`;
}
