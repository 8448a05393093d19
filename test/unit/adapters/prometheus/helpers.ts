import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { prometheusAdapter } from '../../../../adapters/prometheus';
import type { PrometheusConfig } from '../../../../adapters/prometheus/config';
import type { PrometheusHandler } from '../../../../adapters/prometheus/handler';
import { createAdapterEnv } from '../../../../src/sdk/env';
import type { AdapterEnv, InstanceValue } from '../../../../src/sdk/adapter';
import { validateParams } from '../../../../src/sdk/params';

/** Redis for the tests: `REDIS_URL`, else the local default. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A fresh connection (one per simulated process). */
export function connectRedis(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
}

/** A key prefix no other test uses. */
export function randomPrefix(): string {
  return `mixer-test:prom:${process.pid}:${randomBytes(6).toString('hex')}:`;
}

export { deleteKeys } from '../../../support/redis-keys';

/** Keys under `prefix`, sorted. */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out.sort();
}

/** A `metric` instance. */
export function metric(name: string, value: unknown, dimensions: Record<string, unknown> = {}): InstanceValue {
  return { name, template: 'metric', fields: value === undefined ? { dimensions } : { value, dimensions } };
}

export interface TestHandler {
  handler: PrometheusHandler;
  env: AdapterEnv;
  /** Closes the handler and disposes its env (safe twice). */
  close(): Promise<void>;
}

/** Creates a prometheus handler from params (validated as the config loader would). */
export async function makeHandler(
  params: unknown,
  opts: { redis?: Redis; keyPrefix?: string; role?: 'serve' | 'worker'; handlerName?: string } = {},
): Promise<TestHandler> {
  const r = validateParams(prometheusAdapter, params, 'params');
  assert.deepEqual(r.errors, []);
  const owned = createAdapterEnv({ handlerName: opts.handlerName ?? 'default/prometheus', redis: opts.redis, keyPrefix: opts.keyPrefix, role: opts.role });
  const handler = (await prometheusAdapter.create(r.config as PrometheusConfig, owned.env)) as PrometheusHandler;
  return {
    handler,
    env: owned.env,
    close: async () => {
      handler.close();
      owned.dispose();
    },
  };
}

/** The sample lines (no comments) of a Prometheus text exposition. */
export function sampleLines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

/** The sample lines whose metric name is `name` (exactly, before `{` or a space). */
export function linesOf(text: string, name: string): string[] {
  return sampleLines(text).filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}
