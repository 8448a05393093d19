import { MAX_REGEX_INPUT, compileLinearRegex } from '../base/linear-regex';
import type { HeaderMatch, RouteRulePlan, WeightedRoute } from './types';

/**
 * Compiles a header rule's `regex` as a whole-value match (Envoy's semantics) on the linear-time
 * engine; throws on bad syntax or a pattern that cannot run in linear time.
 */
export function compileHeaderRegex(source: string): RegExp {
  compileLinearRegex(source);
  return compileLinearRegex(`^(?:${source})$`);
}

/** What a proxy knows about a request when it picks a route. */
export interface RouteRequest {
  /** Destination service name and namespace. */
  service: string;
  namespace: string;
  /** Lower-case header names; values as received (arrays joined with `,`). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Request path with its query (the `uri` pseudo-header). */
  path: string;
}

/** The caller: its service name and labels (`match.source`). */
export interface RouteSource {
  name: string;
  labels: Readonly<Record<string, string>>;
}

/** The outcome for one request: the rule that matched (if any) and the subset chosen by weight. */
export interface RouteDecision {
  rule?: RouteRulePlan;
  /** Labels an instance must carry; empty: any instance of the service. */
  labels: Readonly<Record<string, string>>;
}

type Test = (value: string) => boolean;

interface CompiledRule {
  plan: RouteRulePlan;
  headers: Array<[name: string, test: Test]>;
  sourceOk: (source: RouteSource) => boolean;
  /** Cumulative weights for the weighted pick. */
  cumulative: number[];
}

function testOf(m: HeaderMatch): Test {
  if (m.exact !== undefined) {
    const want = m.exact;
    return (v) => v === want;
  }
  if (m.prefix !== undefined) {
    const want = m.prefix;
    return (v) => v.startsWith(want);
  }
  let re: RegExp | undefined;
  try {
    re = compileHeaderRegex(m.regex ?? '');
  } catch {
    re = undefined;
  }
  // A value longer than MAX_REGEX_INPUT does not match (the rule is skipped, as for any mismatch).
  const compiled = re;
  return compiled ? (v) => v.length <= MAX_REGEX_INPUT && compiled.test(v) : () => false;
}

function compile(plan: RouteRulePlan): CompiledRule {
  const headers: Array<[string, Test]> = Object.entries(plan.match.headers ?? {}).map(([name, m]) => [name, testOf(m)]);
  const wantLabels = Object.entries(plan.match.sourceLabels ?? {});
  const wantName = plan.match.sourceName;
  const sourceOk = (s: RouteSource): boolean => (wantName === undefined || wantName === s.name) && wantLabels.every(([k, v]) => s.labels[k] === v);
  let sum = 0;
  const cumulative = plan.routes.map((r) => (sum += r.weight));
  return { plan, headers, sourceOk, cumulative };
}

function headerValue(req: RouteRequest, name: string): string | undefined {
  if (name === 'uri') return req.path;
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/**
 * The route rules one proxy holds, indexed by destination: picks the highest-precedence rule whose
 * match holds (ties by name), then one of its routes by weight. Rebuilt whole when Mixer's rules
 * change; lookups allocate nothing but the answer.
 */
export class RouteTable {
  private readonly byService = new Map<string, CompiledRule[]>();

  /** @param rules in the order Mixer serves them (highest precedence first, ties by name). */
  constructor(
    readonly rules: readonly RouteRulePlan[],
    private readonly random: () => number = Math.random,
  ) {
    for (const r of rules) {
      const key = `${r.destination.namespace}/${r.destination.name}`;
      let list = this.byService.get(key);
      if (!list) this.byService.set(key, (list = []));
      list.push(compile(r));
    }
  }

  /** The first matching rule and a weighted pick of its routes; no rule: any instance. */
  decide(req: RouteRequest, source: RouteSource): RouteDecision {
    const list = this.byService.get(`${req.namespace}/${req.service}`);
    if (list) {
      for (const c of list) {
        if (!c.sourceOk(source)) continue;
        let ok = true;
        for (const [name, test] of c.headers) {
          const v = headerValue(req, name);
          if (v === undefined || !test(v)) {
            ok = false;
            break;
          }
        }
        if (ok) return { rule: c.plan, labels: pick(c.plan.routes, c.cumulative, this.random()).labels };
      }
    }
    return { labels: {} };
  }
}

function pick(routes: readonly WeightedRoute[], cumulative: number[], r: number): WeightedRoute {
  const x = r * 100;
  for (let i = 0; i < routes.length; i++) if (x < cumulative[i]) return routes[i];
  // Weights of 0 only at the end, or rounding at 100: the last route with weight.
  for (let i = routes.length - 1; i >= 0; i--) if (routes[i].weight > 0) return routes[i];
  return routes[routes.length - 1];
}

/** True when `labels` has every key/value of `subset`. */
export function hasLabels(labels: Readonly<Record<string, string>>, subset: Readonly<Record<string, string>>): boolean {
  for (const k in subset) if (labels[k] !== subset[k]) return false;
  return true;
}
