import assert from 'node:assert/strict';
import * as path from 'node:path';
import { MAX_REGEX_INPUT, compileLinearRegex, testCapped } from '../../../src/base/linear-regex';
import { answerInWorker } from '../../support/in-worker';

const DIST = path.resolve(__dirname, '..', '..', '..');
const EVIL = `${'a'.repeat(40)}!`;

describe('linear-time config regexes', () => {
  it('match as JavaScript regexes do', () => {
    const re = compileLinearRegex('^svc-[a-z]+(\\.v[0-9])?$');
    assert.equal(re.test('svc-abc.v2'), true);
    assert.equal(re.test('svc-ABC'), false);
    assert.equal(compileLinearRegex('admin').test('superadmin'), true);
  });

  it('refuse what cannot run in linear time, and bad syntax, saying why', () => {
    assert.throws(() => compileLinearRegex('(a)\\1'), /cannot be matched in linear time \(backreferences/);
    assert.throws(() => compileLinearRegex('foo(?=bar)'), /cannot be matched in linear time/);
    assert.throws(() => compileLinearRegex('(a'), /invalid regular expression: .*Unterminated group/);
  });

  it('answer at once for ^(a+)+$ against 40 a and a "!" (the backtracking engine would take hours)', async () => {
    const answer = await answerInWorker(
      `const { compileLinearRegex } = require(${JSON.stringify(path.join(DIST, 'src', 'base', 'linear-regex.js'))});
       parentPort.postMessage(compileLinearRegex('^(a+)+$').test(${JSON.stringify(EVIL)}));`,
      20_000,
    );
    assert.equal(answer, false);
  });

  it('testCapped gives no answer for inputs over MAX_REGEX_INPUT', () => {
    const re = compileLinearRegex('a');
    assert.equal(testCapped(re, 'a'.repeat(MAX_REGEX_INPUT)), true);
    assert.equal(testCapped(re, 'a'.repeat(MAX_REGEX_INPUT + 1)), undefined);
  });
});
