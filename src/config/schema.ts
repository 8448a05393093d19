import { Type } from '@sinclair/typebox';
import type { Static, TSchema } from '@sinclair/typebox';
import { VALUE_TYPES } from '../attributes/types';
import type { ValueType } from '../attributes/types';
import { RouteRuleSpec } from './route-rule-schema';
import { PeerAuthenticationSpec } from './peer-auth-schema';

/** The config kinds Mixer understands (`kind:` of a document). */
export const KINDS = ['AttributeManifest', 'Handler', 'Instance', 'Rule', 'RouteRule', 'PeerAuthentication'] as const;
export type Kind = (typeof KINDS)[number];

export const API_VERSION = 'mixer/v1';

/** Names follow Kubernetes' DNS-1123 subdomain rule, so config can live in ConfigMaps unchanged. */
const Name = Type.String({ pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253 });

const Metadata = Type.Object(
  {
    name: Name,
    namespace: Type.Optional(Name),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  { additionalProperties: false },
);

const AttributeSpec = Type.Object(
  {
    valueType: Type.Unsafe<ValueType>({ type: 'string', enum: [...VALUE_TYPES] }),
    description: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const AttributeManifestSpec = Type.Object(
  {
    name: Type.Optional(Type.String()),
    revision: Type.Optional(Type.String()),
    attributes: Type.Record(Type.String({ pattern: '^[a-zA-Z_][a-zA-Z0-9_.\\-]*$' }), AttributeSpec),
  },
  { additionalProperties: false },
);

/** Where a handler's adapter runs: `none` (default) in Mixer's event loop, `worker` in a worker thread of its own. */
export const HANDLER_ISOLATIONS = ['none', 'worker'] as const;
export type HandlerIsolation = (typeof HANDLER_ISOLATIONS)[number];

export const HandlerSpec = Type.Object(
  {
    adapter: Type.String({ minLength: 1 }),
    params: Type.Optional(Type.Unknown()),
    isolation: Type.Optional(Type.Unsafe<HandlerIsolation>({ type: 'string', enum: [...HANDLER_ISOLATIONS] })),
  },
  { additionalProperties: false },
);

/** An instance field: an expression (text, number or boolean), a map of them, or a switch. */
export const InstanceSpec = Type.Object(
  {
    template: Type.String({ minLength: 1 }),
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);

const Action = Type.Object(
  {
    handler: Type.String({ minLength: 1 }),
    instances: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    name: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const RuleSpec = Type.Object(
  {
    match: Type.Optional(Type.Unknown()),
    actions: Type.Array(Action, { minItems: 1 }),
  },
  { additionalProperties: false },
);

function documentOf<K extends Kind, S extends TSchema>(kind: K, spec: S) {
  return Type.Object(
    {
      apiVersion: Type.Literal(API_VERSION),
      kind: Type.Literal(kind),
      metadata: Metadata,
      spec,
    },
    { additionalProperties: false },
  );
}

/** One schema per kind: gives both the runtime check and the TS type. */
export const DOCUMENT_SCHEMAS = {
  AttributeManifest: documentOf('AttributeManifest', AttributeManifestSpec),
  Handler: documentOf('Handler', HandlerSpec),
  Instance: documentOf('Instance', InstanceSpec),
  Rule: documentOf('Rule', RuleSpec),
  RouteRule: documentOf('RouteRule', RouteRuleSpec),
  PeerAuthentication: documentOf('PeerAuthentication', PeerAuthenticationSpec),
} as const;

export type AttributeManifestDoc = Static<(typeof DOCUMENT_SCHEMAS)['AttributeManifest']>;
export type HandlerDoc = Static<(typeof DOCUMENT_SCHEMAS)['Handler']>;
export type InstanceDoc = Static<(typeof DOCUMENT_SCHEMAS)['Instance']>;
export type RuleDoc = Static<(typeof DOCUMENT_SCHEMAS)['Rule']>;
/** A traffic routing rule for sidecars and the ingress (see docs/mesh.md). */
export type RouteRuleDoc = Static<(typeof DOCUMENT_SCHEMAS)['RouteRule']>;
/** Mutual TLS modes by workload (see docs/security.md). */
export type PeerAuthenticationDoc = Static<(typeof DOCUMENT_SCHEMAS)['PeerAuthentication']>;
export type ConfigDoc = AttributeManifestDoc | HandlerDoc | InstanceDoc | RuleDoc | RouteRuleDoc | PeerAuthenticationDoc;

export const DEFAULT_NAMESPACE = 'default';
