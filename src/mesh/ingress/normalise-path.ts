/**
 * Request paths as the ingress matches and forwards them, normalised the way Envoy's `normalize_path`
 * and `merge_slashes` do (RFC 3986 section 6.2.2): so that `/pub/../admin` is matched (and sent on)
 * as `/admin`, never as something under `/pub`.
 */

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** Decodes percent-escapes of unreserved characters (`%2e` is `.`) and upper-cases the others; undefined for a bad escape or an escaped slash. */
function decodeUnreserved(path: string): string | undefined {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = path.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
    const ch = String.fromCharCode(parseInt(hex, 16));
    // An escaped `/` or `\` would let `..%2f` climb out of a prefix at a server that decodes it.
    if (ch === '/' || ch === '\\') return undefined;
    out += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    i += 2;
  }
  return out;
}

/**
 * The normalised form of a request target (`/path?query`): unreserved characters decoded, `\` read
 * as `/`, runs of `/` merged, `.` and `..` segments removed (`..` never climbs above the root); the
 * query is kept as sent. Undefined for a target that is not a path (`*`, an absolute URL), holds a
 * malformed percent-escape or an escaped slash (`%2F`, `%5C`): the caller answers 400.
 */
export function normaliseRequestPath(target: string): string | undefined {
  if (!target.startsWith('/')) return undefined;
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q);
  const decoded = decodeUnreserved(rawPath.replace(/\\/g, '/'));
  if (decoded === undefined) return undefined;
  const segments = decoded.split('/');
  const out: string[] = [];
  // segments[0] is the empty string before the leading '/'.
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i];
    const last = i === segments.length - 1;
    if (s === '..') {
      out.pop();
      if (last) out.push('');
    } else if (s === '.' || s === '') {
      if (last) out.push('');
    } else out.push(s);
  }
  return `/${out.join('/')}${query}`;
}
