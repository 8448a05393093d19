/**
 * `npm run bench -- <name> [--duration s] [--connections n] [...]`: runs one bench; with no name,
 * lists them. A bench prints its figures beside a baseline measured in the same run, as ratios.
 */
import { runCardinalityBench } from './cardinality';
import { runCheckBench } from './check';
import { runGrpcBench } from './grpc';
import { runMeshBench } from './mesh';
import { runReportBench } from './report';
import { runReportTopologyBench } from './report-topology';
import { runSoakBench } from './soak';
import { parseBenchArgs } from './options';
import type { BenchOptions } from './options';

/** Name → bench. Add a bench with one line here. */
const BENCHES: Readonly<Record<string, (options: BenchOptions) => Promise<void>>> = {
  cardinality: runCardinalityBench,
  check: runCheckBench,
  grpc: runGrpcBench,
  mesh: runMeshBench,
  // --cluster / --sentinel: the same figure on a Redis Cluster or Sentinel beside one server (report-topology.ts).
  report: (o) => (o.flags.cluster || o.flags.sentinel ? runReportTopologyBench(o) : runReportBench(o)),
  soak: runSoakBench,
};

function usage(): string {
  return [
    'usage: npm run bench -- <bench> [--duration <s>] [--connections <n>]',
    '',
    'benches:',
    ...Object.keys(BENCHES).map((name) => `  ${name}`),
    '',
    'options: --duration <s> (default 10), --connections <n> (default 50); see bench/README.md for the rest.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { positional, options } = parseBenchArgs(argv);
  const name = positional[0];
  if (name === undefined) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const bench = Object.hasOwn(BENCHES, name) ? BENCHES[name] : undefined;
  if (!bench) {
    process.stderr.write(`unknown bench ${JSON.stringify(name)}\n\n${usage()}\n`);
    return 2;
  }
  await bench(options);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
