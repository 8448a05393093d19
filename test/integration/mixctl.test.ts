import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startMixer, freePort, REPO } from '../support/processes';
import type { MixerProcess } from '../support/processes';
import { TempConfigDir, DENY_FRONTEND_TO_BACKEND } from '../support/config-dir';
import { waitFor } from '../support/wait';
import { runMixctl } from '../support/mixctl';
import type { MixctlRun } from '../support/mixctl';

const TOKEN = 'mixctl-test-token';

/** The seed's deny rule for `rule create`: it matches the source only; `rule create` adds the destination. */
const DENY_FROM_FRONTEND = `apiVersion: mixer/v1
kind: Rule
metadata: {name: deny-frontend}
spec:
  match:
    all:
      - {fact: source.labels, path: $.app, operator: equal, value: frontend}
  actions:
    - {handler: deny-frontend, instances: [deny-frontend]}
---
apiVersion: mixer/v1
kind: Handler
metadata: {name: deny-frontend}
spec:
  adapter: denier
  params: {status: {code: 7, message: frontend may not call backend}, validDuration: 5s, validUseCount: 1000}
---
apiVersion: mixer/v1
kind: Instance
metadata: {name: deny-frontend}
spec: {template: checknothing, params: {}}
`;

const FRONTEND = ['--stringmap_attributes', 'source.labels=app:frontend;version:v1'];

describe('mixctl, the operator CLI (real bin against a real Mixer)', function () {
  this.timeout(120_000);
  let cfg: TempConfigDir;
  let mixer: MixerProcess;
  /** Files mixctl reads (not in the config directory). */
  let work: string;
  const files: Record<string, string> = {};
  const mixctl = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<MixctlRun> => runMixctl(['--mixer', mixer.url, ...args], env);
  const admin = (args: string[]): Promise<MixctlRun> => mixctl(args, { MIXER_ADMIN_TOKEN: TOKEN });

  before(async () => {
    cfg = new TempConfigDir();
    cfg.write('graph.yaml', readFileSync(path.join(REPO, 'rules', 'graph.yaml'), 'utf8'));
    mixer = await startMixer({ MIXER_CONFIG_DIR: cfg.dir, REDIS_URL: '', MIXER_ADMIN_TOKEN: TOKEN });
    work = mkdtempSync(path.join(os.tmpdir(), 'mixctl-files-'));
    const write = (name: string, text: string): void => {
      files[name] = path.join(work, name);
      writeFileSync(files[name], text);
    };
    write('deny.yaml', DENY_FROM_FRONTEND);
    write('bad.yaml', 'apiVersion: mixer/v1\nkind: Rule\nmetadata: {name: broken}\nspec:\n  actions:\n    - {handler: nowhere, instances: [nothing]}\n');
    write('api.yaml', DENY_FRONTEND_TO_BACKEND.replace(/namespace: default/g, 'namespace: shop'));
  });
  after(async () => {
    await mixer?.stop();
    cfg?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('check prints the verdict and exits 0: OK, then PERMISSION_DENIED once a deny rule file appears, then OK again', async () => {
    const check = [...FRONTEND, '-s', 'destination.service.name=backend'];
    const ok = await mixctl(['check', ...check]);
    assert.equal(ok.code, 0, ok.output);
    assert.match(ok.stdout, /^status:\s+OK \(0\)$/m);
    assert.match(ok.stdout, /^validDuration:\s+1m0s$/m);
    assert.match(ok.stdout, /^configGeneration:\s+\d+$/m);

    cfg.write('deny.yaml', DENY_FRONTEND_TO_BACKEND);
    const denied = await waitFor(
      'mixctl check to show the denial',
      async () => {
        const r = await mixctl(['check', ...check]);
        return r.code === 0 && /PERMISSION_DENIED \(7\)/.test(r.stdout) ? r : undefined;
      },
      20_000,
      100,
    );
    assert.match(denied.stdout, /^message:\s+frontend may not call backend$/m);
    assert.match(denied.stdout, /^validDuration:\s+5s$/m);
    assert.match(denied.stdout, /^validUseCount:\s+1000$/m);
    assert.match(denied.stdout, /source\.labels\[app\] EXACT/);
    assert.match(denied.stdout, /destination\.service\.name EXACT/);

    const json = await mixctl(['check', ...check, '-o', 'json']);
    assert.equal(json.code, 0, json.output);
    const answer = JSON.parse(json.stdout);
    assert.equal(answer.status.code, 7);
    assert.equal(answer.validUseCount, 1000);

    cfg.remove('deny.yaml');
    await waitFor('mixctl check to be OK again', async () => /OK \(0\)/.test((await mixctl(['check', ...check])).stdout), 20_000, 100);
  });

  it('report is accepted (--repeat bags in one batch) and graph prints the edge, as a table and as DOT', async () => {
    const bag = [
      ...FRONTEND,
      '--stringmap_attributes',
      'destination.labels=app:backend;version:v2',
      '-s',
      'source.workload.name=frontend-v1,source.workload.namespace=shop,destination.workload.name=backend-v2,destination.workload.namespace=shop,destination.service.name=backend',
      '-i',
      'response.code=200',
      '--duration_attributes',
      'response.duration=12ms',
      '-t',
      'request.time=now',
    ];
    const r = await mixctl(['report', ...bag, '--repeat', '3']);
    assert.equal(r.code, 0, r.output);
    assert.match(r.stdout, /^accepted: 3 bag\(s\)$/m);
    const j = await mixctl(['-o', 'json', 'report', ...bag]);
    assert.equal(j.code, 0, j.output);
    assert.deepEqual(JSON.parse(j.stdout), { accepted: 1 });

    const graph = await waitFor(
      'the edge in mixctl graph',
      async () => {
        const g = await mixctl(['graph', '--window', '1m']);
        return g.code === 0 && /app:shop\/frontend\/v1\s+app:shop\/backend\/v2\s+http/.test(g.stdout) ? g : undefined;
      },
      20_000,
      200,
    );
    assert.match(graph.stdout, /^SOURCE\s+TARGET\s+PROTOCOL/m);
    assert.match(graph.stdout, /node\(s\), \d+ edge\(s\) in the last 1m/);
    const dot = await mixctl(['graph', '--dot']);
    assert.equal(dot.code, 0, dot.output);
    assert.match(dot.stdout, /^digraph mesh \{/);
    assert.match(dot.stdout, /app:shop\/frontend\/v1/);
  });

  it('exits 3 when nothing listens at the Mixer URL, and says which URL', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await runMixctl(['--mixer', url, 'check', '-a', 'destination.service.name=backend']);
    assert.equal(r.code, 3, r.output);
    assert.match(r.output, new RegExp(`cannot reach Mixer at ${url.replace(/[.]/g, '\\.')}: connection refused`));
    const viaEnv = await runMixctl(['graph'], { MIXER_URL: url });
    assert.equal(viaEnv.code, 3, viaEnv.output);
    assert.match(viaEnv.output, new RegExp(url.replace(/[.]/g, '\\.')));
  });

  it('exits 2 for a bad flag, a value of the wrong type, and an invalid file (naming its line)', async () => {
    const bogus = await mixctl(['check', '--bogus']);
    assert.equal(bogus.code, 2, bogus.output);
    assert.match(bogus.output, /unknown option '--bogus'/);
    const typed = await mixctl(['check', '-i', 'response.code=abc']);
    assert.equal(typed.code, 2, typed.output);
    assert.match(typed.output, /-i\/--int64_attributes: response\.code: "abc" is not an integer/);
    const window = await mixctl(['graph', '--window', '2m']);
    assert.equal(window.code, 2, window.output);

    const invalid = await runMixctl(['validate', '-f', files['bad.yaml']]);
    assert.equal(invalid.code, 2, invalid.output);
    assert.match(invalid.output, /bad\.yaml:6 Rule\/default\/broken spec\.actions\[0\]\.handler: handler default\/nowhere does not exist/);
    const valid = await runMixctl(['validate', '-f', files['deny.yaml']]);
    assert.equal(valid.code, 0, valid.output);
    assert.match(valid.stdout, /valid: 3 object\(s\)/);
    writeFileSync(files['bad.yaml'], 'apiVersion: mixer/v1\nkind: Rule\nmetadata: {name: broken\nspec: {}\n');
    const yamlError = await admin(['apply', '-f', files['bad.yaml']]);
    assert.equal(yamlError.code, 2, yamlError.output);
    assert.match(yamlError.output, /bad\.yaml:\d+: YAML:/);
  });

  it('dlq list exits 4 without the admin token (and with a wrong one), 0 with it', async () => {
    const none = await mixctl(['dlq', 'list', 'graph']);
    assert.equal(none.code, 4, none.output);
    assert.match(none.output, /MIXER_ERR_UNAUTHORIZED \(401\)/);
    const wrong = await mixctl(['--token', 'nope', 'dlq', 'list', 'default/graph']);
    assert.equal(wrong.code, 4, wrong.output);
    const ok = await admin(['dlq', 'list', 'default/graph']);
    assert.equal(ok.code, 0, ok.output);
    assert.match(ok.stdout, /^default\/graph: 0 dead letter\(s\)$/m);
  });

  it("runs the seed's sequence: rule create global backend -f deny.yaml denies, rule delete allows again, no restart", async () => {
    const toBackend = [...FRONTEND, '-s', 'destination.service.host=backend'];
    assert.match((await mixctl(['check', ...toBackend])).stdout, /OK \(0\)/);

    const created = await admin(['rule', 'create', 'global', 'backend', '-f', files['deny.yaml']]);
    assert.equal(created.code, 0, created.output);
    assert.match(created.stdout, /^Rule\/default\/deny-frontend (created|configured)$/m);

    const denied = await waitFor(
      'the rule to bite',
      async () => {
        const r = await mixctl(['check', ...toBackend]);
        return /PERMISSION_DENIED \(7\)/.test(r.stdout) ? r : undefined;
      },
      20_000,
      100,
    );
    assert.equal(denied.code, 0, 'check exits 0 whatever the verdict');
    assert.match(denied.stdout, /frontend may not call backend/);
    const other = await mixctl(['check', ...FRONTEND, '-s', 'destination.service.host=other']);
    assert.match(other.stdout, /OK \(0\)/, 'the subject limits the rule to backend');

    const listed = await admin(['rule', 'get', 'global', 'backend']);
    assert.equal(listed.code, 0, listed.output);
    assert.match(listed.stdout, /^default\s+deny-frontend\s+/m);

    const deleted = await admin(['rule', 'delete', 'global', 'backend', '-f', files['deny.yaml']]);
    assert.equal(deleted.code, 0, deleted.output);
    assert.match(deleted.stdout, /^Rule\/default\/deny-frontend deleted$/m);
    await waitFor('allowed again', async () => /OK \(0\)/.test((await mixctl(['check', ...toBackend])).stdout), 20_000, 100);
    assert.equal(mixer.child.exitCode, null, 'Mixer never restarted');
  });

  it('apply, get and delete objects through the config API (admin token required)', async () => {
    const denied = await mixctl(['get', 'rules']);
    assert.equal(denied.code, 4, denied.output);

    const applied = await admin(['apply', '-f', files['api.yaml']]);
    assert.equal(applied.code, 0, applied.output);
    assert.deepEqual(
      applied.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[0]),
      ['Instance/shop/nothing', 'Handler/shop/deny-all', 'Rule/shop/deny-frontend-to-backend'],
    );

    const list = await admin(['get', 'rules', '-n', 'shop']);
    assert.equal(list.code, 0, list.output);
    assert.match(list.stdout, /^Rule\s+shop\s+deny-frontend-to-backend\s+/m);
    const one = await admin(['get', 'rule', 'deny-frontend-to-backend', '-n', 'shop', '-o', 'json']);
    assert.equal(one.code, 0, one.output);
    assert.equal(JSON.parse(one.stdout).spec.actions[0].handler, 'deny-all');

    const removed = await admin(['delete', '-f', files['api.yaml']]);
    assert.equal(removed.code, 0, removed.output);
    assert.deepEqual(removed.stdout.trim().split('\n'), [
      'Rule/shop/deny-frontend-to-backend deleted',
      'Handler/shop/deny-all deleted',
      'Instance/shop/nothing deleted',
    ]);
    const missing = await admin(['get', 'rule', 'deny-frontend-to-backend', '-n', 'shop']);
    assert.equal(missing.code, 1, missing.output);
    assert.match(missing.output, /MIXER_ERR_NOT_FOUND \(404\)/);
  });
});
