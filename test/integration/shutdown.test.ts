import { strict as assert } from 'node:assert';
import { copyFileSync } from 'node:fs';
import * as path from 'node:path';
import { startMixer, postJson, REPO } from '../support/processes';
import { TempConfigDir } from '../support/config-dir';
import { HttpSink } from '../support/http-sink';
import { frontendToBackend, batches } from '../support/traffic';

describe('graceful shutdown (embedded queue)', function () {
  this.timeout(60_000);

  it('SIGTERM delivers every report already answered 202 before the process exits', async () => {
    const cfg = new TempConfigDir();
    copyFileSync(path.join(REPO, 'rules', 'tracing.yaml'), path.join(cfg.dir, 'tracing.yaml'));
    const sink = new HttpSink();
    sink.delayMs = 300; // a slow Zipkin: deliveries are still in hand when the signal comes
    await sink.start();
    const mixer = await startMixer({ REDIS_URL: '', ZIPKIN_URL: sink.url, MIXER_CONFIG_DIR: cfg.dir, MIXER_REPORT_CONCURRENCY: '1' });
    try {
      const reports = frontendToBackend(400, 11);
      for (const b of batches(reports, 50)) assert.equal((await postJson(`${mixer.url}/v1/report`, { attributes: b.map((r) => r.bag) })).status, 202);
      const pending = reports.filter((r) => r.sampled).length;
      assert.ok(sink.received.length < pending, 'work is still queued when the signal is sent');
      const code = await mixer.stop('SIGTERM');
      assert.equal(code, 0, mixer.output());
      const ids = new Set((sink.received as Array<{ id: string }>).map((s) => s.id));
      for (const r of reports.filter((x) => x.sampled)) assert.ok(ids.has(r.spanId), `span ${r.spanId} delivered before exit`);
      assert.match(mixer.output(), /draining report work in hand/);
    } finally {
      await mixer.stop('SIGKILL');
      await sink.stop();
      cfg.cleanup();
    }
  });
});
