import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import {
  addSubjectToDocument,
  describeCondition,
  matchMentions,
  rulesFor,
  scopeNamespace,
  withSubject,
  SUBJECT_FACT,
} from '../../../src/cli/mixctl/rule-commands';
import { ruleCreate, ruleDelete, ruleGet } from '../../../src/cli/mixctl/rule-commands';
import { MixerClient } from '../../../src/cli/mixctl/client';
import { CliError } from '../../../src/cli/mixctl/errors';
import { parseConfigText } from '../../../src/config/load';

const DENY = `apiVersion: mixer/v1
kind: Rule
metadata: {name: deny-frontend}
spec:
  # only the frontend
  match:
    all:
      - {fact: source.labels, path: $.app, operator: equal, value: "\${APP:-frontend}"}
  actions:
    - {handler: deny-all, instances: [nothing]}
---
apiVersion: mixer/v1
kind: Handler
metadata: {name: deny-all, namespace: elsewhere}
spec:
  adapter: denier
  params: {status: {code: 7}}
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: nothing}
spec: {template: checknothing}
---
apiVersion: mixer/v1
kind: Rule
metadata: {name: always}
spec:
  actions:
    - {handler: deny-all, instances: [nothing]}
`;

interface Seen {
  method: string;
  url: string;
  contentType?: string;
  body: string;
}

/** A stand-in for Mixer's config API that records every call. */
async function fakeMixer(list: unknown = { items: [] }): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, contentType: req.headers['content-type'], body });
      res.writeHead(req.method === 'PUT' ? 201 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.method === 'GET' ? list : {}));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise((r) => server.close(() => r())) };
}

/** Runs `fn` with stdout swallowed. */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = () => true;
  try {
    return await fn();
  } finally {
    process.stdout.write = write;
  }
}

describe('cli/mixctl rule (scope and subject, as istioctl mixer rule)', () => {
  let dir: string;
  let file: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mixctl-rule-'));
    file = path.join(dir, 'deny.yaml');
    writeFileSync(file, DENY);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('maps scope global to namespace default and any other scope to that namespace', () => {
    assert.equal(scopeNamespace('global'), 'default');
    assert.equal(scopeNamespace('shop'), 'shop');
    assert.throws(
      () => scopeNamespace('Not_A_Namespace'),
      (e: unknown) => e instanceof CliError && e.exitCode === 2 && /<scope>/.test(e.message),
    );
  });

  it('wraps a match with the subject condition, or makes the condition the whole match', () => {
    const original = { any: [{ fact: 'source.labels', path: '$.app', operator: 'equal', value: 'frontend' }] };
    const cond = { fact: SUBJECT_FACT, operator: 'equal', value: 'backend.default.svc.cluster.local' };
    assert.deepEqual(withSubject(original, 'backend.default.svc.cluster.local'), { all: [original, cond] });
    assert.deepEqual(withSubject(undefined, 'backend.default.svc.cluster.local'), { all: [cond] });
    assert.deepEqual(withSubject(null, 'backend.default.svc.cluster.local'), { all: [cond] });
  });

  it('rewrites the YAML document keeping the original match as written (comments, ${VAR}) and the result is valid config', () => {
    const docs = parseAllDocuments(DENY);
    assert.ok(Array.isArray(docs));
    const d = docs[0].clone();
    addSubjectToDocument(d, 'backend');
    const text = String(d);
    assert.match(text, /# only the frontend/);
    assert.match(text, /\$\{APP:-frontend\}/);
    const parsed = parseConfigText(text, 'x.yaml', {});
    assert.deepEqual(parsed.errors, []);
    assert.deepEqual((parsed.objects[0].doc.spec as { match: unknown }).match, {
      all: [
        { all: [{ fact: 'source.labels', path: '$.app', operator: 'equal', value: 'frontend' }] },
        { fact: SUBJECT_FACT, operator: 'equal', value: 'backend' },
      ],
    });
  });

  it('describes a rewritten match for people', () => {
    const match = withSubject({ all: [{ fact: 'source.labels', path: '$.app', operator: 'equal', value: 'frontend' }] }, 'backend');
    assert.equal(describeCondition(match), 'source.labels[app] == "frontend" and destination.service.host == "backend"');
    assert.equal(
      describeCondition(withSubject({ any: [{ fact: 'a', operator: 'in', value: ['x'] }, { not: { fact: 'b', operator: 'lessThan', value: 3 } }] }, 'h')),
      '(a in ["x"] or not b < 3) and destination.service.host == "h"',
    );
    assert.equal(describeCondition(undefined), 'always');
  });

  it('finds the rules whose match mentions a subject (equal or in, at any depth) in one namespace', () => {
    const rule = (name: string, namespace: string, match: unknown) => ({ kind: 'Rule', name, namespace, doc: { spec: { match, actions: [] } } });
    const objects = [
      rule('a', 'default', withSubject({ all: [{ fact: 'x', operator: 'equal', value: 1 }] }, 'backend')),
      rule('b', 'default', { any: [{ not: { fact: SUBJECT_FACT, operator: 'in', value: ['other', 'backend'] } }] }),
      rule('c', 'default', withSubject(undefined, 'other')),
      rule('d', 'shop', withSubject(undefined, 'backend')),
      rule('e', 'default', undefined),
      { kind: 'Handler', name: 'h', namespace: 'default', doc: { spec: { match: withSubject(undefined, 'backend') } } },
    ];
    assert.deepEqual(
      rulesFor(objects, 'default', 'backend').map((o) => o.name),
      ['a', 'b'],
    );
    assert.deepEqual(
      rulesFor(objects, 'shop', 'backend').map((o) => o.name),
      ['d'],
    );
    assert.equal(matchMentions({ fact: SUBJECT_FACT, operator: 'notEqual', value: 'backend' }, 'backend'), false);
  });

  it('rule create PUTs every object into the scope namespace, Instance → Handler → Rule, each Rule restricted to the subject', async () => {
    const mixer = await fakeMixer();
    try {
      const client = new MixerClient({ url: mixer.url, timeoutMs: 5000 });
      await quietly(() => ruleCreate(client, 'table', 'shop', 'backend.shop.svc.cluster.local', file));
      assert.deepEqual(
        mixer.seen.map((s) => `${s.method} ${s.url}`),
        [
          'PUT /v1/config/Instance/shop/nothing',
          'PUT /v1/config/Handler/shop/deny-all',
          'PUT /v1/config/Rule/shop/deny-frontend',
          'PUT /v1/config/Rule/shop/always',
        ],
      );
      for (const s of mixer.seen) {
        assert.equal(s.contentType, 'application/yaml');
        const parsed = parseConfigText(s.body, 'body.yaml', {});
        assert.deepEqual(parsed.errors, []);
        assert.equal(parsed.objects.length, 1);
        assert.equal(parsed.objects[0].namespace, 'shop', 'the scope overrides the namespace written in the file');
      }
      const always = parseConfigText(mixer.seen[3].body, 'b', {}).objects[0].doc.spec as { match: unknown };
      assert.deepEqual(always.match, { all: [{ fact: SUBJECT_FACT, operator: 'equal', value: 'backend.shop.svc.cluster.local' }] });
      const handler = parseConfigText(mixer.seen[1].body, 'b', {}).objects[0].doc.spec as { match?: unknown };
      assert.equal(handler.match, undefined, 'only rules gain the subject');
    } finally {
      await mixer.close();
    }
  });

  it("rule delete DELETEs the same objects in reverse order; rule get lists only that subject's rules", async () => {
    const rule = (name: string, subject: string) => ({
      apiVersion: 'mixer/v1',
      kind: 'Rule',
      metadata: { name, namespace: 'default' },
      spec: { match: withSubject(undefined, subject), actions: [] },
    });
    const mixer = await fakeMixer({ items: [rule('deny-frontend', 'backend'), rule('unrelated', 'other')] });
    try {
      const client = new MixerClient({ url: mixer.url, timeoutMs: 5000 });
      await quietly(() => ruleDelete(client, 'table', 'global', 'backend', file, false));
      assert.deepEqual(
        mixer.seen.map((s) => `${s.method} ${s.url}`),
        [
          'DELETE /v1/config/Rule/default/always',
          'DELETE /v1/config/Rule/default/deny-frontend',
          'DELETE /v1/config/Handler/default/deny-all',
          'DELETE /v1/config/Instance/default/nothing',
        ],
      );
      const out: string[] = [];
      const write = process.stdout.write.bind(process.stdout);
      process.stdout.write = (s: string) => (out.push(String(s)), true);
      try {
        await ruleGet(client, 'json', 'global', 'backend');
      } finally {
        process.stdout.write = write;
      }
      assert.deepEqual(
        (JSON.parse(out.join('')) as Array<{ metadata: { name: string } }>).map((d) => d.metadata.name),
        ['deny-frontend'],
      );
    } finally {
      await mixer.close();
    }
  });
});
