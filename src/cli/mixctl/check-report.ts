import type { MixerClient } from './client';
import { parseAttributeFlags, parseQuotaFlags, parseRepeat } from './attributes';
import type { AttributeFlags } from './attributes';
import { emit, renderFields } from './output';
import type { OutputFormat } from './output';

/** google.rpc code names, by code. */
export const RPC_CODE_NAMES: readonly string[] = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

/** `PERMISSION_DENIED (7)`; an unknown code is shown as `CODE_<n>`. */
export function codeName(code: unknown): string {
  const n = typeof code === 'number' ? code : Number(code);
  return `${RPC_CODE_NAMES[n] ?? `CODE_${String(code)}`} (${String(code)})`;
}

/** The check answer as Mixer sends it (fields may be missing in an older Mixer). */
interface CheckAnswer {
  status?: { code?: number; message?: string };
  validDuration?: string;
  validUseCount?: number;
  referencedAttributes?: Array<{ name: string; key?: string; condition?: string }>;
  quotas?: Record<string, { grantedAmount?: number; validDuration?: string }>;
  configGeneration?: number;
}

/** The verdict for people: status with its name, message, cache validity, what it read, quotas, generation. */
export function renderCheck(a: CheckAnswer): string {
  const refs = (a.referencedAttributes ?? []).map((r) => `${r.name}${r.key !== undefined ? `[${r.key}]` : ''} ${r.condition ?? ''}`.trim());
  const quotas = Object.entries(a.quotas ?? {}).map(([name, q]) => `${name}: granted ${q.grantedAmount ?? 0}, valid ${q.validDuration ?? '?'}`);
  const fields: Array<[string, string]> = [
    ['status', codeName(a.status?.code)],
    ['message', a.status?.message || '-'],
    ['validDuration', a.validDuration ?? '-'],
    ['validUseCount', String(a.validUseCount ?? '-')],
    ['referenced', refs.length > 0 ? refs.join('\n') : '(none)'],
  ];
  if (a.quotas !== undefined) fields.push(['quotas', quotas.length > 0 ? quotas.join('\n') : '(none)']);
  fields.push(['configGeneration', String(a.configGeneration ?? '-')]);
  return renderFields(fields);
}

/** Flags of `mixctl check`. */
export interface CheckFlags extends AttributeFlags {
  quota?: readonly string[];
}

/** Flags of `mixctl report`. */
export interface ReportFlags extends AttributeFlags {
  repeat?: string;
}

/**
 * `mixctl check`: one bag from the typed flags (and `--quota`s), the verdict printed whatever it is.
 * The command succeeds (exit 0) for any verdict; only a failed call is an error.
 */
export async function checkCommand(client: MixerClient, format: OutputFormat, flags: CheckFlags): Promise<void> {
  const attributes = parseAttributeFlags(flags);
  const quotas = parseQuotaFlags(flags.quota);
  const body = Object.keys(quotas).length > 0 ? { attributes, quotas } : { attributes };
  const answer = (await client.json('POST', '/v1/check', { body })) as CheckAnswer;
  emit(format, answer, () => renderCheck(answer));
}

/** `mixctl report`: the bag of the typed flags, `--repeat n` times in one batch. */
export async function reportCommand(client: MixerClient, format: OutputFormat, flags: ReportFlags): Promise<void> {
  const bag = parseAttributeFlags(flags);
  const n = parseRepeat(flags.repeat);
  const answer = (await client.json('POST', '/v1/report', { body: { attributes: Array.from({ length: n }, () => bag) } })) as { accepted?: number };
  emit(format, answer, () => `accepted: ${answer.accepted ?? '?'} bag(s)`);
}
