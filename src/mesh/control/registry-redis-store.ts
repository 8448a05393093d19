import type { RedisConnection } from '../../base/redis-connect';
import { MixerError } from '../../base/errors';
import type { RegistryStore, ServiceInstance } from '../common/registry-types';

/** Most instances one service lists (bounded everything). */
const MAX_PER_SERVICE = 10_000;

/**
 * The registry in Redis, shared by every Mixer replica. Per service, a sorted set of instance ids
 * scored by expiry (epoch ms); per instance, its JSON under a key with the same TTL. A service's keys
 * share the hash tag `{registry:<ns>/<service>}` (one MULTI touches them; services spread over a
 * cluster): `<prefix>{registry:<ns>/<service>}:svc` and `<prefix>{registry:<ns>/<service>}:inst:<id>`.
 * They expire by themselves, so a registry nobody heartbeats leaves nothing behind.
 */
export class RedisRegistryStore implements RegistryStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
    private readonly now: () => number = Date.now,
  ) {}

  private svcKey(namespace: string, service: string): string {
    return `${this.prefix}{registry:${namespace}/${service}}:svc`;
  }

  private instKey(namespace: string, service: string, id: string): string {
    return `${this.prefix}{registry:${namespace}/${service}}:inst:${id}`;
  }

  async heartbeat(instance: ServiceInstance, ttlMs: number): Promise<void> {
    const svc = this.svcKey(instance.namespace, instance.service);
    await this.run(() =>
      this.redis
        .multi()
        .set(this.instKey(instance.namespace, instance.service, instance.id), JSON.stringify(instance), 'PX', ttlMs)
        .zadd(svc, this.now() + ttlMs, instance.id)
        .pexpire(svc, ttlMs * 2 + 1000)
        .exec(),
    );
  }

  async leave(namespace: string, service: string, id: string): Promise<void> {
    await this.run(() =>
      this.redis
        .multi()
        .zrem(this.svcKey(namespace, service), id)
        .del(this.instKey(namespace, service, id))
        .exec(),
    );
  }

  async list(namespace: string, service: string): Promise<ServiceInstance[]> {
    const svc = this.svcKey(namespace, service);
    const res = await this.run(() =>
      this.redis
        .multi()
        .zremrangebyscore(svc, '-inf', this.now())
        .zrange(svc, 0, MAX_PER_SERVICE - 1)
        .exec(),
    );
    const ids = (res?.[1]?.[1] as string[] | undefined) ?? [];
    if (ids.length === 0) return [];
    const values = await this.run(() => this.redis.mget(ids.map((id) => this.instKey(namespace, service, id))));
    const out: ServiceInstance[] = [];
    for (const v of values ?? []) {
      if (v === null) continue;
      try {
        out.push(JSON.parse(v) as ServiceInstance);
      } catch {
        /* a foreign value under our prefix: skip it */
      }
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new MixerError('MIXER_ERR_NOT_READY', `the registry cannot reach Redis: ${(err as Error).message}`, { retryable: true, cause: err });
    }
  }
}
