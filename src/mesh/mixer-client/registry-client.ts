import type { Logger } from 'pino';
import { parseDuration } from '../../attributes/duration';
import { deriveKey, signRequest } from '../common/mesh-key';
import type { HttpAnswer, MixerHttp } from './mixer-http';
import type { EndpointSource, ServiceInstance } from '../common/registry-types';

/**
 * A registry call to Mixer, signed with the registry key; unsigned when there is none (with the CA
 * on, the proxy's client certificate authenticates it).
 */
export function signedCall(http: MixerHttp, registryKey: Buffer | undefined, method: 'GET' | 'POST', path: string, body?: string): Promise<HttpAnswer> {
  return http.request(method, path, body, registryKey ? signRequest(registryKey, method, path, body ?? '') : {});
}

/** The registry key of a mesh key; undefined without one. */
export function registryKeyOf(meshKey: string | undefined): Buffer | undefined {
  return meshKey ? deriveKey(meshKey, 'registry') : undefined;
}

function failure(what: string, r: HttpAnswer): Error {
  return new Error(`${what}: Mixer answered ${r.status} ${r.body.toString('utf8').slice(0, 300)}`);
}

interface Entry {
  instances: readonly ServiceInstance[];
  fetchedAt: number;
}

/**
 * Resolves services to instances through Mixer's registry. Answers are kept `refreshMs` (default
 * 1 s); after that the last answer is still served while one refresh runs in the background, so
 * a request never waits for the registry except the first one to a service.
 */
export class RegistryClient implements EndpointSource {
  private readonly key: Buffer | undefined;
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<readonly ServiceInstance[]>>();

  constructor(
    private readonly http: MixerHttp,
    meshKey: string | undefined,
    private readonly logger: Logger,
    private readonly refreshMs = 1000,
  ) {
    this.key = registryKeyOf(meshKey);
  }

  /** The instances known now, refreshing in the background when stale; undefined when never fetched. */
  cached(namespace: string, service: string, now = Date.now()): readonly ServiceInstance[] | undefined {
    const e = this.entries.get(`${namespace}/${service}`);
    if (!e) return undefined;
    if (now - e.fetchedAt >= this.refreshMs) void this.fetch(namespace, service).catch(() => undefined);
    return e.instances;
  }

  async resolve(namespace: string, service: string): Promise<readonly ServiceInstance[]> {
    const hit = this.cached(namespace, service);
    if (hit) return hit;
    return this.fetch(namespace, service);
  }

  private fetch(namespace: string, service: string): Promise<readonly ServiceInstance[]> {
    const key = `${namespace}/${service}`;
    const running = this.inflight.get(key);
    if (running) return running;
    const path = `/v1/registry/services/${encodeURIComponent(service)}?namespace=${encodeURIComponent(namespace)}`;
    const pending = signedCall(this.http, this.key, 'GET', path).then(
      (r) => {
        this.inflight.delete(key);
        if (r.status !== 200) throw failure(`resolving ${key}`, r);
        const instances = (JSON.parse(r.body.toString('utf8')) as { instances: ServiceInstance[] }).instances;
        if (this.entries.size > 1000 && !this.entries.has(key)) this.entries.clear();
        this.entries.set(key, { instances: Object.freeze(instances), fetchedAt: Date.now() });
        return instances;
      },
      (err: unknown) => {
        this.inflight.delete(key);
        this.logger.warn({ err: (err as Error).message, service: key }, 'registry lookup failed; serving the last answer if any');
        throw err;
      },
    );
    this.inflight.set(key, pending);
    return pending;
  }
}

/**
 * Keeps one instance registered: a heartbeat at once, then at the interval Mixer asks for (a
 * third of its TTL), retrying quickly while Mixer is unreachable. `stop` sends a leave.
 */
export class Registration {
  private readonly key: Buffer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Heartbeats Mixer accepted. */
  beats = 0;
  lastError: string | undefined;

  constructor(
    private readonly http: MixerHttp,
    meshKey: string | undefined,
    readonly instance: ServiceInstance,
    private readonly logger: Logger,
  ) {
    this.key = registryKeyOf(meshKey);
  }

  /** Sends the first heartbeat; resolves once Mixer accepted one (retrying every 500 ms). */
  async start(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const next = await this.beat();
      if (next !== undefined) {
        this.schedule(next);
        return;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.beat().then((next) => this.schedule(next ?? 500));
    }, ms);
  }

  /** One heartbeat; the interval Mixer asked for, or undefined when it failed. */
  private async beat(): Promise<number | undefined> {
    try {
      const r = await signedCall(this.http, this.key, 'POST', '/v1/registry/heartbeat', JSON.stringify({ instance: this.instance }));
      if (r.status !== 200) throw failure('heartbeat', r);
      const interval = parseDuration((JSON.parse(r.body.toString('utf8')) as { heartbeatInterval: string }).heartbeatInterval);
      if (this.lastError) this.logger.info('registered with Mixer again');
      this.lastError = undefined;
      this.beats++;
      return interval && interval > 0 ? interval : 3000;
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.lastError) this.logger.warn({ err: msg }, 'heartbeat to Mixer failed; retrying');
      this.lastError = msg;
      return undefined;
    }
  }

  /** Stops heartbeating and tells Mixer the instance is gone (best effort). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const path = '/v1/registry/heartbeat';
    await signedCall(this.http, this.key, 'POST', path, JSON.stringify({ instance: this.instance, leave: true })).catch(() => undefined);
  }
}
