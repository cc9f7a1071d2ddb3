/**
 * The one canonical form of a host name that routes, policy and limits compare: lower case,
 * without the port and without a trailing dot (`Prod.Example.:8080` → `prod.example`). IPv6
 * literals keep their brackets (`[::1]:8080` → `[::1]`). An empty or missing host gives ''.
 */
export function canonicalHost(host: string | undefined): string {
  if (!host) return '';
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    end = close < 0 ? end : close + 1;
  } else {
    const colon = host.indexOf(':');
    if (colon >= 0) end = colon;
  }
  while (end > 0 && host.charCodeAt(end - 1) === 46 /* . */) end--;
  const h = host.slice(0, end);
  return hasUpper(h) ? h.toLowerCase() : h;
}

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c > 127) return true;
  }
  return false;
}

/** A Host value a gateway may repeat in a redirect: name or IP literal, optional port, nothing else. */
export function isPlainHost(host: string): boolean {
  return /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/.test(host);
}
