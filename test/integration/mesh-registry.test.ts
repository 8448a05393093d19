import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Redis } from 'ioredis';
import { deriveKey, signRequest } from '../../src/mesh/common/mesh-key';
import { MIXER_BIN, freePort, spawnNode, startMixer } from '../support/processes';
import type { MixerProcess, TestProcess } from '../support/processes';
import { DEMO_APP, getJson, startMeshService } from '../support/mesh';
import type { MeshService } from '../support/mesh';
import { waitFor } from '../support/wait';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether a TCP connection to host:port is accepted (false when refused). */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? resolve(false) : reject(err)));
  });
}

describe('mesh: the registry drops silent instances; sidecars fail closed (or open) without Mixer and keep the outbound port local', function () {
  this.timeout(120_000);
  const meshKey = randomBytes(24).toString('hex');

  describe('registry TTL (Redis)', () => {
    const prefix = `mixer-test:${randomBytes(4).toString('hex')}:`;
    const redis = new Redis(REDIS_URL, { lazyConnect: true });
    let mixer: MixerProcess;
    let backend: MeshService;

    after(async () => {
      await backend?.stop();
      await mixer?.stop();
      if (redis.status !== 'ready') await redis.connect();
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    });

    it('lists a heartbeating instance, and drops it once its sidecar dies without leaving', async () => {
      const env = { REDIS_URL, MIXER_KEY_PREFIX: prefix, MIXER_MESH_KEY: meshKey, MIXER_REGISTRY_TTL: '2s', MIXER_LOG_LEVEL: 'warn' };
      mixer = await startMixer(env);
      backend = await startMeshService(env, mixer.url, 'backend', 'v1');
      const path = '/v1/registry/services/backend?namespace=default';
      const list = async () => {
        const r = await fetch(mixer.url + path, { headers: signRequest(deriveKey(meshKey, 'registry'), 'GET', path, '') });
        return ((await r.json()) as { instances: Array<{ workload: string; address: string }> }).instances;
      };
      const instances = await list();
      assert.deepEqual(
        instances.map((i) => [i.workload, i.address]),
        [['backend-v1', `127.0.0.1:${backend.inboundPort}`]],
      );
      assert.ok((await redis.connect().then(() => redis.keys(`${prefix}{registry:*`))).length >= 2, 'kept in Redis under the key prefix');
      // Heartbeats keep it listed past the TTL.
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal((await list()).length, 1);
      await backend.sidecar.stop('SIGKILL');
      await waitFor('the silent instance to be dropped', async () => (await list()).length === 0, 15_000, 200);
    });
  });

  describe('fail policy; listen addresses', () => {
    const procs: TestProcess[] = [];
    after(async () => {
      await Promise.all(procs.map((p) => p.stop()));
    });

    async function sidecarWithoutMixer(extra: string[]): Promise<{ inbound: number; outbound: number; admin: number }> {
      const [appPort, inbound, outbound, admin, deadMixer] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
      const env = { MIXER_MESH_KEY: meshKey, MIXER_LOG_LEVEL: 'error' };
      procs.push(spawnNode([DEMO_APP, '--role', 'backend', '--port', String(appPort)], env));
      const p = spawnNode(
        [
          MIXER_BIN,
          'sidecar',
          '--service',
          'backend',
          '--app-port',
          String(appPort),
          '--inbound-port',
          String(inbound),
          '--outbound-port',
          String(outbound),
          '--admin-port',
          String(admin),
          '--mixer',
          `http://127.0.0.1:${deadMixer}`,
          '--permissive',
          ...extra,
        ],
        env,
      );
      procs.push(p);
      await waitFor('the sidecar (it starts without Mixer)', async () => (await getJson(`http://127.0.0.1:${admin}/status`)).registered === false, 30_000, 200);
      return { inbound, outbound, admin };
    }

    it('fails closed by default (503 UNAVAILABLE, as Istio), and open with --fail-open', async () => {
      const [closed, open] = await Promise.all([sidecarWithoutMixer([]), sidecarWithoutMixer(['--fail-open'])]);
      const c = await fetch(`http://127.0.0.1:${closed.inbound}/ping`);
      assert.equal(c.status, 503);
      assert.match(await c.text(), /^UNAVAILABLE:Mixer is unavailable/);
      const o = await fetch(`http://127.0.0.1:${open.inbound}/ping`);
      assert.equal(o.status, 200);
      assert.equal(((await o.json()) as { service: string }).service, 'backend');
      const s = await getJson(`http://127.0.0.1:${closed.admin}/status`);
      assert.ok(s.checkCache.failures >= 1 && s.checkCache.entries === 0, 'nothing cached from a failure');
    });

    it('with --host 0.0.0.0 (as kube-inject sets it) the outbound port still takes only local callers, unless --outbound-host says otherwise', async () => {
      // Another address of this machine stands for "another pod": a non-loopback one, else 127.0.0.2
      // (on Linux all of 127/8 reaches this host, and a listener on 127.0.0.1 does not answer it).
      const own =
        Object.values(networkInterfaces())
          .flat()
          .find((a) => a && a.family === 'IPv4' && !a.internal)?.address ?? '127.0.0.2';
      const [pod, open] = await Promise.all([
        sidecarWithoutMixer(['--host', '0.0.0.0']),
        sidecarWithoutMixer(['--host', '0.0.0.0', '--outbound-host', '0.0.0.0']),
      ]);
      assert.equal(await connects(own, pod.inbound), true, 'other pods reach the inbound port');
      assert.equal(await connects('127.0.0.1', pod.outbound), true, 'the app beside it reaches the outbound port');
      assert.equal(await connects(own, pod.outbound), false, 'nobody else does');
      assert.equal(await connects(own, open.outbound), true, '--outbound-host 0.0.0.0 opens it');
      assert.deepEqual((await getJson(`http://127.0.0.1:${pod.admin}/status`)).listen, { inbound: '0.0.0.0', outbound: '127.0.0.1' });
    });
  });
});
