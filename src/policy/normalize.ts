const UNRESERVED = /%(?:4[1-9A-F]|5[0-9A]|6[1-9A-F]|7[0-9A]|3[0-9]|2[DE]|5F|7E)/gi;

export type Normalized = { ok: true; path: string; query: string } | { ok: false; reason: string };

/**
 * The path policy judges and Airflow serves, made canonical (RFC 3986 §6): percent-encoded
 * unreserved characters decoded (`%61` → `a`), other escapes upper-cased, dot segments removed,
 * duplicate slashes collapsed. Paths that could mean two things are refused: encoded slashes
 * (`%2F`) and backslashes (raw or `%5C`), encoded NUL and control characters, a `..` that climbs
 * above the root, malformed escapes, escapes that are not UTF-8 (`%FF`, overlong `%c0%ae`), and a
 * fragment (`#`), which clients never send and servers behind us would cut differently.
 */
export function normalizePath(target: string): Normalized {
  if (target.includes('#')) return { ok: false, reason: 'a fragment (#) in the request target' };
  const q = target.indexOf('?');
  let path = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q);
  if (path.includes('\\')) return { ok: false, reason: 'backslash in path' };
  if (path.includes('%')) {
    if (/%(?![0-9A-Fa-f]{2})/.test(path)) return { ok: false, reason: 'malformed percent-encoding' };
    if (/%(?:2F|5C|00|0[0-9A-F]|1[0-9A-F]|7F)/i.test(path)) return { ok: false, reason: 'encoded slash, backslash or control character in path' };
    if (!decodable(path)) return { ok: false, reason: 'percent-encoding that is not UTF-8' };
    path = path.replace(UNRESERVED, (m) => String.fromCharCode(parseInt(m.slice(1), 16))).replace(/%[0-9a-f]{2}/g, (m) => m.toUpperCase());
  }
  if (path.includes('//')) path = path.replace(/\/{2,}/g, '/');
  if (path.includes('/.')) {
    const out: string[] = [];
    const segments = path.split('/');
    for (let i = 1; i < segments.length; i++) {
      const s = segments[i]!;
      if (s === '.') {
        if (i === segments.length - 1) out.push('');
        continue;
      }
      if (s === '..') {
        if (out.length === 0) return { ok: false, reason: 'path climbs above the root' };
        out.pop();
        if (i === segments.length - 1) out.push('');
        continue;
      }
      out.push(s);
    }
    path = `/${out.join('/')}`;
  }
  return { ok: true, path, query };
}

function decodable(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

/** A path segment decoded, or undefined when it is not valid percent-encoded UTF-8 (never throws). */
export function decodeSegment(segment: string): string | undefined {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
