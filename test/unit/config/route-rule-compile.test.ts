import { strict as assert } from 'node:assert';
import { parseConfigText } from '../../../src/config/load';
import { compileRouteRules } from '../../../src/config/route-rule-compile';

function compile(yaml: string) {
  const loaded = parseConfigText(yaml, 'routes.yaml', {});
  const out = compileRouteRules(loaded.objects);
  return { ...out, schemaErrors: loaded.errors };
}

const doc = (name: string, spec: string) => `---\napiVersion: mixer/v1\nkind: RouteRule\nmetadata: {name: ${name}}\nspec:\n${spec}\n`;

describe('config/route-rule-compile', () => {
  it('normalises Istio v1alpha2 RouteRules and orders them by precedence, then name', () => {
    const { routes, errors, schemaErrors } = compile(
      doc('all-v1', '  destination: {name: backend}\n  route: [{labels: {version: v1}, weight: 100}]') +
        doc(
          'mobile',
          [
            '  destination: {name: backend.default.svc.cluster.local}',
            '  precedence: 2',
            '  match:',
            '    source: {labels: {app: frontend}}',
            '    request: {headers: {User-Agent: {regex: ".*Mobile.*"}}}',
            '  route: [{labels: {version: v2}}]',
            '  httpReqTimeout: {simpleTimeout: {timeout: 2s}}',
            '  httpReqRetries: {simpleRetry: {attempts: 3, perTryTimeout: 500ms}}',
            '  httpFault: {delay: {percent: 10, fixedDelay: 1.5s}, abort: {percent: 5, httpStatus: 503}}',
          ].join('\n'),
        ) +
        doc('a-tie', '  destination: {name: backend}\n  route: [{labels: {version: v1}, weight: 90}, {labels: {version: v2}, weight: 10}]'),
    );
    assert.deepEqual([...schemaErrors, ...errors], []);
    assert.deepEqual(
      routes.map((r) => r.ref),
      ['default/mobile', 'default/a-tie', 'default/all-v1'],
    );
    const mobile = routes[0];
    assert.deepEqual(mobile.destination, { name: 'backend', namespace: 'default' });
    assert.deepEqual(mobile.match, { sourceLabels: { app: 'frontend' }, headers: { 'user-agent': { regex: '.*Mobile.*' } } });
    assert.deepEqual(mobile.routes, [{ labels: { version: 'v2' }, weight: 100 }]);
    assert.equal(mobile.timeoutMs, 2000);
    assert.deepEqual(mobile.retries, { attempts: 3, perTryTimeoutMs: 500 });
    assert.deepEqual(mobile.fault, { delay: { percent: 10, fixedDelayMs: 1500 }, abort: { percent: 5, httpStatus: 503 } });
    assert.deepEqual(routes[2].routes, [{ labels: { version: 'v1' }, weight: 100 }]);
  });

  it('a rule without route sends to any instance', () => {
    const { routes, errors } = compile(doc('any', '  destination: {name: backend}'));
    assert.deepEqual(errors, []);
    assert.deepEqual(routes[0].routes, [{ labels: {}, weight: 100 }]);
  });

  it('reports every problem with file, line and path', () => {
    const { errors, routes } = compile(
      doc(
        'bad',
        [
          '  destination: {name: Backend_1}',
          '  match: {request: {headers: {user-agent: {regex: "(.*Mobile"}}}}',
          '  route: [{labels: {version: v1}, weight: 80}, {labels: {version: v2}, weight: 10}]',
          '  httpReqTimeout: {simpleTimeout: {timeout: soon}}',
          '  httpReqRetries: {simpleRetry: {attempts: 99, perTryTimeout: 0s}}',
          '  httpFault: {delay: {percent: 120, fixedDelay: 1s}, abort: {percent: -1, httpStatus: 700}}',
        ].join('\n'),
      ) +
        doc('lonely', '  destination: {name: backend}\n  route: [{labels: {version: v1}, weight: 50}]') +
        doc('missing', '  destination: {name: backend}\n  route: [{labels: {version: v1}, weight: 50}, {labels: {version: v2}}]'),
    );
    assert.equal(routes.length, 0);
    const text = errors.map((e) => `${e.field}: ${e.reason}`);
    const expect = [
      /routes\.yaml:6 RouteRule\/default\/bad spec\.destination\.name: "Backend_1" is not a service name/,
      /RouteRule\/default\/bad spec\.match\.request\.headers\.user-agent\.regex: invalid regular expression/,
      /RouteRule\/default\/bad spec\.route: weights must sum to 100, they sum to 90/,
      /RouteRule\/default\/bad spec\.httpReqTimeout\.simpleTimeout\.timeout: "soon" is not a duration/,
      /RouteRule\/default\/bad spec\.httpReqRetries\.simpleRetry\.attempts: must be from 0 to 10, got 99/,
      /RouteRule\/default\/bad spec\.httpReqRetries\.simpleRetry\.perTryTimeout: must be more than 0s/,
      /RouteRule\/default\/bad spec\.httpFault\.delay\.percent: must be a percentage from 0 to 100, got 120/,
      /RouteRule\/default\/bad spec\.httpFault\.abort\.percent: must be a percentage from 0 to 100, got -1/,
      /RouteRule\/default\/bad spec\.httpFault\.abort\.httpStatus: must be an HTTP status/,
      /RouteRule\/default\/lonely spec\.route\[0\]\.weight: the only route must take all traffic/,
      /RouteRule\/default\/missing spec\.route\[1\]: needs a weight/,
    ];
    for (const re of expect)
      assert.ok(
        text.some((t) => re.test(t)),
        `${re} in\n${text.join('\n')}`,
      );
    assert.equal(text.length, expect.length, text.join('\n'));
  });

  it('refuses a header regex that cannot run in linear time, naming the field', () => {
    const { errors, routes } = compile(doc('backref', '  destination: {name: backend}\n  match: {request: {headers: {x-user: {regex: "(a+)\\\\1"}}}}'));
    assert.equal(routes.length, 0);
    assert.match(
      errors.map((e) => `${e.field}: ${e.reason}`).join('\n'),
      /RouteRule\/default\/backref spec\.match\.request\.headers\.x-user\.regex: cannot be matched in linear time/,
    );
  });

  it('the schema requires destination.name and rejects unknown fields and double header matches', () => {
    const { schemaErrors } = compile(
      doc('no-dest', '  precedence: 1') +
        doc('extra', '  destination: {name: b}\n  weight: 3') +
        doc('two', '  destination: {name: b}\n  match: {request: {headers: {x: {exact: a, prefix: b}}}}'),
    );
    const text = schemaErrors.map((e) => `${e.field}: ${e.reason}`).join('\n');
    assert.match(text, /RouteRule\/no-dest|missing required field "destination"/);
    assert.match(text, /unknown field "weight"/);
    assert.match(text, /headers\.x: must NOT have more than 1 properties/);
  });
});
