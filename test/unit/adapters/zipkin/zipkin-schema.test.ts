import assert from 'node:assert/strict';
import { loadSpanListValidator } from './zipkin-schema';

/** The checker every other zipkin test relies on must itself catch what Zipkin would refuse. */
describe('zipkin adapter: the Zipkin v2 spec checker used by the tests', () => {
  const validate = loadSpanListValidator();
  const example = validate.example as Record<string, unknown>;

  it('accepts the spec’s own example span', () => {
    assert.deepEqual(validate([example]), []);
  });

  it('anchors the id patterns (the spec’s are unanchored)', () => {
    assert.notDeepEqual(validate([{ ...example, traceId: `zz${example.traceId as string}` }]), []);
    assert.notDeepEqual(validate([{ ...example, id: `${(example.id as string).slice(0, 15)}G` }]), []);
    assert.notDeepEqual(validate([{ ...example, parentId: `x${(example.parentId as string).slice(1)}` }]), []);
  });

  it('rejects what Zipkin would: zero duration, fractional µs, bad kind, bad IPv4, non-text tags, unknown fields', () => {
    const bad: Array<Record<string, unknown>> = [
      { duration: 0 },
      { timestamp: 1556604172355737.5 },
      { kind: 'server' },
      { localEndpoint: { serviceName: 'backend', ipv4: '10.0.0.300' } },
      { remoteEndpoint: { ipv6: '10.0.0.1' } },
      { tags: { 'http.status_code': 200 } },
      { parentSpanId: example.parentId },
      { localEndpoint: { serviceName: 'backend', ip: '10.0.0.1' } },
    ];
    for (const b of bad) assert.notDeepEqual(validate([{ ...example, ...b }]), [], JSON.stringify(b));
    assert.notDeepEqual(validate({ ...example }), [], 'the body is a list');
  });
});
