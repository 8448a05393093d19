import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { StringEnum } from '../../src/sdk';

/** Where lines go (Istio 1.4 `logStream`). */
export const LOG_STREAMS = ['STDOUT', 'STDERR', 'FILE'] as const;
export type LogStream = (typeof LOG_STREAMS)[number];

/** Levels a severity can map to, and the minimum written (Istio 1.4 `Level`). */
export const LEVEL_NAMES = ['INFO', 'WARNING', 'ERROR'] as const;
export type LevelName = (typeof LEVEL_NAMES)[number];

/** Params of the `stdio` handler (Istio 1.4 names, camelCase). */
export const StdioParams = Type.Object(
  {
    /** `STDOUT` (default), `STDERR` or `FILE` (then `outputPath` is required). */
    logStream: Type.Optional(StringEnum(LOG_STREAMS, { default: 'STDOUT' })),
    /** File to append to when `logStream` is `FILE`; its directory is created if missing. */
    outputPath: Type.Optional(Type.String({ minLength: 1 })),
    /** Instance severity text → level; by default `info`, `warning`/`warn`, `error` and `debug` map by name (any case), anything else to INFO. */
    severityLevels: Type.Optional(Type.Record(Type.String(), StringEnum(LEVEL_NAMES))),
    /** Lines below this level are not written (default `INFO`). */
    outputLevel: Type.Optional(StringEnum(LEVEL_NAMES, { default: 'INFO' })),
  },
  {
    additionalProperties: false,
    if: { properties: { logStream: { const: 'FILE' } }, required: ['logStream'] },
    then: { required: ['outputPath'] },
  },
);

export type StdioConfig = Static<typeof StdioParams>;

/** pino level labels the handler writes. */
export type LineLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVEL_OF: Readonly<Record<LevelName, LineLevel>> = { INFO: 'info', WARNING: 'warn', ERROR: 'error' };

/** Stdio params with defaults filled in. */
export interface StdioSettings {
  /** A file descriptor (1 stdout, 2 stderr) or a file path. */
  destination: number | string;
  outputLevel: LineLevel;
  /** Severity text → level, as configured (exact text); also looked up ignoring case. */
  severityLevels: ReadonlyMap<string, LineLevel>;
}

/** Fills defaults; throws when `FILE` has no `outputPath` (the schema rejects that too). */
export function resolveStdioConfig(config: StdioConfig): StdioSettings {
  const stream = config.logStream ?? 'STDOUT';
  let destination: number | string;
  if (stream === 'FILE') {
    if (!config.outputPath) throw new Error('params.outputPath: required when logStream is FILE');
    destination = config.outputPath;
  } else destination = stream === 'STDERR' ? 2 : 1;
  const severityLevels = new Map<string, LineLevel>();
  for (const [text, level] of Object.entries(config.severityLevels ?? {})) severityLevels.set(text, LEVEL_OF[level]);
  return { destination, outputLevel: LEVEL_OF[config.outputLevel ?? 'INFO'], severityLevels };
}

const BY_NAME: Readonly<Record<string, LineLevel>> = { debug: 'debug', info: 'info', warning: 'warn', warn: 'warn', error: 'error' };

/**
 * The level of an instance's severity: the configured mapping (exact text, then ignoring case),
 * else the default by name (`debug`, `info`, `warning`/`warn`, `error`, any case), else info.
 */
export function levelOf(settings: StdioSettings, severity: unknown): LineLevel {
  if (severity === undefined || severity === null) return 'info';
  const text = String(severity);
  const exact = settings.severityLevels.get(text);
  if (exact) return exact;
  const lower = text.toLowerCase();
  for (const [k, v] of settings.severityLevels) if (k.toLowerCase() === lower) return v;
  return BY_NAME[lower] ?? 'info';
}
