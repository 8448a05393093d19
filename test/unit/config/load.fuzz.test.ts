import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { parseConfigText } from '../../../src/config/load';
import type { LoadResult } from '../../../src/config/load';
import { compileConfig } from '../../../src/config/compile';
import { KINDS } from '../../../src/config/schema';
import type { ErrorDetail } from '../../../src/base/errors';
import { adapterInventory } from '../../../adapters/index';
import { REPO } from '../../support/processes';
import { fuzzParams, nastyString, withinHangBoundSync } from '../../support/fuzz';

const rules = (file: string): string => readFileSync(path.join(REPO, 'rules', file), 'utf8');
const MANIFEST = parseConfigText(rules('attributes.yaml'), 'attributes.yaml', {});
const TARGETS = ['graph.yaml', 'metrics.yaml', 'tracing.yaml'].map((f) => ({ file: f, text: rules(f) }));
const adapters = adapterInventory();

/** Text that means something to YAML, to the schema or to `${VAR}` expansion. */
const PIECES = [
  ':',
  ': ',
  '- ',
  '{',
  '}',
  '[',
  ']',
  ',',
  '&a ',
  '*a',
  '<<: *a\n',
  '!!binary ',
  '!!js/function ',
  '!custom ',
  '"',
  "'",
  '\n',
  '\n  ',
  '\t',
  '#',
  '${X}',
  '${',
  '$${Y}',
  '---\n',
  '...\n',
  '~',
  'null',
  '1e999',
  '0x10',
  '-.inf',
  '? ',
  '|\n  ',
  '>-\n  ',
  '__proto__: {}\n',
  'kind: Rule\n',
  'spec: []\n',
  'metadata: {name: ""}\n',
  '\u0000',
  '\uFEFF',
  '\r\n',
];

/** One edit of a text: delete, duplicate or overwrite a slice, or insert a piece. Positions are fractions. */
type Edit = { op: 'delete' | 'dup'; at: number; len: number } | { op: 'insert' | 'overwrite'; at: number; piece: string };
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constantFrom('delete' as const, 'dup' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), len: fc.integer({ min: 1, max: 80 }) }),
  fc.record({
    op: fc.constantFrom('insert' as const, 'overwrite' as const),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    piece: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...PIECES) }, { weight: 1, arbitrary: nastyString }),
  }),
);

function applyEdit(text: string, e: Edit): string {
  const i = Math.floor(e.at * text.length);
  switch (e.op) {
    case 'delete':
      return text.slice(0, i) + text.slice(i + e.len);
    case 'dup':
      return text.slice(0, i + e.len) + text.slice(i, i + e.len) + text.slice(i + e.len);
    case 'insert':
      return text.slice(0, i) + e.piece + text.slice(i);
    case 'overwrite':
      return text.slice(0, i) + e.piece + text.slice(i + e.piece.length);
  }
}

function checkDetails(details: readonly ErrorDetail[]): void {
  for (const d of details) {
    assert.equal(typeof d.field, 'string');
    assert.equal(typeof d.reason, 'string');
    assert.ok(d.reason.length > 0, 'every problem says why');
  }
}

/** Parses (timed) and, when the text is valid, compiles it beside the default vocabulary (timed). */
function loadAndCompile(text: string): LoadResult {
  const loaded = withinHangBoundSync('parseConfigText', () => parseConfigText(text, 'fuzz.yaml', { X: 'x' }));
  checkDetails(loaded.errors);
  for (const o of loaded.objects) assert.ok((KINDS as readonly string[]).includes(o.kind), `object of a known kind: ${o.kind}`);
  if (loaded.errors.length === 0) {
    const compiled = withinHangBoundSync('compileConfig', () => compileConfig([...MANIFEST.objects, ...loaded.objects], adapters));
    checkDetails(compiled.errors);
    assert.ok((compiled.plan === undefined) === compiled.errors.length > 0, 'a plan exactly when there is no error');
  }
  return loaded;
}

describe('config/load and compile (fuzz)', function () {
  this.timeout(120_000);

  before(() => {
    assert.deepEqual(MANIFEST.errors, []);
    // Warm up the parser and compiler so the first fuzzed call is not measured with JIT compiling.
    for (let i = 0; i < 3; i++) for (const t of TARGETS) loadAndCompile(t.text);
  });

  it('the shipped rules files with random edits: parsed, refused with problems or compiled, never a throw or a hang', () => {
    let valid = 0;
    fc.assert(
      fc.property(fc.constantFrom(...TARGETS), fc.array(edit, { minLength: 1, maxLength: 4 }), (target, edits) => {
        const text = edits.reduce(applyEdit, target.text);
        if (loadAndCompile(text).errors.length === 0) valid++;
      }),
      fuzzParams(800),
    );
    // The edits must leave some files valid, or the compiler is never reached.
    assert.ok(valid > 0, 'some edited files still load, so compile is fuzzed too');
  });

  it('generated documents of every kind with random specs (as JSON, which is YAML): never a throw or a hang', () => {
    const json: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        nastyString,
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('v'), { maxLength: 4 }),
        fc.dictionary(
          fc.oneof(nastyString, fc.constantFrom('adapter', 'params', 'template', 'match', 'actions', 'handler', 'instances', 'attributes', 'valueType')),
          tie('v'),
          {
            maxKeys: 4,
            noNullPrototype: true,
          },
        ),
      ),
    })).v;
    const doc = fc.record({
      apiVersion: fc.oneof(fc.constant('mixer/v1'), nastyString),
      kind: fc.oneof(fc.constantFrom(...KINDS), nastyString),
      metadata: fc.oneof(
        fc.record({ name: fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), nastyString), namespace: fc.constantFrom('default', 'istio-system') }),
        json,
      ),
      spec: json,
    });
    fc.assert(
      fc.property(fc.array(doc, { minLength: 1, maxLength: 3 }), (docs) => {
        loadAndCompile(docs.map((d) => JSON.stringify(d)).join('\n---\n'));
      }),
      fuzzParams(1500, 13),
    );
  });

  it('arbitrary text: never a throw or a hang', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          nastyString,
          fc.array(fc.constantFrom(...PIECES), { maxLength: 40 }).map((a) => a.join('')),
        ),
        (text) => {
          loadAndCompile(text);
        },
      ),
      fuzzParams(1500, 17),
    );
  });
});
