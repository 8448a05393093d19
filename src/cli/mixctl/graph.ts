import type { MixerClient } from './client';
import { emit, renderTable, writeOut } from './output';
import type { OutputFormat } from './output';

/** Windows `GET /v1/graph` serves. */
export const GRAPH_WINDOWS = ['1m', '5m', '1h'] as const;

interface GraphNode {
  data: { id: string; nodeType?: string; namespace?: string; app?: string; version?: string; workload?: string; service?: string };
}
interface GraphEdge {
  data: {
    source: string;
    target: string;
    protocol?: string;
    requestRate?: number;
    errorRate?: number;
    p50?: number;
    p95?: number;
    p99?: number;
    requests?: number;
    errors?: number;
    mtlsShare?: number;
  };
}
interface GraphAnswer {
  window?: string;
  elements?: { nodes?: GraphNode[]; edges?: GraphEdge[] };
}

const num = (v: number | undefined, digits = 2): string => (v === undefined ? '-' : String(Number(v.toFixed(digits))));
const pct = (v: number | undefined): string => (v === undefined ? '-' : `${Number((v * 100).toFixed(1))}%`);

/** The graph for people: one line per edge (rate, errors, latency percentiles), then the node count. */
export function renderGraph(g: GraphAnswer, window: string): string {
  const nodes = g.elements?.nodes ?? [];
  const edges = g.elements?.edges ?? [];
  if (edges.length === 0 && nodes.length === 0) return `No traffic in the last ${window}.`;
  const rows = edges.map(({ data: e }) => [
    e.source,
    e.target,
    e.protocol ?? '',
    num(e.requestRate),
    pct(e.errorRate),
    num(e.p50, 1),
    num(e.p95, 1),
    num(e.p99, 1),
    pct(e.mtlsShare),
    String(e.requests ?? '-'),
  ]);
  const table = renderTable(['source', 'target', 'protocol', 'req/s', 'errors', 'p50 ms', 'p95 ms', 'p99 ms', 'mtls', 'requests'], rows);
  return `${table}\n${nodes.length} node(s), ${edges.length} edge(s) in the last ${window}`;
}

/** `mixctl graph [--window 5m] [--dot]`: the dependency graph as a table, Graphviz DOT, JSON or YAML. */
export async function graphCommand(client: MixerClient, format: OutputFormat, opts: { window: string; dot: boolean }): Promise<void> {
  if (opts.dot) {
    const a = await client.send('GET', '/v1/graph', { query: { window: opts.window, format: 'dot' } });
    writeOut(a.text);
    return;
  }
  const g = (await client.json('GET', '/v1/graph', { query: { window: opts.window, format: 'json' } })) as GraphAnswer;
  emit(format, g, () => renderGraph(g, opts.window));
}
