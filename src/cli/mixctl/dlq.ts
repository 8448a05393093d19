import type { MixerClient } from './client';
import { emit, renderFields, renderTable, toJson } from './output';
import type { OutputFormat } from './output';
import { usageError } from './errors';

/** A dead letter as `GET /v1/deadletters/{handler}` lists it (`bags` is a count there, the bags in `show`). */
interface DeadLetterView {
  id: string;
  handler?: string;
  bags: number | unknown[];
  attempts?: number;
  error?: string;
  permanent?: boolean;
  failedAt?: string;
}

/** The URL path of a handler's dead letters: `name` or `namespace/name` (the slash encoded). */
export function deadLetterPath(handler: string, ...rest: string[]): string {
  if (handler === '' || handler.split('/').length > 2 || handler.split('/').some((p) => p === ''))
    throw usageError(`<handler>: ${JSON.stringify(handler)} is not name or namespace/name`);
  return ['/v1/deadletters', encodeURIComponent(handler), ...rest.map(encodeURIComponent)].join('/');
}

const shorten = (s: string | undefined, n = 60): string => (s === undefined ? '' : s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** `mixctl dlq list <handler> [--limit n] [--cursor next]`: newest first, one page. */
export async function dlqList(client: MixerClient, format: OutputFormat, handler: string, limit: string | undefined, cursor?: string): Promise<void> {
  if (limit !== undefined && !/^[1-9]\d*$/.test(limit)) throw usageError(`--limit: ${JSON.stringify(limit)} is not a positive integer`);
  const a = (await client.json('GET', deadLetterPath(handler), { query: { limit, cursor } })) as {
    handler?: string;
    count?: number;
    items?: DeadLetterView[];
    next?: string;
  };
  emit(format, a, () => {
    const items = a.items ?? [];
    const head = `${a.handler ?? handler}: ${a.count ?? items.length} dead letter(s)`;
    if (items.length === 0) return head;
    const rows = items.map((d) => [
      d.id,
      d.failedAt ?? '',
      String(d.attempts ?? ''),
      String(Array.isArray(d.bags) ? d.bags.length : d.bags),
      d.permanent ? 'yes' : 'no',
      shorten(d.error),
    ]);
    const more = a.next === undefined ? '' : `\nmore: mixctl dlq list ${handler} --cursor '${a.next}'`;
    return `${head}\n${renderTable(['id', 'failed at', 'attempts', 'bags', 'permanent', 'error'], rows)}${more}`;
  });
}

/** `mixctl dlq show <handler> <id>`: one dead letter with its bags. */
export async function dlqShow(client: MixerClient, format: OutputFormat, handler: string, id: string): Promise<void> {
  const d = (await client.json('GET', deadLetterPath(handler, id))) as DeadLetterView;
  emit(format, d, () => {
    const bags = Array.isArray(d.bags) ? d.bags : [];
    const fields: Array<[string, string]> = [
      ['id', d.id],
      ['handler', d.handler ?? handler],
      ['failedAt', d.failedAt ?? '-'],
      ['attempts', String(d.attempts ?? '-')],
      ['permanent', d.permanent ? 'yes' : 'no'],
      ['error', d.error ?? '-'],
      ['bags', String(bags.length)],
    ];
    return `${renderFields(fields)}${bags.map((b, i) => `--- bag ${i}\n${toJson(b)}`).join('')}`;
  });
}

/** `mixctl dlq replay <handler> [ids...]`: put dead letters (all, or those named) back in the handler's queue. */
export async function dlqReplay(client: MixerClient, format: OutputFormat, handler: string, ids: readonly string[]): Promise<void> {
  const a = (await client.json('POST', `${deadLetterPath(handler)}/replay`, { body: ids.length > 0 ? { ids } : {} })) as {
    handler?: string;
    replayed?: number;
  };
  emit(format, a, () => `${a.handler ?? handler}: replayed ${a.replayed ?? 0} dead letter(s)`);
}
