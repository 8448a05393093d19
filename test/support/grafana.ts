import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

/** The parts of a Grafana dashboard JSON model the tests read. */
export interface GrafanaPanel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Array<{ refId: string; expr?: string; datasource?: { type?: string; uid?: string } }>;
  panels?: GrafanaPanel[];
}

export interface GrafanaVariable {
  name: string;
  type: string;
  query?: string | { query?: string };
  definition?: string;
  includeAll?: boolean;
  allValue?: string | null;
}

export interface GrafanaDashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: GrafanaPanel[];
  templating?: { list: GrafanaVariable[] };
}

/** A dashboard file as read from disk: `error` when it is not valid JSON. */
export interface DashboardFile {
  file: string;
  dashboard?: GrafanaDashboard;
  error?: string;
}

/** Reads every `*.json` of `dir` (sorted by name). */
export function readDashboards(dir: string): DashboardFile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      try {
        return { file, dashboard: JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as GrafanaDashboard };
      } catch (err) {
        return { file, error: (err as Error).message };
      }
    });
}

/** Every panel, rows' nested panels (collapsed rows) included. */
export function allPanels(d: GrafanaDashboard): GrafanaPanel[] {
  const out: GrafanaPanel[] = [];
  const walk = (ps: GrafanaPanel[] | undefined): void => {
    for (const p of ps ?? []) {
      out.push(p);
      walk(p.panels);
    }
  };
  walk(d.panels);
  return out;
}

/** One PromQL target of one panel, named for failure messages. */
export interface PanelQuery {
  /** `mesh.json › panel 7 "HTTP Services" › target B` */
  name: string;
  expr: string;
}

/** Every panel target that carries an expression. */
export function panelQueries(file: string, d: GrafanaDashboard): PanelQuery[] {
  const out: PanelQuery[] = [];
  for (const p of allPanels(d)) {
    for (const t of p.targets ?? []) {
      if (t.expr !== undefined) out.push({ name: `${file} › panel ${p.id} "${p.title}" › target ${t.refId}`, expr: t.expr });
    }
  }
  return out;
}

/** A variable's query text (Grafana stores it as a string or as `{query}`). */
export function variableQuery(v: GrafanaVariable): string | undefined {
  return typeof v.query === 'string' ? v.query : (v.query?.query ?? v.definition);
}

/** Grafana's own variables, which the dashboards may use without defining them. */
export const GRAFANA_BUILTINS = new Set(['__rate_interval', '__interval', '__interval_ms', '__range', '__range_s', '__range_ms']);

const VARIABLE = /\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)/g;

/** Names of the template variables `text` uses (`$name`, `${name}`, `${name:format}`, `[[name]]`). */
export function variablesIn(text: string): string[] {
  const names = new Set<string>();
  for (const m of text.matchAll(VARIABLE)) names.add(m[1] ?? m[2] ?? m[3]);
  return [...names];
}

/** `text` with every variable replaced by its value in `values`; throws naming a variable without one. */
export function substituteVariables(text: string, values: Record<string, string>): string {
  return text.replace(VARIABLE, (_all, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c)!;
    const v = values[name];
    if (v === undefined) throw new Error(`no value for template variable $${name}`);
    return v;
  });
}

/**
 * Grafana's `label_values(label)` / `label_values(selector, label)` turned into PromQL that lists the same
 * values as the `label` of each result series; undefined for other variable queries.
 */
export function labelValuesAsPromQL(query: string): { expr: string; label: string } | undefined {
  const m = /^\s*label_values\(\s*(?:(.*\S)\s*,\s*)?(\w+)\s*\)\s*$/s.exec(query);
  if (!m) return undefined;
  const [, selector, label] = m;
  return { expr: `count by (${label}) (${selector ?? `{${label}!=""}`})`, label };
}
