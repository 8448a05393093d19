import { strict as assert } from 'node:assert';
import { parseConfigText } from '../../../src/config/load';

describe('config/load', () => {
  it('parses several documents per file into objects with default namespace', () => {
    const r = parseConfigText(
      `apiVersion: mixer/v1
kind: Instance
metadata: {name: nothing}
spec: {template: checknothing}
---
apiVersion: mixer/v1
kind: Handler
metadata: {name: deny, namespace: prod}
spec: {adapter: denier}
`,
      'a.yaml',
      {},
    );
    assert.deepEqual(r.errors, []);
    assert.deepEqual(
      r.objects.map((o) => o.key),
      ['Instance/default/nothing', 'Handler/prod/deny'],
    );
  });

  it('reports every schema problem with file, line and path', () => {
    const r = parseConfigText(
      `apiVersion: mixer/v1
kind: Rule
metadata: {name: r1}
spec:
  actions:
    - {handler: h, instancez: [i]}
---
apiVersion: mixer/v2
kind: Handler
metadata: {name: Bad_Name}
spec: {adapter: denier}
---
kind: Nope
`,
      'rules/x.yaml',
      {},
    );
    const fields = r.errors.map((e) => `${e.field} :: ${e.reason}`);
    assert.ok(
      fields.some((f) => /^rules\/x\.yaml:6 spec\.actions\[0\]\.instancez :: unknown field/.test(f)),
      fields.join('\n'),
    );
    assert.ok(
      fields.some((f) => /^rules\/x\.yaml:6 spec\.actions\[0\] :: missing required field "instances"/.test(f)),
      fields.join('\n'),
    );
    assert.ok(
      fields.some((f) => /^rules\/x\.yaml:8 apiVersion :: must be "mixer\/v1"/.test(f)),
      fields.join('\n'),
    );
    assert.ok(
      fields.some((f) => /^rules\/x\.yaml:10 metadata\.name/.test(f)),
      fields.join('\n'),
    );
    assert.ok(
      fields.some((f) => /^rules\/x\.yaml:13 kind :: unknown kind "Nope"/.test(f)),
      fields.join('\n'),
    );
    assert.equal(r.objects.length, 0);
  });

  it('reports YAML syntax errors with their line', () => {
    const r = parseConfigText('apiVersion: mixer/v1\nkind: Rule\nmetadata: {name: x\n', 'bad.yaml', {});
    assert.equal(r.objects.length, 0);
    assert.match(r.errors[0].field, /^bad\.yaml:\d+$/);
    assert.match(r.errors[0].reason, /^YAML: /);
  });

  it('substitutes ${VAR} and ${VAR:-default}, typing whole unquoted references', () => {
    const r = parseConfigText(
      `apiVersion: mixer/v1
kind: Handler
metadata: {name: q}
spec:
  adapter: memquota
  params:
    quotas:
      - name: "\${QNAME}"
        maxAmount: \${LIMIT:-10}
        validDuration: "\${WINDOW:-1}s"
    note: "cost $$5 for \${WHO:-nobody}"
`,
      'env.yaml',
      { QNAME: 'requestcount', WINDOW: '' },
    );
    assert.deepEqual(r.errors, []);
    const params = (r.objects[0].doc.spec as { params: Record<string, unknown> }).params;
    assert.deepEqual(params.quotas, [{ name: 'requestcount', maxAmount: 10, validDuration: '1s' }]);
    assert.equal(params.note, 'cost $5 for nobody');
  });

  it('an unset ${VAR} without a default is a config error naming the variable and line', () => {
    const r = parseConfigText(
      'apiVersion: mixer/v1\nkind: Handler\nmetadata: {name: z}\nspec:\n  adapter: zipkin\n  params: {url: "${ZIPKIN_URL}"}\n',
      'z.yaml',
      {},
    );
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0].field, 'z.yaml:6');
    assert.match(r.errors[0].reason, /ZIPKIN_URL is not set and has no default/);
  });

  it('an alias to an unset anchor or an alias bomb is a problem of that document with its line, never a throw (found by fuzzing)', () => {
    const good = 'apiVersion: mixer/v1\nkind: Handler\nmetadata: {name: deny}\nspec: {adapter: denier}\n';
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...Array.from(
        { length: 9 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${`*${String.fromCharCode(97 + i)}, `.repeat(9)}*${String.fromCharCode(97 + i)}]`,
      ),
    ].join('\n');
    const r = parseConfigText(
      `${good}---\napiVersion: mixer/v1\nkind: Handler\nmetadata: {name: x}\nspec: {adapter: *nowhere}\n---\n${bomb}\n---\n${good}`,
      'a.yaml',
      {},
    );
    assert.deepEqual(
      r.errors.map((e) => e.field),
      ['a.yaml:6', 'a.yaml:11'],
    );
    assert.match(r.errors[0].reason, /^YAML: Unresolved alias/);
    assert.match(r.errors[1].reason, /^YAML: Excessive alias count/);
    assert.deepEqual(
      r.objects.map((o) => o.key),
      ['Handler/default/deny', 'Handler/default/deny'],
    );
  });

  it('text nested deeper than 100 collections is refused before composing (a 1 KB body used to abort Node; found by fuzzing)', () => {
    for (const text of ['['.repeat(1000), `${'- '.repeat(1000)}x`, `a: ${'{b: '.repeat(1000)}`, `[x '${'['.repeat(1000)} '`]) {
      for (let i = 0; i < 3; i++) {
        const r = parseConfigText(text, 'deep.yaml', {});
        assert.deepEqual(r.errors, [{ field: 'deep.yaml', reason: 'YAML: collections are nested more than 100 deep' }]);
      }
    }
    const ok = parseConfigText(
      `apiVersion: mixer/v1\nkind: Instance\nmetadata: {name: n}\nspec: {template: metric, params: {value: "1", dimensions: {a: '${'['.repeat(1000)}'}}}\n`,
      'q.yaml',
      {},
    );
    assert.deepEqual(ok.errors, [], 'brackets inside a quoted string are not nesting');
  });
});
