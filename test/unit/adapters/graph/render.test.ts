import assert from 'node:assert/strict';
import { aggregate } from '../../../../adapters/graph/aggregate';
import { observationOf } from '../../../../adapters/graph/observation';
import { buildGraph, dotString, toDot } from '../../../../adapters/graph/render';
import { bucketIndex, emptyStats, observe, quantile } from '../../../../adapters/graph/stats';
import { MemoryGraphStore } from '../../../../adapters/graph/store';
import { windowRange } from '../../../../adapters/graph/windows';
import { BACKEND_V1, BACKEND_V2, edge, FRONTEND, INGRESS, T0, times } from './fixtures';
import type { Side } from './fixtures';

/** The statements of a DOT graph, checked structurally: quoted ids, balanced braces, declared endpoints. */
function parseDot(text: string): { nodes: Map<string, string>; edges: Array<{ from: string; to: string; label: string }> } {
  const body = /^digraph mesh \{\n([\s\S]*)\n\}\n$/.exec(text);
  assert.ok(body, 'digraph mesh { ... }');
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}') depth--;
    assert.ok(depth >= 0, 'braces balance');
  }
  assert.equal(depth, 0, 'braces balance');
  assert.equal(inString, false, 'strings are closed');
  const q = '"((?:[^"\\\\]|\\\\.)*)"';
  const nodeRe = new RegExp(`^  ${q} \\[label=${q}, shape=(\\w+)\\];$`);
  const edgeRe = new RegExp(`^  ${q} -> ${q} \\[label=${q}(?:, color="\\w+")?\\];$`);
  const unescape = (s: string): string => s.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
  const nodes = new Map<string, string>();
  const edges: Array<{ from: string; to: string; label: string }> = [];
  for (const line of body[1].split('\n')) {
    const n = nodeRe.exec(line);
    const e = edgeRe.exec(line);
    if (n) nodes.set(unescape(n[1]), unescape(n[2]));
    else if (e) edges.push({ from: unescape(e[1]), to: unescape(e[2]), label: unescape(e[3]) });
    else assert.match(line, /^ {2}(rankdir=LR|label="[^"]*"|node \[.*\]|edge \[.*\]);$/, `unexpected statement: ${line}`);
  }
  for (const e of edges) {
    assert.ok(nodes.has(e.from), `edge source ${e.from} declared`);
    assert.ok(nodes.has(e.to), `edge target ${e.to} declared`);
  }
  return { nodes, edges };
}

async function viewOf(instances: ReturnType<typeof edge>[]) {
  const store = new MemoryGraphStore(100);
  await store.apply(
    'j',
    aggregate(
      instances.map((i) => observationOf(i)),
      T0,
    ),
    T0,
  );
  const range = windowRange('5m', T0);
  return buildGraph(await store.read(range, T0), '5m', range, T0);
}

describe('graph rendering', () => {
  it('DOT declares every node, quotes every id and labels edges with rate, error % and p95', async () => {
    const view = await viewOf([
      ...times(59, edge(INGRESS, FRONTEND, 'frontend', { duration: 20 })),
      ...times(1, edge(INGRESS, FRONTEND, 'frontend', { duration: 20, responseCode: 502 })),
      ...times(2, edge(FRONTEND, BACKEND_V1, 'backend', { duration: 100 })),
      edge(FRONTEND, BACKEND_V2, 'backend', { duration: 3 }),
      edge(undefined, FRONTEND, 'frontend'),
    ]);
    const dot = parseDot(toDot(view));
    assert.equal(dot.nodes.size, 5);
    assert.equal(dot.nodes.get('app:shop/backend/v2'), 'backend v2\nshop');
    assert.equal(dot.edges.length, 4);
    const ingress = dot.edges.find((e) => e.from === 'app:istio-system/istio-ingressgateway');
    // 60 requests over 295 s (T0 is 35 s into the hour).
    assert.equal(ingress?.label, `0.2 rps\n1.7% err\np95 20 ms`);
  });

  it('DOT stays valid for names with quotes, backslashes and line breaks', async () => {
    const odd: Side = { ns: 'we"ird', workload: 'back\\slash\nname' };
    const dotText = toDot(await viewOf([edge(odd, BACKEND_V1, 'backend'), edge(FRONTEND, odd, 'x"y')]));
    const dot = parseDot(dotText);
    assert.ok(dot.nodes.has('workload:we"ird/back\\slash\nname'));
    assert.equal(dot.edges.length, 2);
    assert.equal(dotString('a"b\\c\nd'), '"a\\"b\\\\c\\nd"');
  });

  it('an empty graph is still a valid digraph and JSON with no elements', async () => {
    const view = await viewOf([]);
    assert.deepEqual(parseDot(toDot(view)), { nodes: new Map(), edges: [] });
    assert.deepEqual(view.nodes, []);
  });
});

describe('graph latency histogram', () => {
  it('buckets are a quarter octave wide: powers of two sit on upper bounds', () => {
    assert.equal(bucketIndex(1), 0);
    assert.equal(bucketIndex(1.1), 1);
    assert.equal(bucketIndex(2), 4);
    assert.equal(bucketIndex(1024), 40);
    assert.equal(bucketIndex(0), bucketIndex(-1));
    assert.equal(bucketIndex(1e12), bucketIndex(1e13), 'clamped at the top');
  });

  it('quantiles are nearest-rank, answered as the mean of the bucket that holds the rank', () => {
    const s = emptyStats('http', {} as never, {} as never);
    for (let ms = 1; ms <= 100; ms++) observe(s, false, 0, false, ms);
    // rank 50 is 50 ms, in bucket (2^(22/4), 2^(23/4)] = (45.25, 53.8]: values 46..53, mean 49.5
    assert.equal(quantile(s, 0.5), 49.5);
    // rank 99 is 99 ms, in (90.5, 107.6]: 91..100, mean 95.5
    assert.equal(quantile(s, 0.99), 95.5);
    // every estimate lies in the true value's bucket, so within a factor 2^(1/4)
    for (const q of [0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]) {
      const truth = Math.ceil(q * 100);
      const est = quantile(s, q)!;
      assert.ok(est / truth < 2 ** 0.25 && truth / est < 2 ** 0.25, `q=${q}: ${est} vs ${truth}`);
    }
    assert.equal(quantile(emptyStats('http', {} as never, {} as never), 0.5), undefined);
  });
});
