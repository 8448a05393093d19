/**
 * Templates: the shapes of data adapters consume (Istio 1.4 field names, camelCase).
 * An Instance gives each field an expression over the attribute bag; `map` fields take a map of
 * expressions (e.g. metric `dimensions`).
 */
export type TemplateVariety = 'check' | 'report' | 'quota';

export interface TemplateField {
  /** `expr`: one expression; `map`: name → expression. */
  kind: 'expr' | 'map';
  required?: boolean;
}

export interface TemplateInfo {
  name: string;
  variety: TemplateVariety;
  fields: Readonly<Record<string, TemplateField>>;
}

const expr = (required = false): TemplateField => ({ kind: 'expr', required });
const map = (): TemplateField => ({ kind: 'map' });

/** Every template Mixer knows, by name. */
export const TEMPLATES: Readonly<Record<string, TemplateInfo>> = Object.freeze({
  checknothing: { name: 'checknothing', variety: 'check', fields: {} },
  listentry: { name: 'listentry', variety: 'check', fields: { value: expr(true) } },
  quota: { name: 'quota', variety: 'quota', fields: { dimensions: map() } },
  metric: {
    name: 'metric',
    variety: 'report',
    fields: { value: expr(true), dimensions: map(), monitoredResourceType: expr(), monitoredResourceDimensions: map() },
  },
  logentry: {
    name: 'logentry',
    variety: 'report',
    fields: { variables: map(), timestamp: expr(), severity: expr(), monitoredResourceType: expr(), monitoredResourceDimensions: map() },
  },
  tracespan: {
    name: 'tracespan',
    variety: 'report',
    fields: {
      traceId: expr(true),
      spanId: expr(true),
      parentSpanId: expr(),
      spanName: expr(),
      startTime: expr(true),
      endTime: expr(true),
      spanTags: map(),
      httpStatusCode: expr(),
      clientSpan: expr(),
      rewriteClientSpanId: expr(),
      sourceName: expr(),
      sourceIp: expr(),
      destinationName: expr(),
      destinationIp: expr(),
      requestSize: expr(),
      requestTotalSize: expr(),
      responseSize: expr(),
      responseTotalSize: expr(),
      apiProtocol: expr(),
      /** `x-b3-sampled` (or the sampling flag of the single `b3` header): "0" means not sampled. */
      sampled: expr(),
      /** The single `b3` header (`traceid-spanid[-sampled[-parentspanid]]`), used when traceId/spanId are absent. */
      b3: expr(),
    },
  },
  edge: {
    name: 'edge',
    variety: 'report',
    fields: {
      timestamp: expr(),
      sourceWorkloadNamespace: expr(),
      sourceWorkloadName: expr(),
      sourceOwner: expr(),
      sourceUid: expr(),
      sourceApp: expr(),
      sourceVersion: expr(),
      destinationWorkloadNamespace: expr(),
      destinationWorkloadName: expr(),
      destinationOwner: expr(),
      destinationUid: expr(),
      destinationApp: expr(),
      destinationVersion: expr(),
      destinationServiceNamespace: expr(),
      destinationServiceName: expr(),
      contextProtocol: expr(),
      apiProtocol: expr(),
      responseCode: expr(),
      duration: expr(),
      requestBytes: expr(),
      responseBytes: expr(),
      mtls: expr(),
      /** The request's id (x-request-id): a request reported by both sides is counted once. */
      requestId: expr(),
      /** `inbound` (server side) or `outbound` (client side). */
      reporterKind: expr(),
    },
  },
});

export type TemplateName = string;
