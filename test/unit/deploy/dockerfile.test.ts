import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { findRepoRoot } from '../../../deploy/kubernetes/generate-configmap';

/*
 * The Dockerfile, checked without a Docker engine: its stages, that everything it COPYs exists and is
 * not excluded by .dockerignore, that the runtime stage holds what `node bin/mixer.js` loads, and its
 * HEALTHCHECK script, run for real against a local HTTP server.
 */

const ROOT = findRepoRoot(__dirname);

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  base: string;
  name?: string;
  instructions: Instruction[];
}

/** Instructions with line continuations joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (pending === '' && /^\s*(#|$)/.test(line)) continue;
    if (/^\s*#/.test(line)) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/.exec(full)!;
    out.push({ op: m[1].toUpperCase(), args: m[2] });
  }
  return out;
}

function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const i of instructions) {
    if (i.op === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args)!;
      stages.push({ base: m[1], name: m[2], instructions: [] });
    } else {
      assert.ok(stages.length > 0 || i.op === 'ARG', `${i.op} before FROM`);
      stages[stages.length - 1]?.instructions.push(i);
    }
  }
  return stages;
}

/** The exec (JSON) form of CMD/ENTRYPOINT/HEALTHCHECK CMD. */
function execForm(args: string): string[] {
  const parsed = JSON.parse(args) as unknown;
  assert.ok(Array.isArray(parsed) && parsed.every((a) => typeof a === 'string'), `exec form: ${args}`);
  return parsed;
}

interface Copy {
  from?: string;
  sources: string[];
  dest: string;
  /** Absolute paths this COPY puts in the image (a file or a folder each). */
  provides: string[];
}
function copyOf(args: string): Omit<Copy, 'provides'> {
  const words = args.startsWith('[') ? execForm(args) : args.split(/\s+/);
  let from: string | undefined;
  const rest: string[] = [];
  for (const w of words) {
    if (w.startsWith('--from=')) from = w.slice('--from='.length);
    else if (!w.startsWith('--')) rest.push(w);
  }
  return { from, sources: rest.slice(0, -1), dest: rest[rest.length - 1] };
}

/** A stage's COPY instructions with destinations made absolute against its WORKDIR. */
function copies(stage: Stage): Copy[] {
  let workdir = '/';
  const out: Copy[] = [];
  for (const i of stage.instructions) {
    if (i.op === 'WORKDIR') workdir = path.posix.resolve(workdir, i.args);
    if (i.op === 'COPY') {
      const c = copyOf(i.args);
      const dest = path.posix.resolve(workdir, c.dest);
      // `COPY a b dir/` puts dir/a and dir/b; `COPY src dir` puts src's contents at dir.
      const intoDir = c.sources.length > 1 || c.dest.endsWith('/');
      const provides = intoDir ? c.sources.map((src) => path.posix.join(dest, path.posix.basename(src))) : [dest];
      out.push({ ...c, dest, provides });
    }
  }
  return out;
}

function workdirOf(stage: Stage): string {
  return stage.instructions.filter((i) => i.op === 'WORKDIR').reduce((w, i) => path.posix.resolve(w, i.args), '/');
}

/** A .dockerignore pattern as a RegExp over root-relative paths (Docker matches from the context root). */
function patternRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/^\/+|\/+$/g, '')
    .split('**')
    .map((part) => part.replace(/[.+?^$(){}|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*'))
    .join('.*');
  // A pattern naming a folder excludes everything in it.
  return new RegExp(`^${body}(/.*)?$`);
}

/** Whether .dockerignore excludes `rel` (no `!` exceptions are used in this repository). */
function ignored(patterns: string[], rel: string): boolean {
  const norm = rel.replace(/^\.\//, '').replace(/\/$/, '');
  return patterns.some((p) => patternRegExp(p).test(norm));
}

/** Runs the HEALTHCHECK's node script with PID 1's command line faked; resolves to its exit code. */
function runHealthcheck(script: string, cmdline: string[], env: Record<string, string>, dir: string): Promise<number> {
  const fake = path.join(dir, `cmdline-${Math.random().toString(36).slice(2)}`);
  writeFileSync(fake, `${cmdline.join('\0')}\0`);
  assert.ok(script.includes("'/proc/1/cmdline'"), 'the script reads PID 1 command line');
  const patched = script.replace("'/proc/1/cmdline'", JSON.stringify(fake));
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', patched], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 15_000 }, (err) => {
      resolve(err ? (typeof err.code === 'number' ? err.code : -1) : 0);
    });
  });
}

describe('Dockerfile', () => {
  const instructions = parseDockerfile(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
  const stages = stagesOf(instructions);
  const build = stages.find((s) => s.name === 'build')!;
  const runtime = stages[stages.length - 1];
  const last = (stage: Stage, op: string) => [...stage.instructions].reverse().find((i) => i.op === op);
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines?: { node?: string }; scripts?: Record<string, string> };
  const dockerignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('builds in a node:20-bookworm-slim stage and runs in a second one', () => {
    assert.ok(stages.length >= 2, 'multi-stage');
    assert.ok(build, 'a stage named build');
    assert.notEqual(runtime, build);
    const wanted = Number(/(\d+)/.exec(pkg.engines?.node ?? '')?.[1]);
    for (const s of [build, runtime]) {
      assert.equal(s.base, 'node:20-bookworm-slim');
      assert.ok(Number(/^node:(\d+)/.exec(s.base)?.[1]) >= wanted, `${s.base} satisfies engines.node ${pkg.engines?.node}`);
    }
    const runs = (s: Stage) => s.instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
    assert.ok(runs(build).some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r)), 'build stage installs all dependencies');
    assert.ok(runs(build).some((r) => /\bnpm run build\b/.test(r)), 'build stage compiles');
    assert.ok(runs(runtime).some((r) => /\bnpm ci\b.*--omit=dev/.test(r)), 'runtime installs production dependencies only');
    assert.ok(!runs(runtime).some((r) => /\bnpm run build\b|\btsc\b/.test(r)), 'runtime does not compile');
    // `prepare` runs the build on install: before the sources are there (build stage) and without
    // TypeScript (runtime stage), so every install skips scripts.
    if (pkg.scripts?.prepare) for (const r of [...runs(build), ...runs(runtime)].filter((x) => /\bnpm ci\b/.test(x))) assert.match(r, /--ignore-scripts/);
    // The build runs after the sources are copied in.
    const order = build.instructions.map((i) => (i.op === 'RUN' && /npm run build/.test(i.args) ? 'build' : i.op === 'COPY' && /^src\b/.test(copyOf(i.args).sources[0] ?? '') ? 'src' : ''));
    assert.ok(order.indexOf('src') >= 0 && order.indexOf('src') < order.indexOf('build'));
  });

  it('copies only files that exist and that .dockerignore lets through', () => {
    for (const stage of stages) {
      for (const c of copies(stage)) {
        if (c.from) continue;
        for (const src of c.sources) {
          assert.ok(existsSync(path.join(ROOT, src)), `COPY ${src}: missing`);
          assert.ok(!ignored(dockerignore, src), `COPY ${src}: excluded by .dockerignore`);
        }
      }
    }
    for (const p of ['node_modules', 'dist', '.git', 'test-output', 'bench/results']) assert.ok(dockerignore.includes(p), `.dockerignore lists ${p}`);
    assert.ok(!dockerignore.some((p) => p.startsWith('!')), 'no exceptions (the matcher here does not handle them)');
    assert.ok(ignored(dockerignore, 'node_modules/x') && ignored(dockerignore, 'bench/results/a.json'), 'the ignore matcher works');
    assert.ok(!ignored(dockerignore, 'src/cli/mixer.ts') && !ignored(dockerignore, 'bench/check.ts'), 'the ignore matcher works');
  });

  it('gives the runtime stage what `node bin/mixer.js` loads', () => {
    const tsconfig = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };
    assert.equal(tsconfig.compilerOptions.outDir, 'dist');
    assert.equal(tsconfig.compilerOptions.rootDir, '.');
    const app = workdirOf(runtime);
    const buildApp = workdirOf(build);
    const buildCopies = copies(build);
    const runtimeCopies = copies(runtime);
    const has = (abs: string) => runtimeCopies.some((c) => c.provides.some((p) => abs === p || abs.startsWith(`${p}/`)));

    // ENTRYPOINT node bin/mixer.js, relative to WORKDIR; the file is in the repo and copied in.
    const entry = execForm(last(runtime, 'ENTRYPOINT')!.args);
    assert.deepEqual(entry, ['node', 'bin/mixer.js']);
    assert.ok(statSync(path.join(ROOT, 'bin', 'mixer.js')).isFile());
    assert.ok(has(path.posix.join(app, 'bin/mixer.js')), 'bin/mixer.js is copied to WORKDIR/bin');
    assert.deepEqual(execForm(last(runtime, 'CMD')!.args), ['serve']);

    // bin/mixer.js requires the compiled CLI: it must be in a dist folder copied from the build stage.
    const required = /require\('([^']+)'\)/.exec(readFileSync(path.join(ROOT, 'bin', 'mixer.js'), 'utf8'))![1];
    const compiled = path.posix.resolve(app, 'bin', required);
    assert.ok(has(compiled), `${compiled} is in the image`);
    for (const c of runtimeCopies.filter((x) => x.from === 'build')) {
      for (const src of c.sources) {
        const rel = path.posix.relative(path.posix.join(buildApp, 'dist'), src);
        assert.ok(!rel.startsWith('..'), `COPY --from=build ${src} comes from dist/`);
        // ... and dist/<x> is compiled from <x>, which the build stage copied in.
        assert.ok(buildCopies.some((b) => !b.from && b.provides.includes(path.posix.join(buildApp, rel.split('/')[0]))), `the build stage copies ${rel.split('/')[0]}/`);
        assert.ok(existsSync(path.join(ROOT, rel.split('/')[0])), rel);
      }
    }
    const tsSource = path.join(ROOT, path.posix.relative(path.posix.join(app, 'dist'), compiled)).replace(/\.js$/, '.ts');
    assert.ok(existsSync(tsSource), `${tsSource} compiles to the CLI`);
    // `npm run build` (tsc -p tsconfig.json) needs its project file and the lock file pins what it compiles against.
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json']) {
      assert.ok(buildCopies.some((b) => !b.from && b.provides.includes(path.posix.join(buildApp, f))), `the build stage copies ${f}`);
    }
    // Code compiled from src/ imports adapters/: both are shipped.
    assert.ok(has(path.posix.join(app, 'dist/src')) && has(path.posix.join(app, 'dist/adapters')));
    // The graph page is read from the source tree at run time (adapters/graph/page-routes.ts).
    assert.ok(has(path.posix.join(app, 'adapters/graph/page')), 'adapters/graph/page is copied');
  });

  it('ships code that needs only production dependencies (the runtime installs --omit=dev)', () => {
    const deps = new Set(Object.keys((pkg as { dependencies?: Record<string, string> }).dependencies ?? {}));
    const problems: string[] = [];
    const seen = new Set<string>();
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
          const text = readFileSync(p, 'utf8');
          // Runtime imports only: `import type` is erased by the compiler.
          const specs = [
            ...[...text.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^;'"]*?from\s+'([^']+)'/gm)].map((m) => m[1]),
            ...[...text.matchAll(/^\s*import\s+'([^']+)'/gm)].map((m) => m[1]),
            ...[...text.matchAll(/\b(?:require|import)\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]),
          ];
          for (const spec of specs) {
            if (spec.startsWith('.') || spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0])) continue;
            const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
            seen.add(name);
            if (!deps.has(name)) problems.push(`${path.relative(ROOT, p)}: ${spec}`);
          }
        }
      }
    };
    for (const c of copies(runtime).filter((x) => x.from === 'build')) {
      walk(path.join(ROOT, path.posix.relative(path.posix.join(workdirOf(build), 'dist'), c.sources[0])));
    }
    assert.ok(seen.has('express') && seen.has('bullmq'), `the scan finds imports (${[...seen].join(', ')})`);
    assert.deepEqual(problems, [], 'imports of packages that are not in "dependencies"');
  });

  it('runs as a non-root user, exposes both ports and ships the default config at /etc/mixer/rules', () => {
    const user = last(runtime, 'USER')?.args;
    assert.ok(user && !/^(root|0)(:|$)/.test(user), `USER ${user}`);
    const exposed = runtime.instructions.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
    assert.deepEqual(exposed.sort(), ['9091', '9092', '9093']);
    const env = runtime.instructions.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
    assert.match(env, /\bMIXER_CONFIG_DIR=\/etc\/mixer\/rules\b/);
    assert.ok(copies(runtime).some((c) => !c.from && c.sources.includes('rules') && c.provides.includes('/etc/mixer/rules')));
  });

  describe('HEALTHCHECK', () => {
    const hc = last(runtime, 'HEALTHCHECK')!;
    const cmdAt = hc?.args.indexOf('CMD ') ?? -1;
    const command = cmdAt >= 0 ? execForm(hc.args.slice(cmdAt + 4).trim()) : [];
    const script = command[2] ?? '';
    let dir: string;
    let server: http.Server;
    let port: number;
    let closedPort: number;
    let status = 200;
    const paths: string[] = [];

    before(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'mixer-healthcheck-'));
      server = http.createServer((req, res) => {
        paths.push(req.url ?? '');
        res.writeHead(status).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
      const spare = http.createServer();
      await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve));
      closedPort = (spare.address() as AddressInfo).port;
      await new Promise<void>((resolve) => spare.close(() => resolve()));
    });
    after(() => {
      server?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('is a node script (the slim image has no curl)', () => {
      assert.ok(hc, 'a HEALTHCHECK');
      assert.deepEqual(command.slice(0, 2), ['node', '-e']);
      assert.doesNotMatch(hc.args, /\bcurl\b|\bwget\b/);
    });

    it('asks GET /healthz on MIXER_PORT for `serve`, and fails when it is not 200', async () => {
      const serve = ['node', 'bin/mixer.js', 'serve'];
      status = 200;
      paths.length = 0;
      assert.equal(await runHealthcheck(script, serve, { MIXER_PORT: String(port), MIXER_METRICS_PORT: String(closedPort) }, dir), 0);
      assert.deepEqual(paths, ['/healthz']);
      status = 503;
      assert.equal(await runHealthcheck(script, serve, { MIXER_PORT: String(port) }, dir), 1);
      status = 200;
      assert.equal(await runHealthcheck(script, serve, { MIXER_PORT: String(closedPort) }, dir), 1, 'nothing listening');
    });

    it('asks MIXER_METRICS_PORT for `worker`', async () => {
      status = 200;
      const worker = ['node', 'bin/mixer.js', 'worker'];
      assert.equal(await runHealthcheck(script, worker, { MIXER_METRICS_PORT: String(port), MIXER_PORT: String(closedPort) }, dir), 0);
      assert.equal(await runHealthcheck(script, worker, { MIXER_METRICS_PORT: String(closedPort), MIXER_PORT: String(port) }, dir), 1);
    });

    it('follows --port / --metrics-port flags over the environment', async () => {
      status = 200;
      assert.equal(await runHealthcheck(script, ['node', 'bin/mixer.js', 'serve', '--no-worker', '--port', String(port)], { MIXER_PORT: String(closedPort) }, dir), 0);
      assert.equal(await runHealthcheck(script, ['node', 'bin/mixer.js', 'worker', `--metrics-port=${port}`], { MIXER_METRICS_PORT: String(closedPort) }, dir), 0);
    });
  });
});
