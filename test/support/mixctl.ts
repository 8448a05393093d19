import * as path from 'node:path';
import { REPO, spawnNode } from './processes';

export const MIXCTL_BIN = path.join(REPO, 'bin', 'mixctl.js');

/** The outcome of one `mixctl` run: exit code, stdout alone, and stdout+stderr as they came. */
export interface MixctlRun {
  code: number | null;
  stdout: string;
  output: string;
}

/**
 * Runs `node bin/mixctl.js <args>` to its end (killed after `timeoutMs`). `MIXER_URL` and
 * `MIXER_ADMIN_TOKEN` are cleared unless `env` sets them, so the caller's environment never leaks in.
 */
export async function runMixctl(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<MixctlRun> {
  const p = spawnNode([MIXCTL_BIN, ...args], { MIXER_URL: '', MIXER_ADMIN_TOKEN: '', ...env });
  let stdout = '';
  p.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const timer = setTimeout(() => void p.stop('SIGKILL'), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, stdout, output: p.output() };
}
