import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { MAX_REGEX_INPUT } from '../../../src/base/linear-regex';
import { RouteTable } from '../../../src/routing/select';
import { answerInWorker } from '../../support/in-worker';
import type { RouteRulePlan } from '../../../src/routing/types';

function rule(name: string, precedence: number, extra: Partial<RouteRulePlan> = {}): RouteRulePlan {
  return {
    ref: `default/${name}`,
    name,
    namespace: 'default',
    destination: { name: 'backend', namespace: 'default' },
    precedence,
    match: {},
    routes: [{ labels: { version: 'v1' }, weight: 100 }],
    ...extra,
  };
}

const frontend = { name: 'frontend', labels: { app: 'frontend', version: 'v1' } };
const req = (headers: Record<string, string> = {}, path = '/ping') => ({ service: 'backend', namespace: 'default', headers, path });

describe('routing/select', () => {
  const rules = [
    rule('mobile', 2, { match: { headers: { 'user-agent': { regex: '.*Mobile.*' } } }, routes: [{ labels: { version: 'v2' }, weight: 100 }] }),
    rule('all-v1', 1),
  ];

  it('the highest-precedence matching rule wins; a header regex matches the whole value', () => {
    const t = new RouteTable(rules);
    assert.deepEqual(t.decide(req({ 'user-agent': 'Mozilla/5.0 (iPhone) Mobile Safari' }), frontend).labels, { version: 'v2' });
    assert.equal(t.decide(req({ 'user-agent': 'curl/8' }), frontend).rule?.name, 'all-v1');
    assert.deepEqual(t.decide(req(), frontend).labels, { version: 'v1' }, 'no header: the regex rule does not match');
  });

  it('ties break by name', () => {
    const t = new RouteTable([rule('a', 1, { routes: [{ labels: { version: 'a' }, weight: 100 }] }), rule('b', 1)]);
    assert.equal(t.decide(req(), frontend).rule?.name, 'a');
  });

  it('exact, prefix, the uri pseudo-header and source labels and name', () => {
    const t = new RouteTable([
      rule('exact', 5, { match: { headers: { 'x-user': { exact: 'jason' } } } }),
      rule('prefix', 4, { match: { headers: { uri: { prefix: '/api' } } } }),
      rule('from-admin', 3, { match: { sourceLabels: { app: 'admin' } } }),
      rule('from-name', 2, { match: { sourceName: 'batch' } }),
    ]);
    assert.equal(t.decide(req({ 'x-user': 'jason' }), frontend).rule?.name, 'exact');
    assert.equal(t.decide(req({ 'x-user': 'jasonx' }), frontend).rule, undefined);
    assert.equal(t.decide(req({}, '/api/v1'), frontend).rule?.name, 'prefix');
    assert.equal(t.decide(req(), { name: 'x', labels: { app: 'admin' } }).rule?.name, 'from-admin');
    assert.equal(t.decide(req(), { name: 'batch', labels: {} }).rule?.name, 'from-name');
  });

  it('no rule for the destination: any instance', () => {
    const t = new RouteTable(rules);
    assert.deepEqual(t.decide({ ...req(), service: 'other' }, frontend), { labels: {} });
  });

  it('picks routes by weight', () => {
    let x = 0;
    const t = new RouteTable(
      [
        rule('split', 1, {
          routes: [
            { labels: { version: 'v1' }, weight: 90 },
            { labels: { version: 'v2' }, weight: 10 },
            { labels: { version: 'v3' }, weight: 0 },
          ],
        }),
      ],
      () => (x++ % 100) / 100,
    );
    const counts: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) {
      const v = t.decide(req(), frontend).labels.version;
      counts[v] = (counts[v] ?? 0) + 1;
    }
    assert.deepEqual(counts, { v1: 900, v2: 100 });
  });

  it('header regexes run in linear time, and a value over MAX_REGEX_INPUT does not match', async () => {
    const select = path.resolve(__dirname, '..', '..', '..', 'src', 'routing', 'select.js');
    const evil = rule('evil', 3, { match: { headers: { 'x-user': { regex: '(a+)+' } } }, routes: [{ labels: { version: 'v3' }, weight: 100 }] });
    const answer = await answerInWorker(
      `const { RouteTable } = require(${JSON.stringify(select)});
       const t = new RouteTable(${JSON.stringify([evil, rule('all-v1', 1)])});
       const at = (v) => t.decide({ service: 'backend', namespace: 'default', headers: { 'x-user': v }, path: '/' }, ${JSON.stringify(frontend)}).rule.name;
       parentPort.postMessage([at('${'a'.repeat(40)}!'), at('aaa')]);`,
      20_000,
    );
    assert.deepEqual(answer, ['all-v1', 'evil']);
    const t = new RouteTable([evil, rule('all-v1', 1)]);
    assert.equal(t.decide(req({ 'x-user': 'a'.repeat(MAX_REGEX_INPUT + 1) }), frontend).rule?.name, 'all-v1');
  });
});
