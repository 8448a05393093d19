/**
 * The mesh around Mixer: sidecar proxies, the ingress, the service registry and route rules.
 * See docs/mesh.md.
 */
export { sidecarArgsFromPod, APP_PORT_ANNOTATION, SERVICE_ANNOTATION } from './common/pod-args';
export type { PodLike, SidecarArgsOptions } from './common/pod-args';
export { startSidecar } from './sidecar/sidecar';
export type { RunningSidecar } from './sidecar/sidecar';
export { resolveSidecarOptions, parseLabels } from './sidecar/options';
export type { SidecarOptions, ProxyOptions } from './sidecar/options';
export { startIngress, resolveIngressOptions } from './ingress/ingress';
export type { IngressOptions, RunningIngress } from './ingress/ingress';
export { CheckCache } from './sidecar/check-cache';
export type { CheckAnswerWire, CheckVerdict, ReferencedAttribute } from './sidecar/check-cache';
export type { RouteRulePlan, RoutesAnswer } from '../routing/types';
export type { EndpointSource, ServiceInstance } from './common/registry-types';
export { deriveKey, signRequest } from './common/mesh-key';
