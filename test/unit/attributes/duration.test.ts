import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from '../../../src/attributes/duration';

describe('attributes/duration', () => {
  describe('parseDuration (Go time.ParseDuration syntax, in ms)', () => {
    const good: Array<[string, number]> = [
      ['0', 0],
      ['+0', 0],
      ['-0', 0],
      ['0s', 0],
      ['5s', 5000],
      ['1.5s', 1500],
      ['300ms', 300],
      ['150ms', 150],
      ['-1.5h', -5_400_000],
      ['+5s', 5000],
      ['1h2m3.5s', 3_723_500],
      ['2h45m', 9_900_000],
      ['1m30s', 90_000],
      ['2us', 0.002],
      ['2µs', 0.002], // U+00B5 micro sign
      ['2μs', 0.002], // U+03BC greek mu
      ['1ns', 0.000001],
      ['1500ns', 0.0015],
      ['.5s', 500],
      ['1.s', 1000],
      ['1.0s', 1000],
      ['3m0.5s', 180_500],
      ['1s1s', 2000],
      ['100h', 360_000_000],
      ['0.000000001s', 0.000001],
      ['0.0000000001s', 0], // Go truncates below a nanosecond
      ['2562047h', 2562047 * 3_600_000],
      ['9223372036854775807ns', Number('9223372036854.775807')], // Go's largest duration
      ['-9223372036854775808ns', Number('-9223372036854.775808')], // and its smallest
      ['2562047h47m16.854775807s', Number('9223372036854.775807')],
    ];
    for (const [text, ms] of good) {
      it(`parses ${JSON.stringify(text)} as ${ms} ms`, () => {
        const got = parseDuration(text);
        assert.ok(got !== undefined, `${text} should parse`);
        assert.ok(Math.abs(got - ms) <= Math.max(1e-9, Math.abs(ms) * 1e-15), `${text}: got ${got}, want ${ms}`);
      });
    }

    const bad = [
      '',
      '-',
      '+',
      '5',
      '00',
      '1x',
      '5 s',
      ' 5s',
      '5s ',
      '.s',
      '.',
      's',
      '-.s',
      '1d',
      '1S',
      '1Ms',
      '1e3s',
      '1..5s',
      '1.5.s',
      '5s-3s',
      '--5s',
      '+-5s',
      '3000000h',
      '2562048h',
      '9223372036854775808ns',
      '-9223372036854775809ns',
      '2562047h47m16.854775808s',
      `1${'0'.repeat(400)}h`,
      'yesterday',
      '1h 2m',
    ];
    for (const text of bad) {
      it(`rejects ${JSON.stringify(text)}`, () => {
        assert.equal(parseDuration(text), undefined);
      });
    }
  });

  describe('formatDuration (Go time.Duration.String)', () => {
    const table: Array<[number, string]> = [
      [0, '0s'],
      [-0, '0s'],
      [5000, '5s'],
      [1500, '1.5s'],
      [150, '150ms'],
      [1.5, '1.5ms'],
      [0.002, '2µs'],
      [0.0015, '1.5µs'],
      [0.000001, '1ns'],
      [60_000, '1m0s'],
      [90_000, '1m30s'],
      [3_600_000, '1h0m0s'],
      [3_723_500, '1h2m3.5s'],
      [-1500, '-1.5s'],
      [-5_400_000, '-1h30m0s'],
      [1000.000001, '1.000000001s'],
      [999.9999999, '1s'], // rounds to the nanosecond
      [100 * 3_600_000, '100h0m0s'],
    ];
    for (const [ms, text] of table) {
      it(`formats ${ms} ms as ${text}`, () => {
        assert.equal(formatDuration(ms), text);
      });
    }

    it('round-trips through parseDuration', () => {
      for (const ms of [0, 1, 7, 150, 999, 1000, 1234.5, 59_999, 61_001, 3_599_999, 86_400_000, 0.123, -42.25]) {
        assert.equal(parseDuration(formatDuration(ms)), ms);
      }
    });

    it('throws RangeError for non-finite input', () => {
      assert.throws(() => formatDuration(Number.NaN), RangeError);
      assert.throws(() => formatDuration(Infinity), RangeError);
    });
  });
});
