/** Options every bench takes, parsed from `npm run bench -- <name> [--flag value ...]`. */
export interface BenchOptions {
  /** Seconds of measured load per target (`--duration`, default 10). */
  duration: number;
  /** Concurrent connections of the load generator (`--connections`, default 50). */
  connections: number;
  /** Every `--flag [value]` given, for flags a bench has of its own (`true` when given bare). */
  flags: Readonly<Record<string, string | true>>;
}

/** Parses `--name value` / `--name=value` / bare `--name` flags. Throws on a malformed number. */
export function parseBenchArgs(argv: readonly string[]): { positional: string[]; options: BenchOptions } {
  const flags: Record<string, string | true> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq > 0) flags[a.slice(2, eq)] = a.slice(eq + 1);
    else if (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) flags[a.slice(2)] = argv[++i];
    else flags[a.slice(2)] = true;
  }
  const num = (name: string, fallback: number): number => {
    const v = flags[name];
    if (v === undefined) return fallback;
    const n = Number(v);
    if (v === true || !Number.isFinite(n) || n <= 0) throw new Error(`--${name} needs a positive number, got ${v === true ? 'nothing' : JSON.stringify(v)}`);
    return n;
  };
  return { positional, options: { duration: num('duration', 10), connections: Math.round(num('connections', 50)), flags } };
}
