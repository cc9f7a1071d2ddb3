import { request } from 'undici';
import type { BackendStatus } from '../admin/status.js';
import type { GatewayEvent } from '../observability/events.js';

/** `airgate status --admin URL`: the dashboard's picture as a table in a terminal. */
export async function statusCommand(opts: { admin: string; token?: string }): Promise<void> {
  const token = opts.token ?? process.env.AIRGATE_ADMIN_TOKEN;
  if (!token) {
    process.stderr.write('airgate status: give the admin token with --token or AIRGATE_ADMIN_TOKEN\n');
    process.exit(1);
  }
  let body: { backends: BackendStatus[]; events: GatewayEvent[] };
  try {
    const res = await request(`${opts.admin.replace(/\/$/, '')}/status`, { headers: { authorization: `Bearer ${token}` } });
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      process.stderr.write(`airgate status: the admin API answered ${res.statusCode}: ${text.slice(0, 200)}\n`);
      process.exit(1);
    }
    body = (await res.body.json()) as typeof body;
  } catch (err) {
    process.stderr.write(`airgate status: cannot reach the admin API at ${opts.admin}: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`);
    process.exit(1);
  }
  process.stdout.write(renderStatus(body.backends, body.events));
}

const fmt = (v: number | null) => (v === null ? '-' : v.toFixed(1));

export function renderStatus(backends: BackendStatus[], events: GatewayEvent[]): string {
  const out: string[] = [];
  for (const b of backends) {
    const flags = [b.clusterDegraded ? `CLUSTER DEGRADED: ${b.clusterDegraded}` : '', b.secretKeyDrift ? 'SECRET_KEY DRIFT SUSPECTED' : '', b.queued ? `${b.queued} queued` : ''].filter(Boolean);
    out.push(`backend ${b.name} (${b.balance})${flags.length ? `  ${flags.join('  ')}` : ''}`);
    const rows = [['SERVER', 'STATE', 'WEIGHT', 'INFLIGHT', 'SERVED', '5XX', 'EWMA_MS', 'P99_MS', 'URL']];
    for (const s of b.servers) rows.push([s.name, s.status, String(s.weight), String(s.inflight), String(s.served), String(s.failed), fmt(s.ewmaMs), fmt(s.p99Ms), s.url]);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows)
      out.push(
        `  ${r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd()}`,
      );
    out.push('');
  }
  if (events.length) {
    out.push('recent events');
    for (const e of events.slice(0, 10)) out.push(`  ${e.time}  ${e.kind.padEnd(8)} ${e.message}`);
  }
  return `${out.join('\n')}\n`;
}
