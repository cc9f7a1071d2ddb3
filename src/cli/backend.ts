import { userInfo } from 'node:os';
import { request } from 'undici';

export interface BackendCommandOptions {
  admin: string;
  token?: string;
  /** The name the audit log records (default: the login name of this shell). */
  as?: string;
}

/**
 * `airgate backend drain|ready|maint BACKEND/SERVER` and `airgate backend weight BACKEND/SERVER N`:
 * the admin API from a terminal (HAProxy's `set server state` / `set weight`).
 */
export async function backendCommand(action: string, id: string, value: string | undefined, opts: BackendCommandOptions): Promise<void> {
  const token = opts.token ?? process.env.AIRGATE_ADMIN_TOKEN;
  if (!token) fail('give the admin token with --token or AIRGATE_ADMIN_TOKEN');
  const slash = id.indexOf('/');
  if (slash <= 0 || slash === id.length - 1) fail(`expected BACKEND/SERVER such as airflow/web-2, found "${id}"`);
  let body: Record<string, unknown>;
  if (action === 'weight') {
    const w = Number(value);
    if (!Number.isInteger(w) || w < 0 || w > 1000) fail(`expected a weight from 0 to 1000, found "${value ?? ''}"`);
    body = { weight: w };
  } else if (action === 'ready' || action === 'drain' || action === 'maint') {
    body = { state: action };
  } else {
    fail(`unknown action "${action}" (expected ready, drain, maint or weight)`);
  }
  const url = `${opts.admin.replace(/\/$/, '')}/backends/${encodeURIComponent(id.slice(0, slash))}/servers/${encodeURIComponent(id.slice(slash + 1))}`;
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-airgate-operator': opts.as ?? operator() }, body: JSON.stringify(body) });
  } catch (err) {
    fail(`cannot reach the admin API at ${opts.admin}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const answer = (await res.body.json().catch(() => ({}))) as { error?: string; id?: string; status?: string; weight?: number };
  if (res.statusCode !== 200 || answer.id === undefined) fail(answer.error ?? `${opts.admin} answered ${res.statusCode} without a server status; is it the admin API?`);
  process.stdout.write(`${answer.id}: ${answer.status}, weight ${answer.weight}\n`);
}

/** The login name of whoever runs the command, for the audit log. */
function operator(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? '';
  }
}

/** Say what is wrong and exit 1 (declared as a function so that TypeScript narrows after a call). */
function fail(msg: string): never {
  process.stderr.write(`airgate backend: ${msg}\n`);
  process.exit(1);
}
