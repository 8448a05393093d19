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
