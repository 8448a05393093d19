import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { zipkinAdapter } from '../../../../adapters/zipkin';
import type { ZipkinConfig } from '../../../../adapters/zipkin/config';
import { createAdapterEnv } from '../../../../src/sdk/env';
import type { AdapterEnv, Handler, InstanceValue, ReportContext } from '../../../../src/sdk/adapter';
import { validateParams } from '../../../../src/sdk/params';
import { loadSpanListValidator } from './zipkin-schema';
import type { SpanSink } from './span-sink';

export const TRACE = '463ac35c9f6413ad48485a3953bb6124';
export const SPAN = 'a2fb4a1d1a96d312';
export const PARENT = '0020000000000001';
/** 2024-05-01T12:00:00.000250Z in epoch ms (sub-ms precision kept, as TIMESTAMP attributes are). */
export const START_MS = Date.UTC(2024, 4, 1, 12) + 0.25;
export const START_US = Date.UTC(2024, 4, 1, 12) * 1000 + 250;

export const CTX: ReportContext = { jobId: 'job-1', attempt: 1 };

/** A `tracespan` instance with valid ids and times, the given fields on top. */
export function tracespan(fields: Record<string, unknown> = {}): InstanceValue {
  return {
    name: 'default/tracespan',
    template: 'tracespan',
    fields: { traceId: TRACE, spanId: SPAN, startTime: START_MS, endTime: START_MS + 12.5, ...fields },
  };
}

/** A handler under test, its env, and the log lines it wrote. */
export interface Harness {
  handler: Handler;
  env: AdapterEnv;
  logs: Array<Record<string, unknown>>;
}

const live: Array<{ handler: Handler; dispose: () => void }> = [];
let counter = 0;

/** Creates a zipkin handler from params (validated, defaults applied) with a logger that records lines. */
export async function createZipkin(params: Record<string, unknown>): Promise<Harness> {
  const r = validateParams(zipkinAdapter, params, 'params');
  assert.deepEqual(r.errors, []);
  const logs: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  counter += 1;
  const owned = createAdapterEnv({ handlerName: `default/zipkin-${counter}`, logger: pino({ level: 'debug' }, stream) });
  const handler = await zipkinAdapter.create(r.config as ZipkinConfig, owned.env);
  live.push({ handler, dispose: () => owned.dispose() });
  return { handler, env: owned.env, logs };
}

/** Closes every handler created since the last call (an `afterEach`). */
export async function closeAll(): Promise<void> {
  for (const h of live.splice(0)) {
    await h.handler.close?.();
    h.dispose();
  }
}

/** The value of a counter in the handler's registry, summed over series whose labels include `labels`. */
export async function metric(env: AdapterEnv, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = env.registry.getSingleMetric(name);
  assert.ok(m, `metric ${name} is registered`);
  const { values } = await m.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want))
    .reduce((sum, v) => sum + v.value, 0);
}

let validator: ReturnType<typeof loadSpanListValidator> | undefined;

/** Asserts that every body the sink received is a valid `ListOfSpans` per Zipkin's own API spec. */
export function assertAllValid(sink: SpanSink): void {
  validator ??= loadSpanListValidator();
  sink.requests.forEach((r, i) => {
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/api/v2/spans');
    assert.match(r.contentType ?? '', /^application\/json/);
    assert.deepEqual(validator!(JSON.parse(r.body)), [], `request ${i} is valid per zipkin2-api.yaml: ${r.body.slice(0, 300)}`);
  });
}

/** The rejection of `p`, failing when it resolves. */
export async function rejectionOf(p: Promise<unknown> | void): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}
