import { Command, CommanderError, Option } from 'commander';
import { MixerClient, resolveClientOptions, DEFAULT_MIXER_URL } from './mixctl/client';
import type { GlobalFlags } from './mixctl/client';
import { CliError, EXIT, usageError } from './mixctl/errors';
import { OUTPUT_FORMATS, outputFormat, writeErr } from './mixctl/output';
import type { OutputFormat } from './mixctl/output';
import { ATTRIBUTE_FLAGS, collect } from './mixctl/attributes';
import { applyCommand, deleteCommand, getCommand } from './mixctl/config-commands';
import { validateCommand } from './mixctl/validate';
import type { NamespaceFlag } from './mixctl/config-commands';
import { ruleCreate, ruleDelete, ruleGet } from './mixctl/rule-commands';
import { checkCommand, reportCommand } from './mixctl/check-report';
import { GRAPH_WINDOWS, graphCommand } from './mixctl/graph';
import { dlqList, dlqReplay, dlqShow } from './mixctl/dlq';
import { KUBE_INJECT_DEFAULTS, kubeInjectCommand } from './mixctl/kube-inject';
import { tapCommand } from './mixctl/tap';
import type { TapFlags } from './mixctl/tap';
import { decisionsCommand } from './mixctl/decisions';
import type { DecisionsFlags } from './mixctl/decisions';
import { caInspect, caRoot, caRotate, caSign, caToken } from './mixctl/ca';
import type { CaTlsFlags } from './mixctl/ca';

const EXAMPLES = `
Examples:
  mixctl rule create global backend.default.svc.cluster.local -f deny.yaml
  mixctl check --stringmap_attributes 'source.labels=app:frontend' -s destination.service.host=backend.default.svc.cluster.local
  mixctl rule delete global backend.default.svc.cluster.local -f deny.yaml
  mixctl apply -f rules.yaml && mixctl get rules -o yaml
  mixctl graph --window 1m --dot | dot -Tsvg > mesh.svg
  mixctl tap --source frontend --destination backend --denied
  mixctl decisions --since 10m --denied --rule deny-frontend-to-backend
  mixctl kube-inject -f deployment.yaml | kubectl apply -f -

Exit codes: 0 ok (check: whatever the verdict), 1 Mixer answered an error (kube-inject: a workload it
cannot inject), 2 usage error or invalid file, 3 Mixer unreachable, 4 unauthorized (401/403). See docs/mixctl.md.`;

const NAMESPACE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function globals(cmd: Command): GlobalFlags & { output?: string } {
  return cmd.optsWithGlobals();
}

/** The client and output format of a command (from the global flags and the environment). */
function context(cmd: Command): { client: MixerClient; format: OutputFormat } {
  const g = globals(cmd);
  return { format: outputFormat(g.output), client: new MixerClient(resolveClientOptions(g)) };
}

function namespaceFlag(cmd: Command): NamespaceFlag {
  const value = cmd.opts<{ namespace: string }>().namespace;
  if (!NAMESPACE.test(value)) throw usageError(`-n/--namespace: ${JSON.stringify(value)} is not a namespace name (lower case, digits, "-", ".")`);
  return { value, explicit: cmd.getOptionValueSource('namespace') === 'cli' };
}

function withNamespace(cmd: Command): Command {
  return cmd.option('-n, --namespace <namespace>', 'namespace of objects that name none', 'default');
}

function withAttributeFlags(cmd: Command): Command {
  for (const f of ATTRIBUTE_FLAGS) cmd.option(f.flags, `${f.description} (repeatable, comma lists)`, collect);
  return cmd;
}

function configCommands(program: Command): void {
  withNamespace(program.command('apply').description('create or replace every object of a file (AttributeManifest, Instance, Handler, Rule order)'))
    .requiredOption('-f, --filename <file>', 'YAML file of config documents (- for stdin)')
    .action(async (opts: { filename: string }, cmd: Command) => {
      const { client, format } = context(cmd);
      await applyCommand(client, format, opts.filename, namespaceFlag(cmd));
    });

  withNamespace(program.command('get').description('list config objects (of a kind), or show one'))
    .argument('[kind]', 'rule, handler, instance or manifest (plural accepted)')
    .argument('[name]', 'object name')
    .option('-A, --all-namespaces', 'list every namespace')
    .action(async (kind: string | undefined, name: string | undefined, opts: { allNamespaces?: boolean }, cmd: Command) => {
      const { client, format } = context(cmd);
      await getCommand(client, format, { kind, name, allNamespaces: opts.allNamespaces === true }, namespaceFlag(cmd));
    });

  withNamespace(program.command('delete').description('delete one object, or every object of a file (Rule, Handler, Instance order)'))
    .argument('[kind]', 'rule, handler, instance or manifest')
    .argument('[name]', 'object name')
    .option('-f, --filename <file>', 'YAML file of the objects to delete (- for stdin)')
    .option('--ignore-not-found', 'an object that does not exist is not an error')
    .action(async (kind: string | undefined, name: string | undefined, opts: { filename?: string; ignoreNotFound?: boolean }, cmd: Command) => {
      const { client, format } = context(cmd);
      await deleteCommand(client, format, { kind, name, file: opts.filename, ignoreNotFound: opts.ignoreNotFound === true }, namespaceFlag(cmd));
    });

  program
    .command('validate')
    .description('check a config file locally (schema, references, attributes, adapter params); exit 2 when invalid')
    .requiredOption('-f, --filename <file>', 'YAML file of config documents (- for stdin)')
    .option('--with <dir>', "config directory the file joins (default: Mixer's bundled rules/)")
    .action(async (opts: { filename: string; with?: string }, cmd: Command) => {
      await validateCommand(outputFormat(globals(cmd).output), opts.filename, opts.with);
    });
}

function ruleCommands(program: Command): void {
  const rule = program.command('rule').description("rules for one subject, in istioctl mixer's form: rule create global <service host> -f file");
  rule
    .command('create')
    .description('apply the file in namespace <scope> (global = default), each Rule restricted to destination.service.host == <subject>')
    .argument('<scope>', 'global, or a namespace')
    .argument('<subject>', 'service host, e.g. backend.default.svc.cluster.local')
    .requiredOption('-f, --filename <file>', 'YAML file of config documents')
    .action(async (scope: string, subject: string, opts: { filename: string }, cmd: Command) => {
      const { client, format } = context(cmd);
      await ruleCreate(client, format, scope, subject, opts.filename);
    });
  rule
    .command('get')
    .description('the rules in namespace <scope> whose match names <subject>')
    .argument('<scope>', 'global, or a namespace')
    .argument('<subject>', 'service host')
    .action(async (scope: string, subject: string, _opts: unknown, cmd: Command) => {
      const { client, format } = context(cmd);
      await ruleGet(client, format, scope, subject);
    });
  rule
    .command('delete')
    .description('delete what rule create made from the same file')
    .argument('<scope>', 'global, or a namespace')
    .argument('<subject>', 'service host')
    .requiredOption('-f, --filename <file>', 'the YAML file given to rule create')
    .option('--ignore-not-found', 'an object that does not exist is not an error')
    .action(async (scope: string, subject: string, opts: { filename: string; ignoreNotFound?: boolean }, cmd: Command) => {
      const { client, format } = context(cmd);
      await ruleDelete(client, format, scope, subject, opts.filename, opts.ignoreNotFound === true);
    });
}

function trafficCommands(program: Command): void {
  withAttributeFlags(program.command('check').description('ask Mixer whether a call may happen; prints the verdict (exit 0 whatever it is)'))
    .option('--quota <name=amount>', 'quota to charge (repeatable, comma lists)', collect)
    .action(async (opts: Record<string, string[]>, cmd: Command) => {
      const { client, format } = context(cmd);
      await checkCommand(client, format, opts);
    });
  withAttributeFlags(program.command('report').description('report one bag (or --repeat n copies of it in one batch)'))
    .option('--repeat <n>', 'bags in the batch', '1')
    .action(async (opts: Record<string, string[]> & { repeat: string }, cmd: Command) => {
      const { client, format } = context(cmd);
      await reportCommand(client, format, opts);
    });
  program
    .command('graph')
    .description('the service dependency graph')
    .addOption(new Option('--window <window>', 'time window').choices(GRAPH_WINDOWS).default('5m'))
    .option('--dot', 'Graphviz DOT (for dot -Tsvg)')
    .action(async (opts: { window: string; dot?: boolean }, cmd: Command) => {
      const { client, format } = context(cmd);
      await graphCommand(client, format, { window: opts.window, dot: opts.dot === true });
    });
}

function observeCommands(program: Command): void {
  program
    .command('tap')
    .description('live checks and reports matching a filter, one line each, until Ctrl-C (admin token)')
    .option('--source <app>', 'source.labels["app"] is this')
    .option('--destination <service>', 'destination.service.name is this')
    .addOption(new Option('--kind <kind>', 'checks or reports only').choices(['check', 'report']))
    .option('--denied', 'denied checks only')
    .option('--match <json>', "a condition over attributes, as a Rule's spec.match (JSON)")
    .option('--rate <n>', 'most events a second (default and cap: MIXER_TAP_RATE on Mixer)')
    .option('--max-events <n>', 'stop after this many events')
    .action(async (opts: TapFlags, cmd: Command) => {
      const { client, format } = context(cmd);
      await tapCommand(client, format === 'json', opts);
    });
  program
    .command('decisions')
    .description('the decision log of a decisionlog handler with sink: redis, read from Redis')
    .option('--since <duration>', 'how far back', '1h')
    .option('--denied', 'denials only')
    .option('--rule <name>', 'decisions this rule took part in (name, or namespace/name)')
    .option('--limit <n>', 'most to print (the newest)', '100')
    .option('--redis <url>', 'Redis URL (REDIS_URL, default redis://127.0.0.1:6379)')
    .option('--key-prefix <prefix>', "Mixer's key prefix (MIXER_KEY_PREFIX, default mixer:)")
    .option('--handler <name>', 'the decisionlog handler (name, or namespace/name)', 'decisions')
    .option('--stream <name>', "the handler's stream param", 'decisions')
    .option('--key <key>', 'the stream key itself (instead of --key-prefix, --handler and --stream)')
    .action(async (opts: DecisionsFlags, cmd: Command) => {
      await decisionsCommand(outputFormat(globals(cmd).output), opts);
    });
}

function dlqCommands(program: Command): void {
  const dlq = program.command('dlq').description('dead letters: report batches a handler kept failing (admin token)');
  dlq
    .command('list')
    .argument('<handler>', 'handler name, or namespace/name')
    .option('--limit <n>', 'most to list (newest first; at most 1000, default 100)')
    .option('--cursor <next>', 'continue after the previous page (its "next")')
    .action(async (handler: string, opts: { limit?: string; cursor?: string }, cmd: Command) => {
      const { client, format } = context(cmd);
      await dlqList(client, format, handler, opts.limit, opts.cursor);
    });
  dlq
    .command('show')
    .argument('<handler>', 'handler name, or namespace/name')
    .argument('<id>', 'dead letter id')
    .action(async (handler: string, id: string, _opts: unknown, cmd: Command) => {
      const { client, format } = context(cmd);
      await dlqShow(client, format, handler, id);
    });
  dlq
    .command('replay')
    .argument('<handler>', 'handler name, or namespace/name')
    .argument('[ids...]', 'dead letter ids (default: all)')
    .action(async (handler: string, ids: string[], _opts: unknown, cmd: Command) => {
      const { client, format } = context(cmd);
      await dlqReplay(client, format, handler, ids);
    });
}

function portFlag(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw usageError(`${flag}: ${JSON.stringify(value)} is not a port number (1-65535)`);
  return n;
}

function injectCommands(program: Command): void {
  const d = KUBE_INJECT_DEFAULTS;
  program
    .command('kube-inject')
    .description('print Kubernetes workloads with the Mixer sidecar container added, as istioctl kube-inject (local: no Mixer needed)')
    .requiredOption('-f, --filename <file>', 'YAML file of Kubernetes objects (- for stdin)')
    .option('--image <image>', 'sidecar image', d.image)
    .option('--mesh-key-secret <name>', `Secret in the workload's namespace holding the mesh key (key "key")`, d.meshKeySecret)
    .option('--inbound-port <port>', 'sidecar inbound port', String(d.inboundPort))
    .option('--outbound-port <port>', 'sidecar outbound port', String(d.outboundPort))
    .option('--admin-port <port>', 'sidecar status port (/healthz: the readiness probe)', String(d.adminPort))
    .option('--fail-open', 'sidecars let requests through when Mixer cannot be asked (default: fail closed)')
    .addHelpText('after', `\nThe sidecars reach Mixer at --mixer when given (MIXER_URL is not used here), else ${d.mixerUrl}.`)
    .action(
      async (
        opts: { filename: string; image: string; meshKeySecret: string; inboundPort: string; outboundPort: string; adminPort: string; failOpen?: boolean },
        cmd: Command,
      ) => {
        const g = globals(cmd);
        await kubeInjectCommand(outputFormat(g.output), opts.filename, {
          image: opts.image,
          mixerUrl: g.mixer ?? d.mixerUrl,
          meshKeySecret: opts.meshKeySecret,
          inboundPort: portFlag('--inbound-port', opts.inboundPort),
          outboundPort: portFlag('--outbound-port', opts.outboundPort),
          adminPort: portFlag('--admin-port', opts.adminPort),
          failOpen: opts.failOpen === true,
        });
      },
    );
}

function caCommands(program: Command): void {
  const ca = program.command('ca').description('the mesh CA: roots, certificates, bootstrap tokens, root rotation (docs/security.md)');
  const tlsFlags = (cmd: Command): Command =>
    cmd
      .option('--ca-file <pem>', "trust this root bundle for Mixer's https port")
      .option('--insecure', 'do not verify Mixer (compare the printed fingerprint yourself)');
  // --ca-file, else the global --cacert (MIXCTL_CACERT).
  const tlsOf = (cmd: Command): CaTlsFlags => {
    const o = cmd.opts<CaTlsFlags>();
    return { ...o, caFile: o.caFile ?? globals(cmd).cacert ?? (process.env.MIXCTL_CACERT || undefined) };
  };
  tlsFlags(ca.command('root').description('print the trusted roots (PEM on stdout; -o json for details)')).action(async (_o: unknown, cmd: Command) => {
    const { client, format } = context(cmd);
    await caRoot(format, client.options, tlsOf(cmd));
  });
  tlsFlags(
    ca
      .command('sign')
      .description('get a workload certificate with its bootstrap token (MIXER_BOOTSTRAP_TOKEN, or computed from MIXER_MESH_KEY)')
      .requiredOption('--service-account <sa>', 'the workload identity: service account')
      .option('-n, --namespace <ns>', 'its namespace', 'default')
      .option('--ttl <duration>', "lifetime (at least 1m; default the CA's)")
      .option('--key-out <file>', 'where to write the private key', 'workload-key.pem')
      .option('--cert-out <file>', 'where to write the certificate chain', 'workload-cert.pem'),
  ).action(async (o: { serviceAccount: string; namespace: string; ttl?: string; keyOut: string; certOut: string }, cmd: Command) => {
    const { client } = context(cmd);
    await caSign(client.options, tlsOf(cmd), o);
  });
  ca.command('inspect')
    .description('show what a certificate says: SPIFFE id, issuer, validity (local; --ca-file also checks the chain)')
    .requiredOption('-f, --filename <pem>', 'certificate file (- for stdin)')
    .option('--ca-file <pem>', 'root bundle to check the certificate against')
    .action((o: { filename: string; caFile?: string }, cmd: Command) => caInspect(outputFormat(globals(cmd).output), o.filename, o.caFile));
  ca.command('token')
    .description("print the Secret with one workload's bootstrap token (needs MIXER_MESH_KEY; apply it in that namespace only)")
    .requiredOption('--service-account <sa>', 'the workload identity: service account')
    .option('-n, --namespace <ns>', 'its namespace', 'default')
    .option('--secret-prefix <prefix>', 'Secret name prefix (kube-inject reads <prefix><service account>)', 'mixer-bootstrap-')
    .action((o: { serviceAccount: string; namespace: string; secretPrefix: string }) => caToken(o));
  tlsFlags(
    ca
      .command('rotate')
      .description('start a root rotation: the new root is trusted at once, signs after --propagate, the old one stays trusted --overlap more (admin token)')
      .option('--propagate <duration>', 'time for every proxy to trust the new root (default 30s)')
      .option('--overlap <duration>', 'how long the old root stays trusted after that (default twice the longest certificate lifetime)'),
  ).action(async (o: { propagate?: string; overlap?: string }, cmd: Command) => {
    const { client, format } = context(cmd);
    await caRotate(format, client.options, tlsOf(cmd), o);
  });
}

/** The `mixctl` command tree (global flags, every command). Commander errors are thrown, not exited. */
export function buildProgram(): Command {
  const program = new Command('mixctl')
    .description("Mixer's operator CLI: config, rules, check and report, graph, tap, decisions, dead letters, kube-inject")
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .option('--mixer <url>', `Mixer's URL (MIXER_URL, default ${DEFAULT_MIXER_URL})`)
    .option('--token <token>', 'admin token (MIXER_ADMIN_TOKEN)')
    .option('--timeout <duration>', 'longest a call may take (default 10s)')
    .option('--cacert <pem>', 'root bundle to trust for an https Mixer (MIXCTL_CACERT; mixctl ca root > roots.pem)')
    .option('--cert <pem>', 'client certificate chain to present: a workload certificate from mixctl ca sign (MIXCTL_CERT)')
    .option('--key <pem>', "the client certificate's private key (MIXCTL_KEY)")
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .addHelpText('after', EXAMPLES);
  configCommands(program);
  ruleCommands(program);
  trafficCommands(program);
  dlqCommands(program);
  observeCommands(program);
  injectCommands(program);
  caCommands(program);
  return program;
}

/**
 * Entry point of the `mixctl` bin: runs one command and resolves to its exit code
 * (0 ok, 1 Mixer error, 2 usage or invalid file, 3 Mixer unreachable, 4 unauthorized).
 */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    if (err instanceof CliError) {
      writeErr(`mixctl: ${err.message}`);
      for (const l of err.lines) writeErr(l);
      return err.exitCode;
    }
    throw err;
  }
}
