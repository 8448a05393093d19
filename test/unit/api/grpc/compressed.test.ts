import { strict as assert } from 'node:assert';
import { applyDelta, decodeCompressed, encodeReferenced, indexOfWords, WordEncoder } from '../../../../src/api/grpc/compressed';
import { globalDictionary } from '../../../../src/api/grpc/protos';
import type { MixerError } from '../../../../src/base/errors';

const DICT = globalDictionary();
const at = (w: string) => DICT.indexOf(w);

describe('api/grpc compressed attributes (Istio mixer v1)', () => {
  it('loads Istio 1.4 global dictionary: 222 words in order, quote characters kept', () => {
    assert.equal(DICT.length, 222);
    assert.equal(DICT[0], 'source.ip');
    assert.equal(at('inbound'), 219);
    assert.equal(at('outbound'), 220);
    assert.deepEqual(
      DICT.filter((w) => /^['"]/.test(w)),
      ["'200'", "'0'", "'1'", '"-"'],
    );
  });

  it('decodes every value kind; negative indexes into the message words (-1 is words[0])', () => {
    const raw = decodeCompressed(
      {
        words: ['frontend', 'app', 'x-extra'],
        strings: { [at('destination.service.name')]: -1, '-3': at('inbound') },
        int64s: { [at('response.code')]: '503' },
        doubles: { '-3': 1.5 },
        bools: { [at('connection.mtls')]: true },
        timestamps: { [at('request.time')]: { seconds: '1700000000', nanos: 5 } },
        durations: { [at('response.duration')]: { seconds: '1', nanos: 500_000_000 } },
        bytes: { '-3': Buffer.from('hi') },
        string_maps: { [at('source.labels')]: { entries: { '-2': -1 } } },
      },
      DICT,
      'attributes',
    );
    assert.equal(raw['destination.service.name'], 'frontend');
    assert.equal(raw['response.code'], 503);
    assert.equal(raw['connection.mtls'], true);
    assert.equal(raw['request.time'], '2023-11-14T22:13:20.000000005Z');
    assert.equal(raw['response.duration'], '1.5s');
    assert.deepEqual(raw['source.labels'], { app: 'frontend' });
    assert.equal(raw['x-extra'], 'aGk=', 'bytes as base64 (the last kind written wins)');
  });

  it('names an index out of range, either side, and an int64 past 2^53', () => {
    const bad = (msg: object, re: RegExp) =>
      assert.throws(
        () => decodeCompressed(msg, DICT, 'attributes[2]'),
        (e: MixerError) => e.code === 'MIXER_ERR_BAD_REQUEST' && re.test(e.message),
      );
    bad({ strings: { 222: 0 } }, /attributes\[2\]\.strings\[222\]: word index 222 is past the global dictionary/);
    bad({ strings: { 0: -1 } }, /word index -1 is past the message's own words \(0\)/);
    bad({ int64s: { 0: '9007199254740993' } }, /outside/);
  });

  it('falls back to default_words only for a message without words of its own', () => {
    assert.equal(decodeCompressed({ strings: { 0: -1 } }, DICT, 'a', ['d0'])['source.ip'], 'd0');
    assert.equal(decodeCompressed({ words: ['own'], strings: { 0: -1 } }, DICT, 'a', ['d0'])['source.ip'], 'own');
  });

  it('applies a delta over the previous bag without changing it', () => {
    const prev = { a: 1, b: 2 };
    assert.deepEqual(applyDelta(prev, { b: 3, c: 4 }), { a: 1, b: 3, c: 4 });
    assert.deepEqual(prev, { a: 1, b: 2 });
  });

  it('encodes referenced attributes with the global words the client knows, spelling out the rest', () => {
    const index = indexOfWords(DICT);
    const refs = [
      { name: 'source.labels', key: 'app', condition: 'EXACT' as const },
      { name: 'destination.service.name', condition: 'ABSENCE' as const },
    ];
    assert.deepEqual(encodeReferenced(refs, index, 222), {
      words: ['app'],
      attribute_matches: [
        { name: at('source.labels'), condition: 'EXACT', map_key: -1 },
        { name: at('destination.service.name'), condition: 'ABSENCE' },
      ],
    });
    const old = encodeReferenced(refs, index, 10);
    assert.deepEqual(old.words, ['app', 'destination.service.name']);
    assert.equal(old.attribute_matches[1].name, -2);
    const enc = new WordEncoder(index, 0);
    assert.equal(enc.index('source.ip'), -1, 'a client without the dictionary gets every word spelled out');
  });
});
