import { strict as assert } from 'node:assert';
import { parseAttributeFlags, parseQuotaFlags, parseRepeat, splitItems } from '../../../src/cli/mixctl/attributes';
import { CliError } from '../../../src/cli/mixctl/errors';
import { main } from '../../../src/cli/mixctl';

/** Asserts `fn` throws a usage error (exit 2) whose message matches `message`. */
function usage(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CliError, `a CliError, got ${String(err)}`);
    assert.equal(err.exitCode, 2);
    assert.match(err.message, message);
    return true;
  });
}

describe('cli/mixctl attributes (typed flags, as mixc)', () => {
  const now = () => new Date('2024-05-01T12:00:00.000Z');

  it('types each flag: string, int64, double, bool, timestamp, duration, string map', () => {
    const bag = parseAttributeFlags(
      {
        string_attributes: ['destination.service.host=backend.default.svc.cluster.local'],
        int64_attributes: ['response.code=503', 'request.size=-12'],
        double_attributes: ['x.ratio=0.25', 'x.big=1e3'],
        bool_attributes: ['connection.mtls=TRUE', 'x.flag=false'],
        timestamp_attributes: ['request.time=2024-05-01T10:00:00.5+02:00', 'response.time=now'],
        duration_attributes: ['response.duration=1.5s'],
        stringmap_attributes: ['source.labels=app:frontend;version:v1', 'request.headers=x-b3-traceid:abc:def'],
      },
      now,
    );
    assert.deepEqual(bag, {
      'destination.service.host': 'backend.default.svc.cluster.local',
      'response.code': 503,
      'request.size': -12,
      'x.ratio': 0.25,
      'x.big': 1000,
      'connection.mtls': true,
      'x.flag': false,
      'request.time': '2024-05-01T10:00:00.5+02:00',
      'response.time': '2024-05-01T12:00:00.000Z',
      'response.duration': '1.5s',
      'source.labels': { app: 'frontend', version: 'v1' },
      'request.headers': { 'x-b3-traceid': 'abc:def' },
    });
  });

  it('guesses -a types: integers are numbers, true/false booleans, anything else a string', () => {
    assert.deepEqual(parseAttributeFlags({ attributes: ['response.code=200,connection.mtls=true,destination.service.name=backend,x.v=1.5,x.n=007'] }), {
      'response.code': 200,
      'connection.mtls': true,
      'destination.service.name': 'backend',
      'x.v': '1.5',
      'x.n': 7,
    });
    assert.deepEqual(parseAttributeFlags({ attributes: ['x.huge=123456789012345678901'] }), { 'x.huge': '123456789012345678901' }, 'beyond 2^53 stays text');
  });

  it('takes comma lists; a piece without "=" continues the previous value', () => {
    assert.deepEqual(splitItems('a=1,b=2'), ['a=1', 'b=2']);
    assert.deepEqual(parseAttributeFlags({ string_attributes: ['request.path=/a,b,request.method=GET'] }), { 'request.path': '/a,b', 'request.method': 'GET' });
    assert.deepEqual(parseAttributeFlags({ stringmap_attributes: ['source.labels=app:fe,destination.labels='] }), {
      'source.labels': { app: 'fe' },
      'destination.labels': {},
    });
  });

  it('rejects a value not of its flag type, naming the flag and the attribute (exit 2)', () => {
    usage(() => parseAttributeFlags({ int64_attributes: ['response.code=abc'] }), /^-i\/--int64_attributes: response\.code: "abc" is not an integer/);
    usage(() => parseAttributeFlags({ int64_attributes: ['response.code=1.5'] }), /--int64_attributes/);
    usage(() => parseAttributeFlags({ int64_attributes: ['x=9007199254740993'] }), /--int64_attributes: x: .*outside/);
    usage(() => parseAttributeFlags({ double_attributes: ['x=fast'] }), /^-d\/--double_attributes: x: "fast" is not a number/);
    usage(() => parseAttributeFlags({ bool_attributes: ['connection.mtls=yes'] }), /^-b\/--bool_attributes: connection\.mtls: "yes" is not true or false/);
    usage(() => parseAttributeFlags({ timestamp_attributes: ['request.time=yesterday'] }), /^-t\/--timestamp_attributes: request\.time: .*RFC 3339/);
    usage(() => parseAttributeFlags({ timestamp_attributes: ['request.time=2024-05-01'] }), /--timestamp_attributes/);
    usage(() => parseAttributeFlags({ duration_attributes: ['response.duration=10'] }), /^--duration_attributes: response\.duration: "10" is not a duration/);
    usage(() => parseAttributeFlags({ stringmap_attributes: ['source.labels=app'] }), /^--stringmap_attributes: source\.labels: "app" is not key:value/);
    usage(() => parseAttributeFlags({ stringmap_attributes: ['source.labels=app:a;app:b'] }), /key "app" given twice/);
  });

  it('rejects an item without "=", a bad name, and one attribute given twice (naming both flags)', () => {
    usage(() => parseAttributeFlags({ string_attributes: ['backend'] }), /^-s\/--string_attributes: "backend" is not name=value/);
    usage(() => parseAttributeFlags({ string_attributes: ['=x'] }), /--string_attributes: "" is not an attribute name/);
    usage(
      () => parseAttributeFlags({ attributes: ['response.code=1'], int64_attributes: ['response.code=2'] }),
      /attribute response\.code is given twice \(also by -a\/--attributes\)/,
    );
    usage(() => parseAttributeFlags({ string_attributes: ['a=1', 'a=2'] }), /--string_attributes: attribute a is given twice$/);
  });

  it('parses --quota name=amount and --repeat n, rejecting anything else with the flag named', () => {
    assert.deepEqual(parseQuotaFlags(['requestcount=2,other=1']), { requestcount: { amount: 2 }, other: { amount: 1 } });
    assert.deepEqual(parseQuotaFlags(undefined), {});
    usage(() => parseQuotaFlags(['requestcount']), /^--quota: "requestcount"/);
    usage(() => parseQuotaFlags(['requestcount=0']), /^--quota:/);
    usage(() => parseQuotaFlags(['a=1', 'a=2']), /--quota: quota a is given twice/);
    assert.equal(parseRepeat(undefined), 1);
    assert.equal(parseRepeat('25'), 25);
    usage(() => parseRepeat('0'), /^--repeat: "0"/);
    usage(() => parseRepeat('two'), /^--repeat/);
  });

  it('mixctl check exits 2 on a bad typed flag, with the flag in the message, before calling Mixer', async () => {
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = (s: string) => (written.push(String(s)), true);
    let code: number;
    try {
      code = await main(['node', 'mixctl', '--mixer', 'http://127.0.0.1:9', 'check', '-i', 'response.code=abc']);
    } finally {
      process.stderr.write = write;
    }
    assert.equal(code, 2);
    assert.match(written.join(''), /-i\/--int64_attributes: response\.code: "abc" is not an integer/);
  });
});
