import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { IPv4 } from 'ipaddr.js';
import { DEFAULT_LIMITS, decodeBag } from '../../../src/attributes/decode';
import { parseTimestamp } from '../../../src/attributes/timestamp';
import { normaliseIp } from '../../../src/attributes/values';
import { VALUE_TYPES } from '../../../src/attributes/types';
import type { ValueType, Vocabulary } from '../../../src/attributes/types';
import { MixerError } from '../../../src/base/errors';

const vocab: Vocabulary = new Map<string, ValueType>([
  ['source.uid', 'STRING'],
  ['response.code', 'INT64'],
  ['ratio', 'DOUBLE'],
  ['connection.mtls', 'BOOL'],
  ['request.time', 'TIMESTAMP'],
  ['response.duration', 'DURATION'],
  ['source.ip', 'IP_ADDRESS'],
  ['source.labels', 'STRING_MAP'],
  ['host', 'DNS_NAME'],
  ['mail', 'EMAIL_ADDRESS'],
  ['link', 'URI'],
  ['blob', 'BYTES'],
  ['constructor', 'STRING'],
]);

function decode(raw: unknown, where = 'attributes', limits = DEFAULT_LIMITS) {
  return decodeBag(raw, vocab, limits, where);
}

/** The MixerError thrown by decoding `raw`. */
function failure(raw: unknown, where = 'attributes', limits = DEFAULT_LIMITS): MixerError {
  try {
    decode(raw, where, limits);
  } catch (err) {
    assert.ok(err instanceof MixerError, `expected a MixerError, got ${String(err)}`);
    return err;
  }
  assert.fail('decoding should have thrown');
}

describe('attributes/decode', () => {
  describe('accepts every type in its wire form', () => {
    const good: Array<[string, unknown, unknown]> = [
      ['source.uid', 'kubernetes://a.b', 'kubernetes://a.b'],
      ['source.uid', '', ''],
      ['response.code', 200, 200],
      ['response.code', -(2 ** 53 - 1), -(2 ** 53 - 1)],
      ['ratio', 0.25, 0.25],
      ['ratio', 3, 3],
      ['connection.mtls', false, false],
      ['request.time', '2024-05-01T12:00:00Z', Date.UTC(2024, 4, 1, 12)],
      ['request.time', '2024-05-01T12:00:00.5Z', Date.UTC(2024, 4, 1, 12) + 500],
      ['request.time', '2024-05-01t14:00:00+02:00', Date.UTC(2024, 4, 1, 12)],
      ['request.time', '2024-05-01T06:30:00-05:30', Date.UTC(2024, 4, 1, 12)],
      ['request.time', '2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
      ['request.time', '0001-01-01T00:00:00Z', -62_135_596_800_000],
      ['response.duration', '1.5s', 1500],
      ['response.duration', '150ms', 150],
      ['source.ip', '10.0.0.117', '10.0.0.117'],
      ['source.ip', '2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['source.ip', '0:0:0:0:0:0:0:1', '::1'],
      ['source.ip', '::ffff:10.1.2.3', '10.1.2.3'],
      ['host', 'reviews.default.svc.cluster.local', 'reviews.default.svc.cluster.local'],
      ['host', '_http._tcp.example.com.', '_http._tcp.example.com.'],
      ['mail', 'ops@example.com', 'ops@example.com'],
      ['link', 'https://example.com/a?b=c', 'https://example.com/a?b=c'],
      ['link', 'spiffe://cluster.local/ns/default/sa/x', 'spiffe://cluster.local/ns/default/sa/x'],
      ['link', '/reviews/1?x=y', '/reviews/1?x=y'],
      ['blob', 'aGVsbG8=', 'aGVsbG8='],
      ['blob', 'aGVsbG8', 'aGVsbG8'],
      ['blob', '', ''],
    ];
    for (const [name, wire, decoded] of good) {
      it(`${name} = ${JSON.stringify(wire)}`, () => {
        assert.deepEqual(decode({ [name]: wire }).get(name), decoded);
      });
    }

    it('keeps sub-millisecond timestamp digits as a fraction of a ms', () => {
      const ms = decode({ 'request.time': '2024-05-01T12:00:00.123456789Z' }).get('request.time') as number;
      assert.ok(Math.abs(ms - (Date.UTC(2024, 4, 1, 12) + 123.456789)) < 1e-3, String(ms));
      assert.equal(parseTimestamp('1970-01-01T00:00:00.000001Z'), 0.001);
    });

    it('copies a STRING_MAP into a frozen object and keeps every key', () => {
      const input = { app: 'reviews', version: 'v1' };
      const labels = decode({ 'source.labels': input }).get('source.labels');
      assert.deepEqual(labels, { app: 'reviews', version: 'v1' });
      assert.ok(Object.isFrozen(labels));
      assert.notEqual(labels, input);
      assert.ok(!Object.isFrozen(input), 'the caller’s object is left alone');
    });

    it('keeps a "__proto__" STRING_MAP key as data, never as a prototype', () => {
      const bag = decode(JSON.parse('{"source.labels": {"__proto__": "x", "app": "a"}}'));
      assert.equal(bag.getKey('source.labels', '__proto__'), 'x');
      assert.equal(Object.getPrototypeOf(bag.get('source.labels')), Object.prototype);
    });

    it('decodes a whole bag and an empty one', () => {
      const bag = decode({ 'source.uid': 'u', 'response.code': 503, 'connection.mtls': true });
      assert.deepEqual(bag.names().sort(), ['connection.mtls', 'response.code', 'source.uid']);
      assert.deepEqual(decode({}).names(), []);
    });

    it('accepts exactly maxAttributes attributes', () => {
      const bag = decode({ 'source.uid': 'u', 'response.code': 1 }, 'attributes', { maxAttributes: 2 });
      assert.equal(bag.names().length, 2);
    });
  });

  describe('rejects values of the wrong type, naming the attribute', () => {
    const bad: Array<[string, unknown]> = [
      ['source.uid', 5],
      ['source.uid', null],
      ['response.code', '200'],
      ['response.code', 1.5],
      ['response.code', 2 ** 53],
      ['response.code', true],
      ['ratio', '0.5'],
      ['connection.mtls', 'true'],
      ['connection.mtls', 1],
      ['request.time', '2024-13-01T00:00:00Z'],
      ['request.time', '2023-02-29T00:00:00Z'],
      ['request.time', '2024-04-31T00:00:00Z'],
      ['request.time', '2024-05-01T24:00:00Z'],
      ['request.time', '2024-05-01T23:59:60Z'],
      ['request.time', '2024-05-01T12:00:00'],
      ['request.time', '2024-05-01 12:00:00Z'],
      ['request.time', '2024-05-01T12:00:00.Z'],
      ['request.time', '2024-05-01T12:00:00.1234567890Z'],
      ['request.time', '2024-05-01T12:00:00+0200'],
      ['request.time', '2024-05-01T12:00:00+02:00x'],
      ['request.time', 'yesterday'],
      ['request.time', 1714564800000],
      ['response.duration', '5 s'],
      ['response.duration', '1x'],
      ['response.duration', ''],
      ['response.duration', 150],
      ['source.ip', '1.2.3'],
      ['source.ip', '1'],
      ['source.ip', '010.0.0.1'],
      ['source.ip', '256.0.0.1'],
      ['source.ip', '::g'],
      ['source.ip', '1::2::3'],
      ['source.ip', 167772161],
      ['source.labels', 'app=reviews'],
      ['source.labels', ['a']],
      ['source.labels', null],
      ['host', '-bad.example.com'],
      ['host', 'a..b'],
      ['host', 'has space.com'],
      ['host', ''],
      ['host', `${'a'.repeat(64)}.com`],
      ['mail', 'nobody'],
      ['mail', '@example.com'],
      ['mail', 'a b@example.com'],
      ['mail', 'ops@'],
      ['link', ''],
      ['link', 'not a uri'],
      ['link', 'relative/path'],
      ['blob', 'a'],
      ['blob', 'aGVsbG8=='],
      ['blob', 'a$=='],
    ];
    for (const [name, wire] of bad) {
      it(`${name} = ${JSON.stringify(wire)}`, () => {
        const err = failure({ [name]: wire }, 'attributes[3]');
        assert.equal(err.code, 'MIXER_ERR_ATTRIBUTE_TYPE');
        assert.equal(err.details.length, 1);
        assert.equal(err.details[0].field, `attributes[3].${name}`);
        assert.match(err.message, new RegExp(`attributes\\[3\\]\\.${name.replace('.', '\\.')}`));
      });
    }

    it('says what INT64 expects and what it got', () => {
      const err = failure({ 'response.code': 1.5 }, 'attributes[3]');
      assert.deepEqual(err.details, [{ field: 'attributes[3].response.code', reason: 'expected INT64 (an integer within ±(2^53−1)), got 1.5' }]);
    });

    it('names the bad key of a STRING_MAP', () => {
      const err = failure({ 'source.labels': { app: 'reviews', version: 2 } });
      assert.equal(err.code, 'MIXER_ERR_ATTRIBUTE_TYPE');
      assert.deepEqual(
        err.details.map((d) => d.field),
        ['attributes.source.labels.version'],
      );
    });

    it('accepts exactly the dotted IPv4 text ipaddr.js calls four-part decimal', () => {
      const parts = ['0', '1', '9', '10', '99', '100', '199', '249', '255', '256', '300', '999', '00', '01', '010', '1000', '', 'a', '-1', '+1', ' 1'];
      let checked = 0;
      for (let i = 0; i < 4000; i++) {
        const pick = () => parts[(i * 7919 + checked++ * 104729) % parts.length];
        const n = 2 + (i % 4);
        const text = Array.from({ length: n }, pick).join(i % 13 === 0 ? '..' : '.');
        assert.equal(normaliseIp(text) !== undefined, IPv4.isValidFourPartDecimal(text), JSON.stringify(text));
      }
      for (const text of ['1.2.3.4.', '.1.2.3.4', '1.2.3.4\n', '255.255.255.255', '0.0.0.0']) {
        assert.equal(normaliseIp(text) !== undefined, IPv4.isValidFourPartDecimal(text), JSON.stringify(text));
      }
    });

    it('does not echo long values back in full', () => {
      const err = failure({ 'response.code': 'x'.repeat(10_000) });
      assert.ok(err.details[0].reason.length < 200, err.details[0].reason);
    });
  });

  describe('rejects bags that are not objects', () => {
    for (const raw of [null, [], [{ 'source.uid': 'u' }], 'bag', 42, true, undefined]) {
      it(`${JSON.stringify(raw) ?? 'undefined'}`, () => {
        const err = failure(raw, 'attributes[0]');
        assert.equal(err.code, 'MIXER_ERR_BAD_REQUEST');
        assert.equal(err.details[0].field, 'attributes[0]');
      });
    }
  });

  describe('names and limits', () => {
    it('rejects an undeclared name', () => {
      const err = failure({ 'source.uid': 'u', 'source.nickname': 'x' });
      assert.equal(err.code, 'MIXER_ERR_ATTRIBUTE_UNKNOWN');
      assert.deepEqual(
        err.details.map((d) => d.field),
        ['attributes.source.nickname'],
      );
      assert.match(err.message, /source\.nickname/);
    });

    it('treats a "__proto__" attribute as undeclared and pollutes nothing', () => {
      const err = failure(JSON.parse('{"__proto__": {"polluted": "yes"}, "source.uid": "u"}'));
      assert.equal(err.code, 'MIXER_ERR_ATTRIBUTE_UNKNOWN');
      assert.equal(err.details[0].field, 'attributes.__proto__');
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });

    it('cuts a hostile undeclared name short in the error', () => {
      const err = failure({ ['x'.repeat(100_000)]: 1 });
      assert.ok(err.details[0].field.length < 150);
      assert.ok(err.message.length < 300);
    });

    it('reads names like "toString" only from the vocabulary', () => {
      assert.equal(failure({ toString: 'x' }).code, 'MIXER_ERR_ATTRIBUTE_UNKNOWN');
      assert.equal(decode({ constructor: 'x' }).get('constructor'), 'x');
    });

    it('rejects a bag over the attribute limit, naming the first attribute past it', () => {
      const err = failure({ 'source.uid': 'u', 'response.code': 1, ratio: 0.5 }, 'attributes[1]', { maxAttributes: 2 });
      assert.equal(err.code, 'MIXER_ERR_TOO_MANY_ATTRIBUTES');
      assert.equal(err.details[0].field, 'attributes[1].ratio');
      assert.match(err.message, /attributes\[1\]\.ratio/);
    });

    it('applies the default limit of 256', () => {
      const wide: Vocabulary = new Map(Array.from({ length: 300 }, (_, i) => [`x${i}`, 'STRING']));
      const bag = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`x${i}`, 'v']));
      assert.equal(DEFAULT_LIMITS.maxAttributes, 256);
      assert.equal(decodeBag(bag(256), wide, DEFAULT_LIMITS, 'attributes').names().length, 256);
      assert.throws(
        () => decodeBag(bag(257), wide, DEFAULT_LIMITS, 'attributes'),
        (err: MixerError) => err.code === 'MIXER_ERR_TOO_MANY_ATTRIBUTES' && err.details[0].field === 'attributes.x256',
      );
    });

    it('collects every problem, uses the code of the first and names it in the message', () => {
      const err = failure({ 'source.uid': 'ok', 'response.code': '200', nope: 1, 'source.ip': '1.2.3' }, 'attributes[3]');
      assert.equal(err.code, 'MIXER_ERR_ATTRIBUTE_TYPE');
      assert.deepEqual(
        err.details.map((d) => d.field),
        ['attributes[3].response.code', 'attributes[3].nope', 'attributes[3].source.ip'],
      );
      assert.match(err.message, /^attributes\[3\]\.response\.code: /);
      assert.match(err.message, /and 2 more/);
    });

    it('stops after 20 problems', () => {
      const raw: Record<string, number> = {};
      for (let i = 0; i < 100; i++) raw[`unknown${i}`] = i;
      const err = failure(raw);
      assert.equal(err.details.length, 20);
      assert.equal(err.details[19].field, 'attributes.unknown19');
    });
  });

  describe('rules/attributes.yaml (the default vocabulary)', () => {
    const file = resolve(__dirname, '../../../../rules/attributes.yaml');
    const doc = parse(readFileSync(file, 'utf8')) as {
      apiVersion: string;
      kind: string;
      spec: { attributes: Record<string, { valueType: string; description?: string }> };
    };
    const attrs = doc.spec.attributes;

    it('is an AttributeManifest whose every valueType is known', () => {
      assert.equal(doc.apiVersion, 'mixer/v1');
      assert.equal(doc.kind, 'AttributeManifest');
      assert.ok(Object.keys(attrs).length > 60);
      for (const [name, spec] of Object.entries(attrs)) {
        assert.ok((VALUE_TYPES as readonly string[]).includes(spec.valueType), `${name}: ${spec.valueType}`);
        assert.match(name, /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/, name);
      }
    });

    it('declares the key attributes with Istio’s types', () => {
      const want: Record<string, ValueType> = {
        'response.code': 'INT64',
        'response.duration': 'DURATION',
        'request.time': 'TIMESTAMP',
        'source.labels': 'STRING_MAP',
        'source.ip': 'IP_ADDRESS',
        'connection.mtls': 'BOOL',
        'destination.port': 'INT64',
        'request.headers': 'STRING_MAP',
        'destination.service.host': 'STRING',
        'context.reporter.kind': 'STRING',
        'context.proxy_error_code': 'STRING',
        'api.protocol': 'STRING',
        'source.workload.name': 'STRING',
        'destination.workload.namespace': 'STRING',
        'request.auth.claims': 'STRING_MAP',
        'connection.duration': 'DURATION',
        'check.cache_hit': 'BOOL',
      };
      for (const [name, type] of Object.entries(want)) assert.equal(attrs[name]?.valueType, type, name);
    });

    it('decodes a typical report bag', () => {
      const fromFile: Vocabulary = new Map(Object.entries(attrs).map(([n, s]) => [n, s.valueType as ValueType]));
      const bag = decodeBag(
        {
          'source.workload.name': 'productpage-v1',
          'source.labels': { app: 'productpage', version: 'v1' },
          'destination.service.host': 'reviews.default.svc.cluster.local',
          'request.time': '2024-05-01T12:00:00Z',
          'response.code': 200,
          'response.duration': '12ms',
          'connection.mtls': true,
          'source.ip': '10.0.0.7',
        },
        fromFile,
        DEFAULT_LIMITS,
        'attributes[0]',
      );
      assert.equal(bag.get('response.duration'), 12);
      assert.equal(bag.getKey('source.labels', 'app'), 'productpage');
    });
  });
});
