import { parseDuration } from '../attributes/duration';
import type { ErrorDetail } from '../base/errors';
import { detailAt } from './source';
import type { ConfigObject } from './source';
import type { RouteRuleSpecValue } from './route-rule-schema';
import { compileHeaderRegex } from '../routing/select';
import type { HeaderMatch, RouteRulePlan, WeightedRoute } from '../routing/types';

/** Most retries a rule may ask for (bounded everything: a retry storm multiplies load). */
export const MAX_RETRY_ATTEMPTS = 10;
/** Longest injected delay a rule may ask for, ms. */
export const MAX_FAULT_DELAY_MS = 60_000;

/** Orders rules as sidecars try them: highest precedence first, then by name, then by namespace. */
export function byPrecedence(a: RouteRulePlan, b: RouteRulePlan): number {
  if (a.precedence !== b.precedence) return b.precedence - a.precedence;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0;
}

/**
 * `backend`, `backend.shop` or `backend.shop.svc.cluster.local` → name and namespace
 * (the namespace defaults to `namespace`).
 */
export function splitServiceName(text: string, namespace: string): { name: string; namespace: string } {
  const parts = text.split('.');
  return { name: parts[0], namespace: parts.length > 1 && parts[1] !== '' ? parts[1] : namespace };
}

function percent(v: number, at: (path: Array<string | number>, reason: string) => void, path: Array<string | number>): number {
  if (!Number.isFinite(v) || v < 0 || v > 100) at(path, `must be a percentage from 0 to 100, got ${v}`);
  return v;
}

function duration(text: string, at: (path: Array<string | number>, reason: string) => void, path: Array<string | number>, min: number, max = Infinity): number {
  const ms = parseDuration(text);
  if (ms === undefined) at(path, `${JSON.stringify(text)} is not a duration (Go syntax: 150ms, 1.5s, 1m)`);
  else if (ms < min || ms > max)
    at(path, `must be ${min === 0 ? 'at least 0s' : 'more than 0s'}${Number.isFinite(max) ? ` and at most ${max / 1000}s` : ''}, got ${text}`);
  return ms ?? 0;
}

function compileHeaders(raw: Readonly<Record<string, HeaderMatch>>, at: (path: Array<string | number>, reason: string) => void): Record<string, HeaderMatch> {
  const out: Record<string, HeaderMatch> = {};
  for (const [name, m] of Object.entries(raw)) {
    const path = ['spec', 'match', 'request', 'headers', name];
    const key = name.toLowerCase();
    if (Object.hasOwn(out, key)) at(path, `header ${key} is matched twice (names are case-insensitive)`);
    if (m.regex !== undefined) {
      try {
        compileHeaderRegex(m.regex);
      } catch (err) {
        at([...path, 'regex'], (err as Error).message);
      }
    }
    out[key] = { ...m };
  }
  return out;
}

function compileRoutes(raw: RouteRuleSpecValue['route'], at: (path: Array<string | number>, reason: string) => void): WeightedRoute[] {
  if (raw === undefined) return [{ labels: {}, weight: 100 }];
  if (raw.length === 1) {
    const w = raw[0].weight ?? 100;
    if (w !== 100) at(['spec', 'route', 0, 'weight'], `the only route must take all traffic (weight 100 or none), got ${w}`);
    return [{ labels: { ...(raw[0].labels ?? {}) }, weight: 100 }];
  }
  let sum = 0;
  const out = raw.map((r, i) => {
    if (r.weight === undefined) at(['spec', 'route', i], 'needs a weight: when a rule has several routes, every route has one');
    else if (r.weight < 0 || r.weight > 100) at(['spec', 'route', i, 'weight'], `must be from 0 to 100, got ${r.weight}`);
    sum += r.weight ?? 0;
    return { labels: { ...(r.labels ?? {}) }, weight: r.weight ?? 0 };
  });
  if (sum !== 100 && raw.every((r) => r.weight !== undefined)) at(['spec', 'route'], `weights must sum to 100, they sum to ${sum}`);
  return out;
}

function compileOne(o: ConfigObject, errors: ErrorDetail[]): RouteRulePlan | undefined {
  const spec = (o.doc as unknown as { spec: RouteRuleSpecValue }).spec;
  const before = errors.length;
  const at = (path: Array<string | number>, reason: string): void => void errors.push(detailAt(o, path, reason));
  const dest = splitServiceName(spec.destination.name, spec.destination.namespace ?? o.namespace);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(dest.name)) at(['spec', 'destination', 'name'], `${JSON.stringify(spec.destination.name)} is not a service name`);
  const plan: RouteRulePlan = {
    ref: `${o.namespace}/${o.name}`,
    name: o.name,
    namespace: o.namespace,
    destination: dest,
    precedence: spec.precedence ?? 0,
    match: {},
    routes: compileRoutes(spec.route, at),
  };
  const m = spec.match;
  if (m?.source?.name !== undefined) plan.match.sourceName = m.source.name;
  if (m?.source?.labels !== undefined) plan.match.sourceLabels = { ...m.source.labels };
  if (m?.request?.headers !== undefined) plan.match.headers = compileHeaders(m.request.headers, at);
  if (spec.httpReqTimeout)
    plan.timeoutMs = duration(spec.httpReqTimeout.simpleTimeout.timeout, at, ['spec', 'httpReqTimeout', 'simpleTimeout', 'timeout'], Number.MIN_VALUE);
  const retry = spec.httpReqRetries?.simpleRetry;
  if (retry) {
    if (retry.attempts < 0 || retry.attempts > MAX_RETRY_ATTEMPTS)
      at(['spec', 'httpReqRetries', 'simpleRetry', 'attempts'], `must be from 0 to ${MAX_RETRY_ATTEMPTS}, got ${retry.attempts}`);
    plan.retries = { attempts: retry.attempts };
    if (retry.perTryTimeout !== undefined)
      plan.retries.perTryTimeoutMs = duration(retry.perTryTimeout, at, ['spec', 'httpReqRetries', 'simpleRetry', 'perTryTimeout'], Number.MIN_VALUE);
  }
  const fault = spec.httpFault;
  if (fault && (fault.delay || fault.abort)) {
    plan.fault = {};
    if (fault.delay) {
      const p = ['spec', 'httpFault', 'delay'];
      plan.fault.delay = {
        percent: percent(fault.delay.percent, at, [...p, 'percent']),
        fixedDelayMs: duration(fault.delay.fixedDelay, at, [...p, 'fixedDelay'], 0, MAX_FAULT_DELAY_MS),
      };
    }
    if (fault.abort) {
      const p = ['spec', 'httpFault', 'abort'];
      const status = fault.abort.httpStatus;
      if (status < 200 || status > 599) at([...p, 'httpStatus'], `must be an HTTP status from 200 to 599, got ${status}`);
      plan.fault.abort = { percent: percent(fault.abort.percent, at, [...p, 'percent']), httpStatus: status };
    }
  }
  return errors.length === before ? plan : undefined;
}

/**
 * Validates and normalises every `RouteRule` among `objects` (other kinds are ignored): weights
 * are integers summing to 100, header regexes compile, durations parse and are positive,
 * percentages are 0–100, retries are bounded. Returns the rules in the order sidecars try them
 * ({@link byPrecedence}) and every problem found (`file:line RouteRule/ns/name path: reason`).
 */
export function compileRouteRules(objects: readonly ConfigObject[]): { routes: readonly RouteRulePlan[]; errors: ErrorDetail[] } {
  const errors: ErrorDetail[] = [];
  const routes: RouteRulePlan[] = [];
  for (const o of objects) {
    if (o.kind !== 'RouteRule') continue;
    const plan = compileOne(o, errors);
    if (plan) routes.push(plan);
  }
  routes.sort(byPrecedence);
  return { routes: Object.freeze(routes), errors };
}
