import { strict as assert } from 'node:assert';
import { Malformed, tolerantDefinition, wireSize } from '../../../../src/api/grpc/malformed';
import { SERVICES, serviceAt } from '../../../../src/api/grpc/protos';

describe('api/grpc/malformed: tolerant deserializers', () => {
  const def = tolerantDefinition(serviceAt(SERVICES.als).service, ['StreamAccessLogs']);
  const method = def.StreamAccessLogs;

  it('notes the size on the wire of each decoded message (the queue groups reports by it)', () => {
    const message = {
      identifier: { node: { id: 'sidecar~10.0.0.1~frontend-1.default~default.svc.cluster.local' } },
      http_logs: { log_entry: [{ request: { request_method: 'GET', path: '/ping' } }, { request: { request_method: 'POST', path: '/orders' } }] },
    };
    const bytes = method.requestSerialize(message);
    const decoded = method.requestDeserialize(bytes);
    assert.ok(!(decoded instanceof Malformed));
    assert.equal(wireSize(decoded), bytes.length);
    assert.ok(bytes.length > 50, `${bytes.length} bytes`);
  });

  it('bytes that do not decode give a Malformed marker, of no size', () => {
    const decoded = method.requestDeserialize(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    assert.ok(decoded instanceof Malformed, 'a Malformed marker');
    assert.equal(wireSize(decoded), undefined);
    assert.equal(wireSize('not an object'), undefined);
  });
});
