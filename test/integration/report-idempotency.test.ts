import { strict as assert } from 'node:assert';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO, startMixer } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { TempConfigDir } from '../support/config-dir';
import { parsePromText, sumOf } from '../support/prom-text';
import { waitFor } from '../support/wait';

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

function bag(i: number, service: string): Record<string, unknown> {
  return {
    'source.workload.name': 'frontend',
    'source.workload.namespace': 'default',
    'destination.service.name': service,
    'destination.service.host': `${service}.default.svc.cluster.local`,
    'destination.workload.name': `${service}-v1`,
    'destination.workload.namespace': 'default',
    'request.method': 'GET',
    'request.path': `/item/${i}`,
    'response.code': 200,
    'context.protocol': 'http',
  };
}

/*
 * A client that sends a batch again (its answer was lost, or a 503 came after the batch was in
 * fact queued) must not have it counted twice: with the same Idempotency-Key, it is delivered once.
 */
for (const mode of ['redis', 'embedded'] as const) {
  describe(`report Idempotency-Key: a batch sent again is counted once (${mode} queue, real mixer serve)${mode === 'redis' ? ' @redis' : ''}`, function () {
    this.timeout(60_000);
    const cfg = new TempConfigDir();
    let mixer: MixerProcess;

    before(async () => {
      copyFileSync(path.join(REPO, 'rules', 'metrics.yaml'), path.join(cfg.dir, 'metrics.yaml'));
      mixer = await startMixer({
        REDIS_URL: mode === 'redis' ? REDIS_URL : '',
        MIXER_KEY_PREFIX: `idem-${randomBytes(4).toString('hex')}:`,
        MIXER_CONFIG_DIR: cfg.dir,
        MIXER_LOG_LEVEL: 'warn',
      });
    });
    after(async () => {
      await mixer?.stop();
      cfg.cleanup();
    });

    const send = (bags: unknown[], key?: string) =>
      fetch(`${mixer.url}/v1/report`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key !== undefined ? { 'idempotency-key': key } : {}) },
        body: JSON.stringify({ attributes: bags }),
      });
    const counted = async (service: string) =>
      sumOf(parsePromText(await (await fetch(`${mixer.url}/metrics`)).text()), 'istio_requests_total', { destination_service_name: service });

    it('the same key three times (at once and after delivery): counted once; another key and no key count again', async () => {
      const service = `idem-${mode}`;
      const batch = Array.from({ length: 20 }, (_, i) => bag(i, service));
      const key = randomUUID();
      const first = await Promise.all([send(batch, key), send(batch, key)]);
      assert.deepEqual(
        first.map((r) => r.status),
        [202, 202],
      );
      await waitFor('the first batch counted', async () => (await counted(service)) >= 20, 20_000, 100);
      assert.equal((await send(batch, key)).status, 202, 'a send after delivery is accepted');
      assert.equal((await send(batch, randomUUID())).status, 202);
      assert.equal((await send(batch)).status, 202);
      await waitFor('the other two batches counted', async () => (await counted(service)) >= 60, 20_000, 100);
      // Anything the repeats would add arrives with the others' deliveries (same queue, same workers): give it time.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await counted(service), 60, 'the keyed batch counted once, the unkeyed and other-keyed ones once each');
    });

    it('a malformed key is a 400 naming the header; the service keeps serving', async () => {
      for (const bad of ['x'.repeat(201), 'has space']) {
        const r = await send([bag(0, 'idem-bad')], bad);
        assert.equal(r.status, 400);
        const body = (await r.json()) as { error: { message: string; details: Array<{ field: string }> } };
        assert.match(body.error.message, /Idempotency-Key/);
        assert.equal(body.error.details[0].field, 'header Idempotency-Key');
      }
      assert.equal((await send([bag(0, 'idem-ok')], 'ok-key')).status, 202);
    });
  });
}
