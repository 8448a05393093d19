import { strict as assert } from 'node:assert';
import { copyFileSync } from 'node:fs';
import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { freePort, REPO, startMixer } from '../support/processes';
import { TempConfigDir } from '../support/config-dir';
import { grpcClients } from '../support/grpc-clients';
import { HttpSink } from '../support/http-sink';
import { waitFor } from '../support/wait';

/** An access-log entry carrying its own B3 trace, so each one becomes a Zipkin span. */
function entry(i: number) {
  const spanId = (0x1000 + i).toString(16).padStart(16, '0');
  return {
    common_properties: {
      upstream_cluster: 'inbound|8080|http|backend.default.svc.cluster.local',
      start_time: { seconds: Math.floor(Date.now() / 1000) },
      time_to_last_downstream_tx_byte: { nanos: 3_000_000 },
    },
    request: {
      request_method: 'GET',
      authority: 'backend',
      path: `/x/${i}`,
      request_id: `shutdown-${i}`,
      request_headers: { 'x-b3-traceid': spanId.repeat(2), 'x-b3-spanid': spanId, 'x-b3-sampled': '1' },
    },
    response: { response_code: { value: 200 } },
  };
}

describe('graceful shutdown of the gRPC listener (embedded queue)', function () {
  this.timeout(60_000);

  it('SIGTERM flushes and answers an open access-log stream, then delivers its entries before exiting', async () => {
    const cfg = new TempConfigDir();
    copyFileSync(path.join(REPO, 'rules', 'tracing.yaml'), path.join(cfg.dir, 'tracing.yaml'));
    const sink = new HttpSink();
    sink.delayMs = 200; // a slow Zipkin: work is still in hand when the signal comes
    await sink.start();
    const grpcPort = await freePort();
    const mixer = await startMixer({
      REDIS_URL: '',
      ZIPKIN_URL: sink.url,
      MIXER_CONFIG_DIR: cfg.dir,
      MIXER_GRPC_PORT: String(grpcPort),
      MIXER_REPORT_CONCURRENCY: '1',
    });
    const c = grpcClients(grpcPort);
    try {
      let answer: { err: grpc.ServiceError | null; value: unknown } | undefined;
      const call = (c.als as any).StreamAccessLogs((err: grpc.ServiceError | null, value: unknown) => (answer = { err, value }));
      call.on('error', () => undefined);
      // Envoy keeps its stream open: 150 entries in three messages, and no end.
      for (let m = 0; m < 3; m++)
        call.write({
          ...(m === 0 ? { identifier: { node: { id: 'backend-envoy', cluster: 'backend' } } } : {}),
          http_logs: { log_entry: Array.from({ length: 50 }, (_, i) => entry(m * 50 + i)) },
        });
      await waitFor('the first batch to reach Zipkin', () => sink.received.length > 0, 10_000);
      const code = await mixer.stop('SIGTERM');
      assert.equal(code, 0, mixer.output());
      await waitFor('the stream answer', () => answer !== undefined, 5000);
      assert.equal(answer!.err, null, 'the open stream is answered OK: everything it sent was kept');
      const ids = new Set((sink.received as Array<{ id: string }>).map((s) => s.id));
      for (let i = 0; i < 150; i++) assert.ok(ids.has((0x1000 + i).toString(16).padStart(16, '0')), `span of entry ${i} delivered before exit`);
    } finally {
      c.close();
      await mixer.stop('SIGKILL');
      await sink.stop();
      cfg.cleanup();
    }
  });
});
