import { MixerError } from '../../base/errors';
import type { RegistryStore, ServiceInstance } from '../common/registry-types';

/** Most instances one process keeps (bounded everything). */
export const MAX_INSTANCES = 50_000;

/** The registry of an embedded Mixer (no Redis): expiry is checked on read, so no timer runs. */
export class MemoryRegistryStore implements RegistryStore {
  private readonly services = new Map<string, Map<string, { instance: ServiceInstance; expiresAt: number }>>();
  private size = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async heartbeat(instance: ServiceInstance, ttlMs: number): Promise<void> {
    const key = `${instance.namespace}/${instance.service}`;
    let m = this.services.get(key);
    if (!m) this.services.set(key, (m = new Map<string, { instance: ServiceInstance; expiresAt: number }>()));
    if (!m.has(instance.id)) {
      if (this.size >= MAX_INSTANCES) this.sweep();
      if (this.size >= MAX_INSTANCES) throw new MixerError('MIXER_ERR_CONFLICT', `the registry is full (${MAX_INSTANCES} instances)`);
      this.size++;
    }
    m.set(instance.id, { instance, expiresAt: this.now() + ttlMs });
  }

  async leave(namespace: string, service: string, id: string): Promise<void> {
    const m = this.services.get(`${namespace}/${service}`);
    if (m?.delete(id)) this.size--;
  }

  async list(namespace: string, service: string): Promise<ServiceInstance[]> {
    const m = this.services.get(`${namespace}/${service}`);
    if (!m) return [];
    const now = this.now();
    const out: ServiceInstance[] = [];
    for (const [id, e] of m) {
      if (e.expiresAt <= now) {
        m.delete(id);
        this.size--;
      } else out.push(e.instance);
    }
    if (m.size === 0) this.services.delete(`${namespace}/${service}`);
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, m] of this.services) {
      for (const [id, e] of m) {
        if (e.expiresAt <= now) {
          m.delete(id);
          this.size--;
        }
      }
      if (m.size === 0) this.services.delete(key);
    }
  }
}
