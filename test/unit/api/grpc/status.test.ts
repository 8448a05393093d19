import { strict as assert } from 'node:assert';
import { status } from '@grpc/grpc-js';
import { grpcCodeOf, toServiceError } from '../../../../src/api/grpc/status';
import { ERROR_CODES, MixerError } from '../../../../src/base/errors';
import type { ErrorCode } from '../../../../src/base/errors';

describe('api/grpc status mapping', () => {
  it('maps every Mixer error code to a gRPC status by its class', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const g = grpcCodeOf(new MixerError(code, 'x'));
      const http = ERROR_CODES[code];
      if (['MIXER_ERR_BODY_TOO_LARGE', 'MIXER_ERR_BATCH_TOO_LARGE', 'MIXER_ERR_TOO_MANY_ATTRIBUTES'].includes(code))
        assert.equal(g, status.RESOURCE_EXHAUSTED, code);
      else if (http === 503) assert.equal(g, status.UNAVAILABLE, code);
      else if (http === 500) assert.equal(g, status.INTERNAL, code);
      else if (http === 400) assert.equal(g, status.INVALID_ARGUMENT, code);
      else assert.notEqual(g, status.OK, code);
    }
  });

  it('names the code and the field in the message and the trailers; anything else thrown is INTERNAL', () => {
    const e = toServiceError(
      new MixerError('MIXER_ERR_ATTRIBUTE_UNKNOWN', 'attributes.x: not declared', { details: [{ field: 'attributes.x', reason: 'r' }] }),
    );
    assert.equal(e.code, status.INVALID_ARGUMENT);
    assert.equal(e.details, 'MIXER_ERR_ATTRIBUTE_UNKNOWN: attributes.x: not declared');
    assert.deepEqual(e.metadata?.get('mixer-error-field'), ['attributes.x']);
    assert.equal(toServiceError(new Error('boom')).code, status.INTERNAL);
  });
});
