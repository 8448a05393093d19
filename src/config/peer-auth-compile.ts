/** Compiles PeerAuthentication documents (schema: `peer-auth-schema.ts`). */
import type { ErrorDetail } from '../base/errors';
import type { PeerAuthPlan } from '../routing/types';
import { detailAt } from './source';
import type { ConfigObject } from './source';
import type { PeerAuthenticationSpecValue } from './peer-auth-schema';

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
