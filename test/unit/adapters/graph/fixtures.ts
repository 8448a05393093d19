/** Shared inputs of the graph adapter's tests. */
import type { RedisConnection } from '../../../../src/base/redis-connect';
import { graphAdapter } from '../../../../adapters/graph';
import { resolveGraphConfig } from '../../../../adapters/graph/config';
import type { GraphConfig } from '../../../../adapters/graph/config';
import { GraphHandler } from '../../../../adapters/graph/handler';
import { GRAPH_SHARDS, shardOf } from '../../../../adapters/graph/redis-store';
import { spreadTags } from '../../../../src/base/hash-tags';
import { toGraphJson } from '../../../../adapters/graph/render';
import { DEFAULT_WINDOW, windowRange } from '../../../../adapters/graph/windows';
import type { WindowName } from '../../../../adapters/graph/windows';
import type { InstanceValue } from '../../../../src/sdk/adapter';
import { createAdapterEnv } from '../../../../src/sdk/env';
import type { OwnedAdapterEnv } from '../../../../src/sdk/env';
import { validateParams } from '../../../../src/sdk/params';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** An hour boundary + 35 s: window arithmetic below is relative to it. */
export const T0 = 1_699_999_200_000 + 35_000;

/** A workload's fields on one side of an edge. */
export interface Side {
  ns: string;
  workload: string;
  app?: string;
  version?: string;
}

export const INGRESS: Side = { ns: 'istio-system', workload: 'istio-ingressgateway', app: 'istio-ingressgateway' };
export const FRONTEND: Side = { ns: 'shop', workload: 'frontend-v1', app: 'frontend', version: 'v1' };
export const BACKEND_V1: Side = { ns: 'shop', workload: 'backend-v1', app: 'backend', version: 'v1' };
export const BACKEND_V2: Side = { ns: 'shop', workload: 'backend-v2', app: 'backend', version: 'v2' };

/** An `edge` instance from `src` (undefined: unknown caller) to `dst` behind service `service`. */
export function edge(src: Side | undefined, dst: Side | undefined, service: string, more: Record<string, unknown> = {}): InstanceValue {
  const fields: Record<string, unknown> = { destinationServiceName: service, destinationServiceNamespace: dst?.ns ?? 'shop', contextProtocol: 'http' };
  if (src) {
    fields.sourceWorkloadName = src.workload;
    fields.sourceWorkloadNamespace = src.ns;
    if (src.app) fields.sourceApp = src.app;
    if (src.version) fields.sourceVersion = src.version;
  }
  if (dst) {
    fields.destinationWorkloadName = dst.workload;
    fields.destinationWorkloadNamespace = dst.ns;
    if (dst.app) fields.destinationApp = dst.app;
    if (dst.version) fields.destinationVersion = dst.version;
  }
  return { name: 'default/graphedge', template: 'edge', fields: { ...fields, ...more } };
}

/** `n` copies of an instance. */
export function times(n: number, inst: InstanceValue): InstanceValue[] {
  return Array.from({ length: n }, () => inst);
}

/** A unique key prefix for one test file. */
export function testPrefix(name: string): string {
  return `mixer-test:graph:${name}:${process.pid}:${Date.now()}:${Math.random().toString(36).slice(2, 8)}:`;
}

export { deleteKeys } from '../../../support/redis-keys';

/** A mutable clock for handlers under test. */
export class Clock {
  constructor(public t: number = T0) {}
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Creates graph handlers as the runtime would (same handler name ⇒ same key prefix) and cleans up after. */
export class Harness {
  private readonly envs: OwnedAdapterEnv[] = [];
  private readonly handlers: GraphHandler[] = [];

  constructor(
    readonly keyPrefix: string,
    readonly redis: () => RedisConnection | undefined,
  ) {}

  handler(clock: Clock, params: unknown = {}, redis: RedisConnection | undefined = this.redis()): { handler: GraphHandler; env: OwnedAdapterEnv } {
    const r = validateParams(graphAdapter, params, 'params');
    if (r.errors.length > 0) throw new Error(JSON.stringify(r.errors));
    const env = createAdapterEnv({ handlerName: 'default/graph', redis, keyPrefix: this.keyPrefix });
    this.envs.push(env);
    const handler = new GraphHandler(resolveGraphConfig(r.config as GraphConfig), env.env, { now: clock.now });
    this.handlers.push(handler);
    return { handler, env };
  }

  async cleanup(): Promise<void> {
    for (const h of this.handlers.splice(0)) h.close();
    for (const e of this.envs.splice(0)) e.dispose();
  }
}

interface GraphJson {
  timestamp: number;
  duration: number;
  window: string;
  omittedEdges: number;
  elements: {
    nodes: Array<{ data: Record<string, string> }>;
    edges: Array<{ data: Record<string, string | number> & { id: string; source: string; target: string } }>;
  };
}

/**
 * The graph JSON of `window` as of the handler's clock, read afresh (the `/v1/graph` route would
 * answer from its per-bucket cache; the tests of counting report and read within one bucket).
 */
export async function graphJson(handler: GraphHandler, query: { window?: WindowName } = {}): Promise<GraphJson> {
  const window = query.window ?? DEFAULT_WINDOW;
  const view = await handler.graph(window);
  return JSON.parse(JSON.stringify(toGraphJson(view, windowRange(window, view.now).windowMs))) as GraphJson;
}

/** Calls the handler's `/v1/graph` route and returns the JSON body. */
export async function routeJson(handler: GraphHandler, query: Record<string, string> = {}): Promise<GraphJson> {
  const answer = await handler.routes['/v1/graph'](query);
  return (typeof answer.body === 'string' ? JSON.parse(answer.body) : answer.body) as GraphJson;
}

/** The edge from `source` to `target` in a graph JSON, or undefined. */
export function edgeOf(g: GraphJson, source: string, target: string): Record<string, string | number> | undefined {
  return g.elements.edges.find((e) => e.data.source === source && e.data.target === target)?.data;
}

/** `n` job ids whose increments go to the same Redis shard of the graph state. */
export function jobsOfOneShard(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (shardOf(`job-${i}`) === shardOf('job-0')) out.push(`job-${i}`);
  return out;
}

/** The key bases (`<keyPrefix>{graph:<tag>}:`) of every shard of the graph state. */
export function graphShardBases(keyPrefix: string): string[] {
  return spreadTags('graph:', GRAPH_SHARDS).map((tag) => `${keyPrefix}{${tag}}:`);
}
