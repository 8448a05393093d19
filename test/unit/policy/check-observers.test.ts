import { strict as assert } from 'node:assert';
import { Bag } from '../../../src/attributes/bag';
import { parseConfigText } from '../../../src/config/load';
import { compileConfig } from '../../../src/config/compile';
import { buildSnapshot } from '../../../src/runtime/snapshot';
import type { Snapshot } from '../../../src/runtime/snapshot';
import { ObserverHub } from '../../../src/runtime/observers';
import type { TapSink } from '../../../src/runtime/observers';
import { compileTapFilter } from '../../../src/tap/filter';
import { runCheck } from '../../../src/policy/check';
import { reportAccepted } from '../../../src/policy/report';
import { SelfMetrics } from '../../../src/metrics/self-metrics';
import { ThrottledLog } from '../../../src/base/throttled-log';
import { silentLogger } from '../../../src/base/log';
import type { AdapterFactory, CheckResult } from '../../../src/sdk/adapter';
import type { DecisionRecord } from '../../../src/sdk/decision';

const records: DecisionRecord[] = [];
let throwOnDecision = false;

const answer: AdapterFactory<CheckResult & { quota?: number }> = {
  name: 'answer',
  templates: ['checknothing', 'quota'],
  configSchema: { type: 'object' },
  create: (cfg) => ({ check: () => cfg, quota: () => ({ grantedAmount: cfg.quota ?? 1, validDuration: 1000 }) }),
};
const recorder: AdapterFactory = {
  name: 'recorder',
  templates: [],
  capabilities: ['decisions'],
  configSchema: { type: 'object' },
  create: () => ({
    decision: (r) => {
      if (throwOnDecision) throw new Error('recorder broke');
      records.push(r);
    },
  }),
};
const adapters = new Map<string, AdapterFactory>([
  [answer.name, answer],
  [recorder.name, recorder],
]);

const CONFIG = `apiVersion: mixer/v1
kind: AttributeManifest
metadata: {name: m}
spec:
  attributes:
    source.labels: {valueType: STRING_MAP}
    source.ip: {valueType: IP_ADDRESS}
    destination.service.name: {valueType: STRING}
    request.headers: {valueType: STRING_MAP}
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: nothing}
spec: {template: checknothing}
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: q}
spec: {template: quota, params: {dimensions: {d: destination.service.name | "none"}}}
---
apiVersion: mixer/v1
kind: Handler
metadata: {name: allow}
spec: {adapter: answer, params: {status: {code: 0}}}
---
apiVersion: mixer/v1
kind: Handler
metadata: {name: deny}
spec: {adapter: answer, params: {status: {code: 7, message: no}, validDuration: 5000}}
---
apiVersion: mixer/v1
kind: Rule
metadata: {name: a-allow}
spec: {actions: [{handler: allow, instances: [nothing, q]}]}
---
apiVersion: mixer/v1
kind: Rule
metadata: {name: b-deny}
spec:
  match: {all: [{fact: destination.service.name, operator: equal, value: backend}]}
  actions: [{handler: deny, instances: [nothing]}]
`;
const RECORDER = `---\napiVersion: mixer/v1\nkind: Handler\nmetadata: {name: log}\nspec: {adapter: recorder}\n`;

let metrics: SelfMetrics;

async function snapshotOf(text: string, observers: ObserverHub): Promise<Snapshot> {
  const loaded = parseConfigText(text, 't.yaml', {});
  assert.deepEqual(loaded.errors, []);
  const c = compileConfig(loaded.objects, adapters);
  assert.deepEqual(c.errors, []);
  metrics = new SelfMetrics({ processMetrics: false });
  return buildSnapshot(c.plan!, { generation: 4, epoch: 'test' }, { logger: silentLogger(), metrics, observers });
}

const opts = { timeoutMs: 50, log: new ThrottledLog(silentLogger()) };
const bag = (dst: string) =>
  Bag.trusted({
    'source.labels': { app: 'frontend' },
    'source.ip': '10.1.2.3',
    'destination.service.name': dst,
    'request.headers': { cookie: 'c=1', accept: '*/*' },
  });

/** A sink that keeps what it is sent, with a fixed budget. */
function sink(query: Record<string, string>, snapshot: Snapshot, budget = Infinity): TapSink & { got: any[]; refused: number } {
  const s = {
    filter: compileTapFilter({ ...(query as object) }, snapshot.plan.vocabulary),
    got: [] as any[],
    refused: 0,
    admit() {
      if (budget-- > 0) return true;
      s.refused++;
      return false;
    },
    send(_k: 'check' | 'report', json: string) {
      s.got.push(JSON.parse(json));
    },
  };
  return s;
}

describe('policy/check with observers (tap and decision handlers)', () => {
  beforeEach(() => {
    records.length = 0;
    throwOnDecision = false;
  });

  it('is inactive, and builds nothing, while no tap is open and no decision handler is configured', async () => {
    const hub = new ObserverHub('r1');
    const s = await snapshotOf(CONFIG, hub);
    assert.equal(hub.active, false);
    assert.equal(s.decisionHandlers.length, 0);
    const a = await runCheck(s, { bag: bag('backend') }, opts);
    assert.equal(a.status.code, 7);
  });

  it('hands every decision to handlers with the decisions capability: rules, calls, deciding call, referenced values, caller, masked credentials', async () => {
    const hub = new ObserverHub('r1');
    const s = await snapshotOf(CONFIG + RECORDER, hub);
    hub.setDecisionHandlers(s.decisionHandlers.length);
    assert.equal(hub.active, true);
    const a = await runCheck(s, { bag: bag('backend') }, opts);
    assert.equal(a.status.code, 7);
    assert.equal(records.length, 1);
    const r = records[0];
    assert.ok(Object.isFrozen(r));
    assert.deepEqual(r.status, { code: 7, message: 'no' });
    assert.deepEqual(r.rules, ['default/a-allow', 'default/b-deny']);
    assert.deepEqual(r.decidedBy, { rule: 'default/b-deny', handler: 'default/deny', instance: 'default/nothing' });
    assert.deepEqual(
      r.calls.map((c) => `${c.kind} ${c.rule} ${c.handler} ${c.status.code}${c.grantedAmount === undefined ? '' : ` granted ${c.grantedAmount}`}`),
      ['check default/a-allow default/allow 0', 'check default/b-deny default/deny 7', 'quota default/a-allow default/allow 0 granted 1'],
    );
    assert.deepEqual(r.referenced, [{ name: 'destination.service.name', condition: 'EXACT', value: 'backend' }]);
    assert.deepEqual(r.caller, { app: 'frontend', ip: '10.1.2.3' });
    assert.deepEqual(r.destination, { service: 'backend' });
    assert.deepEqual((r.attributes['request.headers'] as Record<string, string>).cookie, '<masked>');
    assert.equal(r.configGeneration, 4);
    assert.equal(r.validDuration, 5000);
    assert.ok(r.durationMs >= 0);
    assert.match(r.decisionId, /^[0-9a-f-]{36}$/);
    // The bag is read through the record's class, not an accessor of its own (one hidden class for
    // every record): JSON and spreads of a record leave it out, reading it gives the masked bag.
    assert.equal(Object.getOwnPropertyDescriptor(r, 'attributes'), undefined);
    assert.ok(
      Object.values(Object.getOwnPropertyDescriptors(r)).every((d) => 'value' in d),
      'no own getters',
    );
    assert.equal((JSON.parse(JSON.stringify(r)) as Record<string, unknown>).attributes, undefined);
    assert.equal(JSON.parse(JSON.stringify(r)).decisionId, r.decisionId);
    assert.equal(r.attributes['destination.service.name'], 'backend');
    assert.equal(r.attributes, r.attributes, 'made once');
  });

  it('a decision handler that throws is counted and never changes the answer', async () => {
    const hub = new ObserverHub('r1');
    const s = await snapshotOf(CONFIG + RECORDER, hub);
    hub.setDecisionHandlers(s.decisionHandlers.length);
    throwOnDecision = true;
    const a = await runCheck(s, { bag: bag('reviews') }, opts);
    assert.equal(a.status.code, 0);
    assert.equal(records.length, 0);
    const text = await metrics.registry.metrics();
    assert.match(text, /mixer_adapter_dispatch_total\{handler="default\/log",result="error"\} 1/);
  });

  it('taps get checks and reports that match, once each; a refused (over-rate) tap costs no record', async () => {
    const hub = new ObserverHub('r1');
    const s = await snapshotOf(CONFIG, hub);
    const backend = sink({ destination: 'backend' }, s);
    const denied = sink({ denied: true } as never, s, 1);
    const detachA = hub.addSink(backend);
    const detachB = hub.addSink(denied);
    assert.equal(hub.active, true);
    await runCheck(s, { bag: bag('backend') }, opts);
    await runCheck(s, { bag: bag('reviews') }, opts);
    await runCheck(s, { bag: bag('backend') }, opts);
    reportAccepted(s, [bag('backend').values, bag('reviews').values]);
    assert.deepEqual(
      backend.got.map((e) => `${e.kind} ${e.attributes['destination.service.name']} ${e.status?.code ?? '-'}`),
      ['check backend 7', 'check backend 7', 'report backend -'],
    );
    assert.equal(backend.got[0].replica, 'r1');
    assert.equal(backend.got[2].attributes['request.headers'].cookie, '<masked>');
    assert.equal(denied.got.length, 1, 'denied=true: the one its budget allowed');
    assert.equal(denied.refused, 1);
    detachA();
    detachB();
    assert.equal(hub.active, false);
  });
});
