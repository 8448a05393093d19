import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * A temporary root holding a plugins folder (`<root>/plugins`) and a `node_modules` beside it, for
 * tests that write small out-of-tree adapters (plain CommonJS) and load them as an operator would.
 */
export class TempPluginsDir {
  readonly root = mkdtempSync(path.join(os.tmpdir(), 'mixer-plugins-'));
  readonly dir = path.join(this.root, 'plugins');
  readonly nodeModules = path.join(this.root, 'node_modules');

  constructor() {
    mkdirSync(this.dir, { recursive: true });
  }

  /** Writes a folder plugin `<dir>/<folder>/` with its files (`{'index.js': '...'}`); returns the folder. */
  folder(folder: string, files: Record<string, string>): string {
    return writeAll(path.join(this.dir, folder), files);
  }

  /** Writes an npm-style package `<root>/node_modules/<pkg>/` with its files; returns the folder. */
  npmPackage(pkg: string, files: Record<string, string>): string {
    return writeAll(path.join(this.nodeModules, pkg), files);
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

function writeAll(folder: string, files: Record<string, string>): string {
  for (const [name, text] of Object.entries(files)) {
    const p = path.join(folder, name);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
  return folder;
}

/**
 * Source of a small CommonJS check + report adapter named `name` for tests. Its behaviour follows
 * the instance: a check whose `value` field contains `hang` loops forever (synchronously), `throw`
 * throws, `crash` kills its thread from a timer (an uncaught exception), `exit` calls process.exit;
 * `redis` writes and reads back a key under `env.keyPrefix` through `env.redis`; anything else answers OK. Reports count instances in a counter of the env's registry and fail
 * permanently for an instance named `bad`. `params.note` is echoed in the OK status message.
 */
export function testAdapterSource(name: string, exportAs: 'adapter' | 'default' = 'adapter'): string {
  return `'use strict';
const factory = {
  name: ${JSON.stringify(name)},
  templates: ['listentry', 'checknothing', 'metric'],
  configSchema: { type: 'object', properties: { note: { type: 'string', default: 'ok' } }, additionalProperties: false },
  create(config, env) {
    const { Counter } = require(${JSON.stringify(require.resolve('prom-client'))});
    const reported = new Counter({ name: 'test_plugin_instances_total', help: 'instances reported', labelNames: ['handler'], registers: [env.registry] });
    let closed = 0;
    return {
      check(instance) {
        const v = String(instance.fields.value ?? '');
        if (v.includes('hang')) { for (;;) { /* a synchronous hang */ } }
        if (v.includes('throw')) throw new Error('plugin ${name} refuses ' + v);
        if (v.includes('crash')) { setTimeout(() => { throw new Error('plugin ${name} crashed'); }, 0); return { status: { code: 0 } }; }
        if (v.includes('exit')) process.exit(3);
        if (v.includes('log')) env.logger.warn({ value: v }, 'plugin ${name} logs');
        if (v.includes('redis')) {
          return env.redis.set(env.keyPrefix + 'seen', v).then(() => env.redis.get(env.keyPrefix + 'seen')).then((got) => ({ status: { code: 0, message: 'redis has ' + got } }));
        }
        return { status: { code: 0, message: config.note }, validDuration: 1000 };
      },
      async report(instances, ctx) {
        if (instances.some((i) => i.name === 'bad')) { const e = new Error('bad data'); e.permanent = true; throw e; }
        if (instances.some((i) => i.name === 'flaky')) throw new Error('try again');
        reported.inc({ handler: env.handlerName }, instances.length);
      },
      close() { closed++; },
    };
  },
};
exports.${exportAs} = factory;
`;
}
