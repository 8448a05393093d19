import { Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '../base/errors';
import type { ErrorDetail } from '../base/errors';
import { createLogger } from '../base/log';
import { resolveSettings, DEFAULT_CONFIG_DIR } from '../server/settings';
import { startMixer } from '../server/mixer';
import { startWorker } from '../server/worker';
import { runService } from '../base/run-service';
import { loadConfigDir } from '../config/load';
import { compileConfig } from '../config/compile';
import { adapterInventory } from '../../adapters/index';
import { adaptersForConfig, createAdapterResolver } from '../plugins/loader';
import { addMeshCommands } from '../mesh/cli';

function printErrors(errors: readonly ErrorDetail[]): void {
  for (const e of errors) process.stderr.write(`  ${e.field}: ${e.reason}\n`);
}

function portArg(v: string): string {
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw new InvalidArgumentError('expected a port number');
  return v;
}

/** `mixer validate <dir>`: the dry run of a config directory (plugins included). Exit 0 when valid, 1 with every problem otherwise. */
export async function validateCommand(dir: string, pluginsDir: string): Promise<number> {
  const loaded = await loadConfigDir(dir);
  const resolver = createAdapterResolver({ pluginsDir, logger: createLogger('warn') });
  const adapters = await adaptersForConfig(loaded.objects, adapterInventory(), resolver, loaded.errors);
  const compiled = compileConfig(loaded.objects, adapters);
  const errors = [...loaded.errors, ...compiled.errors];
  if (errors.length > 0) {
    process.stderr.write(`${dir}: ${errors.length} problem(s)\n`);
    printErrors(errors);
    return 1;
  }
  const p = compiled.plan!;
  process.stdout.write(`${dir}: valid: ${p.rules.length} rules, ${p.handlers.size} handlers, ${p.instances.size} instances, ${p.vocabulary.size} attributes\n`);
  return 0;
}

function flagStrings(opts: Record<string, string | boolean | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(opts)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** Invalid config at start: print every problem and exit 1. */
function configFailed(configDir: string) {
  return (err: unknown): number | undefined => {
    if (!(err instanceof ConfigError)) return undefined;
    process.stderr.write(`mixer: invalid config in ${configDir}: ${err.details.length} problem(s)\n`);
    printErrors(err.details);
    return 1;
  };
}

/** Entry point of the `mixer` bin. */
export async function main(argv: string[]): Promise<void> {
  const program = new Command('mixer').description('Mixer: check, report and adapters for a service mesh').showHelpAfterError();

  program
    .command('serve', { isDefault: true })
    .description('run the API (check, report) and, unless --no-worker, report workers in the same process')
    .option('-p, --port <port>', 'listen port (MIXER_PORT, default 9091)', portArg)
    .option('--host <host>', 'listen address (MIXER_HOST, default 0.0.0.0)')
    .option('--grpc-port <port>', 'gRPC port: Envoy ext_authz, Envoy ALS, Istio mixer v1 (MIXER_GRPC_PORT, default 9092, 0 off)', portArg)
    .option('-c, --config-dir <dir>', `config directory (MIXER_CONFIG_DIR, default ${DEFAULT_CONFIG_DIR})`)
    .option('--redis-url <url>', 'one Redis server (REDIS_URL; or MIXER_REDIS_CLUSTER / MIXER_REDIS_SENTINELS; none: embedded in-process queue)')
    .option('--no-worker', 'do not run report workers here (run `mixer worker` processes instead)')
    .option('--plugins-dir <dir>', 'plugin adapters (MIXER_PLUGINS_DIR, default plugins/ beside the config directory)')
    .option('--log-level <level>', 'log level (MIXER_LOG_LEVEL, default info)')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const settings = resolveSettings({ ...flagStrings(opts), worker: opts.worker === false ? 'false' : undefined });
      await runService(settings.logLevel, (logger) => startMixer(settings, logger), configFailed(settings.configDir));
    });

  program
    .command('worker')
    .description('run report workers only, against the Redis queue (REDIS_URL, MIXER_REDIS_CLUSTER or MIXER_REDIS_SENTINELS required)')
    .option('-c, --config-dir <dir>', `config directory (MIXER_CONFIG_DIR, default ${DEFAULT_CONFIG_DIR})`)
    .option('--redis-url <url>', 'one Redis server (REDIS_URL)')
    .option('--plugins-dir <dir>', 'plugin adapters (MIXER_PLUGINS_DIR, default plugins/ beside the config directory)')
    .option('--metrics-port <port>', 'port of /metrics, /healthz, /readyz (MIXER_METRICS_PORT, default 9093)', portArg)
    .option('--host <host>', 'listen address of the metrics port (MIXER_HOST, default 0.0.0.0)')
    .option('--log-level <level>', 'log level (MIXER_LOG_LEVEL, default info)')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const settings = resolveSettings(flagStrings(opts));
      await runService(settings.logLevel, (logger) => startWorker(settings, logger), configFailed(settings.configDir));
    });

  program
    .command('validate')
    .description('check a config directory without running it (for operators and CI)')
    .argument('[dir]', 'config directory', DEFAULT_CONFIG_DIR)
    .option('--plugins-dir <dir>', 'plugin adapters (MIXER_PLUGINS_DIR, default plugins/ beside the config directory)')
    .action(async (dir: string, opts: { pluginsDir?: string }) => {
      const settings = resolveSettings({ configDir: dir, pluginsDir: opts.pluginsDir });
      process.exitCode = await validateCommand(settings.configDir, settings.pluginsDir);
    });

  addMeshCommands(program);
  await program.parseAsync(argv);
}
