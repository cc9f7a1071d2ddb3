/**
 * Whole-segment prefix matching, the one rule routes, policy, public paths and rate limits use:
 * `/api` matches `/api`, `/api/` and `/api/v1`, never `/apis`; a prefix ending in `/` matches
 * everything below it. `end` is where the path stops inside `path` (before a query).
 */
export function segmentPrefix(prefix: string, path: string, end = path.length): boolean {
  if (end < prefix.length || !path.startsWith(prefix)) return false;
  if (prefix.length === end || prefix.endsWith('/')) return true;
  return path.charCodeAt(prefix.length) === 47; /* / */
}

/** The same test, case-insensitive, compiled once per prefix. */
export function segmentPrefixTest(prefix: string): (path: string) => boolean {
  const lower = prefix.toLowerCase();
  return (path) => segmentPrefix(lower, path.toLowerCase());
}
