import type { IncomingMessage, ServerResponse } from 'node:http';

/** The most a sign-in form may send (a token and a name). */
const MAX_FORM_BYTES = 4096;

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The dashboard's sign-in page: a form that POSTs the admin token to /dashboard/login, so the
 * token never sits in a URL (browser history, proxy and access logs). An optional name is what
 * the audit log records as the operator.
 */
export function loginPage(res: ServerResponse, status: number, error?: string): void {
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>airgate · sign in</title>
<style>body{font:15px/1.4 system-ui,sans-serif;background:#f6f7f9;display:grid;place-items:center;min-height:100vh;margin:0}
form{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:1.4rem 1.6rem;display:grid;gap:.7rem;min-width:300px}
h1{font-size:1.1rem;margin:0}label{display:grid;gap:.2rem;font-size:13px;color:#374151}input{font:inherit;padding:.4rem .5rem;border:1px solid #d1d5db;border-radius:4px}
button{font:inherit;padding:.45rem;border:0;border-radius:4px;background:#111827;color:#fff;cursor:pointer}.error{color:#b91c1c;font-size:13px;margin:0}</style></head>
<body><form method="post" action="/dashboard/login"><h1>airgate dashboard</h1>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}<label>Admin token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<label>Your name (for the audit log) <input type="text" name="user" autocomplete="username" maxlength="64"></label>
<button type="submit">Sign in</button></form></body></html>
`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  });
  res.end(body);
}

/** The sign-in form's fields, or undefined when the body is not a small urlencoded form. */
export async function readLoginForm(req: IncomingMessage): Promise<{ token: string; user: string } | undefined> {
  if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(c as Buffer);
  }
  const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  return { token: form.get('token') ?? '', user: operatorName(form.get('user')) ?? '' };
}

/** A name an operator gave: printable, at most 64 characters; anything else is dropped. */
export function operatorName(raw: string | null | undefined): string | undefined {
  const name = (raw ?? '').trim();
  return name && name.length <= 64 && /^[\p{L}\p{N} ._@+-]+$/u.test(name) ? name : undefined;
}
