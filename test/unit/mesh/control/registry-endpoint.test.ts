import { strict as assert } from 'node:assert';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { sendError } from '../../../../src/api/http/respond';
import { deriveKey, signRequest } from '../../../../src/mesh/common/mesh-key';
import { registryRoutes } from '../../../../src/mesh/control/registry-endpoint';
import { MemoryRegistryStore } from '../../../../src/mesh/control/registry-memory-store';

const KEY = 'unit-test-mesh-key-0123456789';
const instance = {
  id: 'backend-v1-1',
  service: 'backend',
  namespace: 'default',
  workload: 'backend-v1',
  labels: { app: 'backend', version: 'v1' },
  address: '127.0.0.1:15006',
  principal: 'spiffe://cluster.local/ns/default/sa/backend',
};

async function serve(meshKey: string | undefined): Promise<{ url: string; server: Server }> {
  const app = express();
  app.use(registryRoutes({ store: new MemoryRegistryStore(), meshKey, ttlMs: 9000 }));
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => void sendError(res, err));
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function call(url: string, method: 'GET' | 'POST', path: string, body: string | undefined, key: string | undefined, at = Date.now()) {
  const headers: Record<string, string> = key ? signRequest(deriveKey(key, 'registry'), method, path, body ?? '', at) : {};
  const r = await fetch(url + path, { method, body, headers });
  return { status: r.status, body: (await r.json()) as any };
}

describe('mesh/control/registry-endpoint', () => {
  let s: { url: string; server: Server };
  before(async () => {
    s = await serve(KEY);
  });
  after(() => s.server.close());

  it('a signed heartbeat registers; a signed lookup lists it; a leave removes it', async () => {
    const hb = await call(s.url, 'POST', '/v1/registry/heartbeat', JSON.stringify({ instance }), KEY);
    assert.equal(hb.status, 200);
    assert.deepEqual(hb.body, { ttl: '9s', heartbeatInterval: '3s' });
    const list = await call(s.url, 'GET', '/v1/registry/services/backend?namespace=default', undefined, KEY);
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.instances, [instance]);
    await call(s.url, 'POST', '/v1/registry/heartbeat', JSON.stringify({ instance, leave: true }), KEY);
    assert.deepEqual((await call(s.url, 'GET', '/v1/registry/services/backend', undefined, KEY)).body.instances, []);
  });

  it('refuses unsigned, wrongly signed and stale calls (an open registry would let anyone hijack traffic)', async () => {
    const body = JSON.stringify({ instance });
    for (const [key, at, re] of [
      [undefined, Date.now(), /missing x-mesh-timestamp/],
      ['another-mesh-key-0123456789', Date.now(), /wrong signature/],
      [KEY, Date.now() - 60_000, /stale/],
    ] as const) {
      const r = await call(s.url, 'POST', '/v1/registry/heartbeat', body, key, at);
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 'MIXER_ERR_UNAUTHORIZED');
      assert.match(r.body.error.message, re);
    }
    assert.equal((await call(s.url, 'GET', '/v1/registry/services/backend', undefined, undefined)).status, 401);
    assert.deepEqual((await call(s.url, 'GET', '/v1/registry/services/backend', undefined, KEY)).body.instances, [], 'nothing was registered');
  });

  it('rejects a bad instance with every field named', async () => {
    const r = await call(s.url, 'POST', '/v1/registry/heartbeat', JSON.stringify({ instance: { ...instance, address: 'x', service: 'B' } }), KEY);
    assert.equal(r.status, 400);
    assert.deepEqual(r.body.error.details.map((d: { field: string }) => d.field).sort(), ['instance.address', 'instance.service']);
  });

  it('is off (403) without a mesh key, not open', async () => {
    const off = await serve(undefined);
    try {
      const r = await call(off.url, 'POST', '/v1/registry/heartbeat', JSON.stringify({ instance }), KEY);
      assert.equal(r.status, 403);
      assert.equal(r.body.error.code, 'MIXER_ERR_API_DISABLED');
    } finally {
      off.server.close();
    }
  });
});
