/** The graph of one window, as Kiali-style JSON or Graphviz DOT. */
import { quantile } from './stats';
import type { EdgeStats, NodeData } from './stats';
import type { WindowName, WindowRange } from './windows';

/** One edge as rendered in `elements.edges[].data`. Rates are per second, latencies ms. */
export interface EdgeData {
  id: string;
  source: string;
  target: string;
  protocol: string;
  /** Requests per second over the window. */
  requestRate: number;
  /** Share of requests answered 5xx, 0..1. */
  errorRate: number;
  /** Latency estimates, ms (0 when no request had a duration). */
  p50: number;
  p95: number;
  p99: number;
  meanLatency: number;
  /** Request plus response bytes per second. */
  bytesRate: number;
  /** Share of requests over mutual TLS, 0..1. */
  mtlsShare: number;
  requests: number;
  errors: number;
}

/** The graph of one window. */
export interface GraphView {
  window: WindowName;
  /** When it was read, epoch ms. */
  now: number;
  /** Nodes sorted by id; edges sorted by id. */
  nodes: NodeData[];
  edges: EdgeData[];
  /** Edges of the window left out of this answer (beyond `maxGraphEdges`, the least busy first). */
  omittedEdges: number;
}

const round = (v: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

/**
 * Builds the graph of the summed stats of a window: at most `maxEdges` edges, the busiest (most
 * requests, then by id), and the nodes they join. A node's fields are merged over every edge
 * that names it (a non-empty value wins), so a node gets its `service` from the edges it receives.
 */
export function buildGraph(
  all: ReadonlyMap<string, EdgeStats>,
  window: WindowName,
  range: WindowRange,
  now: number,
  maxEdges = Number.MAX_SAFE_INTEGER,
): GraphView {
  let stats: Iterable<[string, EdgeStats]> = all;
  let omittedEdges = 0;
  if (all.size > maxEdges) {
    const busy = [...all].filter(([, s]) => s.c > 0).sort(([a, x], [b, y]) => y.c - x.c || (a < b ? -1 : a > b ? 1 : 0));
    omittedEdges = Math.max(0, busy.length - maxEdges);
    stats = busy.slice(0, maxEdges);
  }
  const seconds = range.spanMs / 1000;
  const nodes = new Map<string, NodeData>();
  const addNode = (n: NodeData): void => {
    const cur = nodes.get(n.id);
    if (!cur) {
      nodes.set(n.id, { ...n });
      return;
    }
    for (const k of ['namespace', 'app', 'version', 'workload', 'service'] as const) if (!cur[k] && n[k]) cur[k] = n[k];
  };
  const edges: EdgeData[] = [];
  for (const [id, s] of stats) {
    if (s.c <= 0) continue;
    addNode(s.s);
    addNode(s.d);
    const q = (p: number): number => round(quantile(s, p) ?? 0, 3);
    edges.push({
      id,
      source: s.s.id,
      target: s.d.id,
      protocol: s.p,
      requestRate: round(s.c / seconds, 6),
      errorRate: round(s.e / s.c, 6),
      p50: q(0.5),
      p95: q(0.95),
      p99: q(0.99),
      meanLatency: s.ln > 0 ? round(s.ls / s.ln, 3) : 0,
      bytesRate: round(s.b / seconds, 6),
      mtlsShare: round(s.m / s.c, 6),
      requests: s.c,
      errors: s.e,
    });
  }
  const byId = <T extends { id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  return { window, now, nodes: [...nodes.values()].sort(byId), edges: edges.sort(byId), omittedEdges };
}

/**
 * Kiali-style graph JSON: `{timestamp (unix s), duration (s), window, omittedEdges, elements: {nodes, edges}}`
 * (`omittedEdges`: edges of the window beyond `maxGraphEdges`, not in `elements`).
 */
export function toGraphJson(view: GraphView, windowMs: number): object {
  return {
    timestamp: Math.floor(view.now / 1000),
    duration: windowMs / 1000,
    window: view.window,
    omittedEdges: view.omittedEdges,
    elements: {
      nodes: view.nodes.map((data) => ({ data })),
      edges: view.edges.map((data) => ({ data })),
    },
  };
}

/** A DOT double-quoted string (backslashes, quotes and line breaks escaped). */
export function dotString(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}

function nodeLabel(n: NodeData): string {
  const name = n.nodeType === 'app' ? (n.version ? `${n.app} ${n.version}` : n.app) : n.nodeType === 'service' ? n.service : n.workload;
  return `${name}\n${n.namespace}`;
}

const SHAPES: Readonly<Record<NodeData['nodeType'], string>> = { app: 'box', workload: 'ellipse', service: 'triangle' };

function fixed(v: number, digits: number): string {
  const s = v.toFixed(digits);
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

/** Graphviz DOT: `digraph mesh {...}` with every id quoted; edge labels give rate, error % and p95. */
export function toDot(view: GraphView): string {
  const lines = [
    'digraph mesh {',
    '  rankdir=LR;',
    `  label=${dotString(`service graph, last ${view.window}${view.omittedEdges > 0 ? ` (${view.omittedEdges} least busy edges left out)` : ''}`)};`,
    '  node [fontname="Helvetica", style=rounded];',
    '  edge [fontname="Helvetica", fontsize=10];',
  ];
  for (const n of view.nodes) {
    lines.push(`  ${dotString(n.id)} [label=${dotString(nodeLabel(n))}, shape=${SHAPES[n.nodeType]}];`);
  }
  for (const e of view.edges) {
    const label = `${fixed(e.requestRate, 2)} rps\n${fixed(e.errorRate * 100, 1)}% err\np95 ${fixed(e.p95, 1)} ms`;
    const color = e.errorRate > 0 ? ', color="red"' : '';
    lines.push(`  ${dotString(e.source)} -> ${dotString(e.target)} [label=${dotString(label)}${color}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
