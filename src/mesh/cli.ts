import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { Logger } from 'pino';
import { runService } from '../base/run-service';
import type { Service } from '../base/run-service';
import { resolveIngressOptions, startIngress } from './ingress/ingress';
import { resolveSidecarOptions } from './sidecar/options';
import type { Flags } from './sidecar/options';
import { startSidecar } from './sidecar/sidecar';

function portArg(v: string): string {
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw new InvalidArgumentError('expected a port number');
  return v;
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** Starts a proxy and stops it cleanly on SIGTERM/SIGINT; bad options print why and exit 2. */
function runProxy(levelOf: () => string, start: (logger: Logger) => Promise<Service>): Promise<void> {
  return runService(levelOf, start, (err) => {
    process.stderr.write(`mixer: ${(err as Error).message}\n`);
    return 2;
  });
}

/** Adds `mixer sidecar` and `mixer ingress` (see docs/mesh.md) to the `mixer` CLI. */
export function addMeshCommands(program: Command): void {
  program
    .command('sidecar')
    .description('run a sidecar proxy beside one app instance: Check and Report with Mixer, route rules, traces')
    .option('--service <name>', 'service this instance belongs to (MIXER_SIDECAR_SERVICE)')
    .option('--namespace <ns>', 'namespace (MIXER_SIDECAR_NAMESPACE, default default)')
    .option('--labels <k=v,...>', 'instance labels, e.g. app=backend,version=v1 (MIXER_SIDECAR_LABELS; app defaults to the service)')
    .option('--app-port <port>', 'port the app listens on (MIXER_SIDECAR_APP_PORT, required)', portArg)
    .option('--app-host <host>', 'address of the app (MIXER_SIDECAR_APP_HOST, default 127.0.0.1)')
    .option('--inbound-port <port>', 'port callers reach this instance on (MIXER_SIDECAR_INBOUND_PORT, default 15006)', portArg)
    .option('--outbound-port <port>', 'port the app calls other services through (MIXER_SIDECAR_OUTBOUND_PORT, default 15001)', portArg)
    .option('--admin-port <port>', 'status page port, /status and /healthz (MIXER_SIDECAR_ADMIN_PORT; default off)', portArg)
    .option('--mixer <url>', 'Mixer base URL (MIXER_URL, default http://127.0.0.1:9091)')
    .option('--fail-open', 'allow requests when Mixer cannot be asked (MIXER_SIDECAR_FAIL_OPEN; default: fail closed)')
    .option('--permissive', 'accept callers without a mesh identity as an unknown source (MIXER_SIDECAR_PERMISSIVE; default: 401)')
    .option('--host <host>', 'address the inbound and admin ports listen on (MIXER_SIDECAR_HOST, default 127.0.0.1)')
    .option('--outbound-host <host>', 'address the outbound port listens on (MIXER_SIDECAR_OUTBOUND_HOST, default 127.0.0.1: only the app beside it)')
    .option('--address <host>', 'host registered for the inbound port (MIXER_SIDECAR_ADDRESS, default 127.0.0.1)')
    .option('--workload <name>', 'workload name (MIXER_SIDECAR_WORKLOAD, default <service>-<version>)')
    .option('--service-account <name>', 'service account in the principal (MIXER_SIDECAR_SERVICE_ACCOUNT, default the service)')
    .option('--log-level <level>', 'log level (MIXER_LOG_LEVEL, default info)')
    .action(async (opts: Flags) => {
      await runProxy(
        () => (typeof opts.logLevel === 'string' ? opts.logLevel : (process.env.MIXER_LOG_LEVEL ?? 'info')),
        (logger) => startSidecar(resolveSidecarOptions(opts), logger.child({ proxy: 'sidecar' })),
      );
    });

  program
    .command('ingress')
    .description('run the mesh edge proxy: route host and path to services, with route rules, traces and reports')
    .option('-p, --port <port>', 'listen port (MIXER_INGRESS_PORT, default 8080)', portArg)
    .option('--route <[host]/prefix=service[.ns]>', 'an edge route, repeatable, e.g. /=frontend (MIXER_INGRESS_ROUTES, comma-separated)', collect)
    .option('--mixer <url>', 'Mixer base URL (MIXER_URL, default http://127.0.0.1:9091)')
    .option('--service <name>', 'the ingress service name (MIXER_INGRESS_SERVICE, default ingress)')
    .option('--namespace <ns>', 'its namespace (MIXER_INGRESS_NAMESPACE, default istio-system)')
    .option('--labels <k=v,...>', 'its labels (MIXER_INGRESS_LABELS; app defaults to the service)')
    .option('--admin-port <port>', 'status page port (MIXER_INGRESS_ADMIN_PORT; default off)', portArg)
    .option('--host <host>', 'address to listen on (MIXER_INGRESS_HOST, default 127.0.0.1)')
    .option('--log-level <level>', 'log level (MIXER_LOG_LEVEL, default info)')
    .action(async (opts: Flags & { route?: string[] }) => {
      const { route, ...flags } = opts;
      await runProxy(
        () => (typeof flags.logLevel === 'string' ? flags.logLevel : (process.env.MIXER_LOG_LEVEL ?? 'info')),
        (logger) => startIngress(resolveIngressOptions(flags, route ?? []), logger.child({ proxy: 'ingress' })),
      );
    });
}
