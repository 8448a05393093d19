import { strict as assert } from 'node:assert';
import { X509Certificate, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { MeshCa, SignError } from '../../../../src/mesh/control/ca';
import { DirRootStore, RedisRootStore } from '../../../../src/mesh/control/ca-store';
import { createCsr, generateKeys, identityOfCert, lifetimeOf, spiffeId } from '../../../../src/mesh/common/pki';
import { bootstrapToken, csrProof, MeshTokenAuthenticator } from '../../../../src/mesh/common/bootstrap';

describe('mesh CA', () => {
  let dir: string;
  let ca: MeshCa;
  const registry = new Registry();
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mixer-ca-'));
    ca = new MeshCa({ store: new DirRootStore(dir), logger: pino({ level: 'silent' }), registry, defaultTtlMs: 120_000 });
    await ca.start();
  });
  after(() => {
    ca.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('generates a root once and keeps it (mode 0600), a second CA on the same store uses it', async () => {
    const file = path.join(dir, '.ca', 'roots.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const again = new MeshCa({ store: new DirRootStore(dir), logger: pino({ level: 'silent' }), registry: new Registry() });
    await again.start();
    again.stop();
    assert.deepEqual(again.trustedRoots(), ca.trustedRoots());
    const root = new X509Certificate(ca.trustedRoots()[0]);
    assert.equal(root.ca, true);
  });

  it('signs a CSR into a SPIFFE SVID chained to the root, ECDSA P-256, with the requested lifetime (at least 1 minute)', async () => {
    const keys = await generateKeys();
    const id = spiffeId('default', 'frontend');
    const { csr, identity } = await ca.readCsr(await createCsr(id, keys));
    assert.equal(identity.principal, id);
    const signed = await ca.sign(csr, identity, 1000);
    const leaf = new X509Certificate(signed.certChain[0]);
    const root = new X509Certificate(signed.roots[0]);
    assert.ok(leaf.verify(root.publicKey));
    assert.ok(leaf.checkIssued(root));
    assert.equal(identityOfCert(leaf)?.principal, id);
    assert.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const life = lifetimeOf(signed.certChain[0]);
    assert.ok(life.notAfter - Date.now() > 50_000 && life.notAfter - Date.now() <= 61_000, 'clamped to one minute');
    const dflt = await ca.sign(csr, identity);
    assert.ok(lifetimeOf(dflt.certChain[0]).notAfter - Date.now() > 110_000);
  });

  it('refuses a CSR that is not one, or names no SPIFFE id, or another trust domain', async () => {
    await assert.rejects(ca.readCsr('hello'), (e: unknown) => e instanceof SignError && e.reason === 'bad_csr');
    const keys = await generateKeys();
    await assert.rejects(ca.readCsr(await createCsr('spiffe://evil.example/ns/default/sa/frontend', keys)), /exactly one SAN URI/);
    await assert.rejects(ca.readCsr(await createCsr('https://frontend', keys)), /exactly one SAN URI/);
  });

  it('bootstrap tokens: the proof binds the CSR, and one workload token does not pass for another', async () => {
    const auth = new MeshTokenAuthenticator('a-mesh-key-of-enough-length');
    const token = bootstrapToken('a-mesh-key-of-enough-length', 'default', 'frontend');
    const csr = await createCsr(spiffeId('default', 'frontend'), await generateKeys());
    assert.equal(await auth.authenticate(csrProof(token, csr), csr, 'default', 'frontend'), undefined);
    assert.match((await auth.authenticate(csrProof(token, csr), csr, 'default', 'backend'))!, /not the one of default\/backend/);
    const other = await createCsr(spiffeId('default', 'frontend'), await generateKeys());
    assert.ok(await auth.authenticate(csrProof(token, csr), other, 'default', 'frontend'), 'a proof for one CSR does not pass for another');
    assert.ok(await auth.authenticate(undefined, csr, 'default', 'frontend'));
  });

  it('rotates the root with an overlap: the new root is trusted at once, signs after the propagation time, the old one is dropped after the overlap', async () => {
    const before = ca.trustedRoots()[0];
    await ca.rotate(300, 400);
    const during = ca.trustedRoots();
    assert.equal(during.length, 2);
    assert.equal(during[0], before, 'the old root still signs during propagation');
    await new Promise((r) => setTimeout(r, 350));
    const after = ca.trustedRoots();
    assert.equal(after.length, 2);
    assert.notEqual(after[0], before, 'the new root signs');
    await new Promise((r) => setTimeout(r, 450));
    assert.deepEqual(ca.trustedRoots(), [after[0]]);
    const text = await registry.metrics();
    assert.match(text, /mixer_ca_certificates_issued_total\{kind="workload"\} \d/);
    assert.match(text, /mixer_ca_root_expiry_seconds \d+/);
    assert.match(text, /mixer_ca_sign_failures_total\{reason="bad_csr"\} [1-9]/);
  });
});

describe('mesh CA roots in Redis: replicas share one root and follow a rotation @redis', () => {
  const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true });
  const prefix = `mixer-test:${randomBytes(4).toString('hex')}:`;
  const cas: MeshCa[] = [];
  before(() => redis.connect());
  after(async () => {
    for (const c of cas) c.stop();
    await redis.del(`${prefix}ca:roots`);
    redis.disconnect();
  });

  it('the first replica generates the root, the second reads it; a rotation by one reaches the other', async () => {
    const make = async (): Promise<MeshCa> => {
      const ca = new MeshCa({ store: new RedisRootStore(redis, prefix), logger: pino({ level: 'silent' }), registry: new Registry(), refreshMs: 100 });
      cas.push(ca);
      await ca.start();
      return ca;
    };
    const [a, b] = await Promise.all([make(), make()]);
    assert.deepEqual(a.trustedRoots(), b.trustedRoots(), 'one root, whoever started first');
    let changed = 0;
    b.onChange(() => changed++);
    await a.rotate(0, 60_000);
    const deadline = Date.now() + 5000;
    while (b.trustedRoots().length !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(b.trustedRoots(), a.trustedRoots());
    assert.ok(changed >= 1, 'the other replica heard the change (it renews its serving certificate)');
  });
});
