import assert from 'node:assert/strict';
import { isSpanId, isTraceId, parseB3Single, sampledByProbability, samplingFlagOf } from '../../../../adapters/zipkin/b3';
import { readTraceContext } from '../../../../adapters/zipkin/trace-context';

const T64 = '463ac35c9f6413ad';
const T128 = '80f198ee56343ba864fe8b2a57d3eff7';
const S = 'e457b5a2e4d86bd1';
const P = '05e3ac9a4f6e3b90';

/** A trace id that differs from one call to the next, reproducible across runs (no Math.random). */
function traceIds(n: number): string[] {
  const out: string[] = [];
  let x = 0x2545f491n;
  for (let i = 0; i < n; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    out.push(x.toString(16).padStart(16, '0'));
  }
  return out;
}

describe('zipkin adapter: B3', () => {
  describe('ids', () => {
    it('accepts 16 or 32 lowercase hex trace ids and 16 hex span ids', () => {
      assert.ok(isTraceId(T64));
      assert.ok(isTraceId(T128));
      assert.ok(isSpanId(S));
    });

    it('rejects uppercase, wrong lengths, non-hex, padding and all-zero ids', () => {
      for (const bad of [T64.toUpperCase(), T64.slice(1), `${T64}0`, `${T64.slice(0, 15)}g`, ` ${T64}`, '0000000000000000', '', T128.slice(2)]) {
        assert.equal(isTraceId(bad), false, bad);
      }
      for (const bad of [S.toUpperCase(), T128, S.slice(1), '0000000000000000', `x${S}`]) assert.equal(isSpanId(bad), false, bad);
    });
  });

  describe('the single b3 header', () => {
    it('reads {traceid}-{spanid}', () => {
      assert.deepEqual(parseB3Single(`${T128}-${S}`), { traceId: T128, spanId: S });
    });

    it('reads the sampling flag and the parent span id', () => {
      assert.deepEqual(parseB3Single(`${T64}-${S}-1-${P}`), { traceId: T64, spanId: S, sampling: 'accept', parentSpanId: P });
      assert.deepEqual(parseB3Single(`${T64}-${S}-0`), { traceId: T64, spanId: S, sampling: 'deny' });
      assert.deepEqual(parseB3Single(`${T64}-${S}-d`), { traceId: T64, spanId: S, sampling: 'debug' });
    });

    it('reads a decision alone: 0, 1 or d', () => {
      assert.deepEqual(parseB3Single('0'), { sampling: 'deny' });
      assert.deepEqual(parseB3Single('1'), { sampling: 'accept' });
      assert.deepEqual(parseB3Single('d'), { sampling: 'debug' });
    });

    it('rejects malformed values', () => {
      for (const bad of [
        '',
        'x',
        '2',
        `${T64}`,
        `${T64}-`,
        `${T64}-${S}-true`,
        `${T64}-${S}-1-${P}-x`,
        `${T64}-${S}-1-zz`,
        `${T64.toUpperCase()}-${S}`,
        `${T64}-${T128}`,
      ]) {
        assert.equal(parseB3Single(bad), undefined, bad);
      }
    });
  });

  describe('sampling flags', () => {
    it('maps 1/true, 0/false and d; anything else is no decision', () => {
      for (const v of ['1', 'true', 'TRUE', true, 1]) assert.equal(samplingFlagOf(v), 'accept', String(v));
      for (const v of ['0', 'false', 'False', false, 0]) assert.equal(samplingFlagOf(v), 'deny', String(v));
      assert.equal(samplingFlagOf('d'), 'debug');
      for (const v of [undefined, '', 'yes', 2, {}]) assert.equal(samplingFlagOf(v), undefined, String(v));
    });
  });

  describe('the probability sampler', () => {
    it('keeps every trace at 1 and none at 0', () => {
      for (const id of traceIds(200)) {
        assert.equal(sampledByProbability(id, 1), true);
        assert.equal(sampledByProbability(id, 0), false);
      }
    });

    it('keeps about the given share, the same answer every time for a trace, and more at a higher probability', () => {
      const ids = traceIds(2000);
      const kept = ids.filter((id) => sampledByProbability(id, 0.25));
      assert.ok(kept.length > 400 && kept.length < 600, `kept ${kept.length} of 2000 at 0.25`);
      for (const id of ids) assert.equal(sampledByProbability(id, 0.25), kept.includes(id));
      for (const id of kept) assert.equal(sampledByProbability(id, 0.5), true, 'a trace kept at 0.25 is kept at 0.5');
    });

    it('decides a 128-bit trace id by its low 64 bits, so both widths of one trace agree', () => {
      for (const id of traceIds(300)) {
        assert.equal(sampledByProbability(`${'a1'.repeat(8)}${id}`, 0.3), sampledByProbability(id, 0.3));
      }
    });
  });

  describe('reading a tracespan instance', () => {
    it('takes multi-header ids before the b3 header', () => {
      const r = readTraceContext({ traceId: T64, spanId: S, parentSpanId: P, b3: `${T128}-${P}-1` });
      assert.deepEqual(r, { context: { traceId: T64, spanId: S, parentSpanId: P, sampling: undefined } });
    });

    it('falls back to b3 when traceId and spanId are absent or empty', () => {
      assert.deepEqual(readTraceContext({ traceId: '', b3: `${T128}-${S}-d-${P}` }), {
        context: { traceId: T128, spanId: S, parentSpanId: P, sampling: 'debug' },
      });
    });

    it('takes the decision from sampled, or from a b3 that carries only a decision', () => {
      assert.deepEqual(readTraceContext({ traceId: T64, spanId: S, sampled: '0' }), { unsampled: true });
      assert.deepEqual(readTraceContext({ traceId: T64, spanId: S, b3: '0' }), { unsampled: true });
      assert.deepEqual(readTraceContext({ traceId: T64, spanId: S, b3: `${T64}-${S}-0` }), { unsampled: true }, 'b3 of the same trace');
      assert.deepEqual(readTraceContext({ traceId: T64, spanId: S, sampled: '1', b3: '0' }), {
        context: { traceId: T64, spanId: S, parentSpanId: undefined, sampling: 'accept' },
      });
      assert.deepEqual(
        readTraceContext({ b3: `${T64}-${S}-1`, sampled: '0' }),
        { context: { traceId: T64, spanId: S, parentSpanId: undefined, sampling: 'accept' } },
        'ids from b3: its own flag first',
      );
    });

    it('says unsampled before looking at ids, and names the reason for unusable ids', () => {
      assert.deepEqual(readTraceContext({ traceId: 'bogus', sampled: 'false' }), { unsampled: true });
      assert.deepEqual(readTraceContext({}), { dropped: 'missing_ids' });
      assert.deepEqual(readTraceContext({ traceId: T64 }), { dropped: 'missing_ids' });
      assert.deepEqual(readTraceContext({ traceId: T64.toUpperCase(), spanId: S }), { dropped: 'invalid_trace_id' });
      assert.deepEqual(readTraceContext({ traceId: T64, spanId: 'abc' }), { dropped: 'invalid_span_id' });
      assert.deepEqual(readTraceContext({ traceId: T64, spanId: S, parentSpanId: 'p' }), { dropped: 'invalid_parent_id' });
      assert.deepEqual(readTraceContext({ b3: `${T64}-nothex` }), { dropped: 'invalid_b3' });
      assert.deepEqual(readTraceContext({ b3: '1' }), { dropped: 'missing_ids' });
    });
  });
});
