/**
 * The `PeerAuthentication` config kind, in the shape of Istio's security/v1beta1 one: which
 * workloads take which mutual TLS mode. Served to proxies on `GET /v1/routes` beside the route
 * rules, hot-reloaded like them.
 *
 * ```yaml
 * apiVersion: mixer/v1
 * kind: PeerAuthentication
 * metadata: {name: default, namespace: istio-system}   # the root namespace: the whole mesh
 * spec:
 *   selector: {matchLabels: {app: backend}}            # optional: these workloads of the namespace only
 *   mtls: {mode: STRICT}                               # STRICT | PERMISSIVE | DISABLE | UNSET
 * ```
 */
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import type { ErrorDetail } from '../base/errors';
import type { PeerAuthPlan } from '../routing/types';
import { detailAt } from './source';
import type { ConfigObject } from './source';

/** `spec` of a PeerAuthentication document. */
export const PeerAuthenticationSpec = Type.Object(
  {
    selector: Type.Optional(
      Type.Object({ matchLabels: Type.Record(Type.String({ minLength: 1 }), Type.String(), { minProperties: 1 }) }, { additionalProperties: false }),
    ),
    mtls: Type.Optional(
      Type.Object(
        { mode: Type.Union([Type.Literal('STRICT'), Type.Literal('PERMISSIVE'), Type.Literal('DISABLE'), Type.Literal('UNSET')]) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export type PeerAuthenticationSpecValue = Static<typeof PeerAuthenticationSpec>;

/**
 * Every `PeerAuthentication` among `objects`, normalised (a missing `mtls` is `UNSET`), by
 * namespace and name. A namespace holding two selector-less policies is an error (which applies
 * would be a guess).
 */
export function compilePeerAuthentications(objects: readonly ConfigObject[]): { policies: readonly PeerAuthPlan[]; errors: ErrorDetail[] } {
  const errors: ErrorDetail[] = [];
  const policies: PeerAuthPlan[] = [];
  const wide = new Map<string, string>();
  for (const o of objects) {
    if (o.kind !== 'PeerAuthentication') continue;
    const spec = (o.doc as unknown as { spec: PeerAuthenticationSpecValue }).spec;
    const matchLabels = spec.selector?.matchLabels;
    if (!matchLabels) {
      const other = wide.get(o.namespace);
      if (other) errors.push(detailAt(o, ['spec'], `namespace ${o.namespace} already has a PeerAuthentication without a selector (${other}); keep one`));
      wide.set(o.namespace, o.name);
    }
    policies.push({
      ref: `${o.namespace}/${o.name}`,
      name: o.name,
      namespace: o.namespace,
      ...(matchLabels ? { matchLabels } : {}),
      mode: spec.mtls?.mode ?? 'UNSET',
    });
  }
  policies.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  return { policies: Object.freeze(policies), errors };
}
