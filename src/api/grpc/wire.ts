/**
 * Protobuf well-known values as proto-loader hands them over (int64 as decimal text), turned into
 * Mixer's JSON wire forms of attribute values (RFC 3339 text, Go duration text), so every door
 * validates bags with the same `decodeBag`.
 */
import { formatDuration } from '../../attributes/duration';

/** google.protobuf.Timestamp / Duration as loaded (`seconds` an int64 string). */
export interface ProtoTime {
  seconds?: string | number;
  nanos?: number;
}

/** The number in an int64 field (decimal text), or NaN when it is not a safe integer. */
export function int64(v: string | number | undefined): number {
  if (v === undefined) return 0;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isSafeInteger(n) ? n : NaN;
}

/** Milliseconds of a Duration or Timestamp offset (fractions kept). */
export function protoMs(t: ProtoTime | undefined | null): number {
  if (!t) return 0;
  return int64(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6;
}

/** A Duration as Go duration text (`"1.5s"`). */
export function durationText(t: ProtoTime | undefined | null): string {
  return formatDuration(protoMs(t));
}

/** Milliseconds as a protobuf Duration (whole nanoseconds). */
export function toProtoDuration(ms: number): { seconds: string; nanos: number } {
  const totalNs = Math.round(ms * 1e6);
  const seconds = Math.trunc(totalNs / 1e9);
  return { seconds: String(seconds), nanos: totalNs - seconds * 1e9 };
}

/** A Timestamp as RFC 3339 text with nanoseconds (`2024-05-01T12:00:00.123456789Z`); undefined when out of range. */
export function timestampText(t: ProtoTime | undefined | null): string | undefined {
  if (!t) return undefined;
  const seconds = int64(t.seconds);
  const nanos = t.nanos ?? 0;
  if (!Number.isFinite(seconds) || !(nanos >= 0 && nanos < 1e9)) return undefined;
  const d = new Date(seconds * 1000);
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1 || d.getUTCFullYear() > 9999) return undefined;
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  return nanos === 0 ? `${iso.slice(0, 19)}Z` : `${iso.slice(0, 19)}.${String(nanos).padStart(9, '0')}Z`;
}

/** Epoch milliseconds as RFC 3339 text (nanosecond digits kept). */
export function timestampTextOfMs(ms: number): string | undefined {
  const seconds = Math.floor(ms / 1000);
  return timestampText({ seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) % 1e9 });
}
