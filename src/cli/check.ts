import { formatDuration } from '../core/duration.js';
import { loadOrExit } from './load-or-exit.js';
import { healthPath } from '../upstream/health/probe.js';
import { PolicyEvaluator } from '../policy/evaluator.js';
import { certificateExpiry } from '../server/tls/expiry-check.js';

/** `airgate check -c FILE`: validate, print what would run, exit 1 on any error (like `haproxy -c`). */
export function checkCommand(opts: { config: string }): void {
  const cfg = loadOrExit(opts.config);
  const out: string[] = [`configuration ${opts.config} is valid`, '', 'listeners:'];
  for (const l of cfg.listeners) out.push(`  ${l.name}  ${l.address.host}:${l.address.port}  (client header timeout ${formatDuration(l.timeouts.client_header)}, keep-alive ${formatDuration(l.timeouts.keep_alive)})`);
  out.push('backends:');
  for (const [name, b] of Object.entries(cfg.backends)) {
    const h = b.health;
    out.push(
      `  ${name}  ${b.balance}${b.sticky ? `, sticky cookie ${b.sticky.cookie}` : ''}, retries ${b.retries.attempts} on ${b.retries.on.join('/')}, connect timeout ${formatDuration(b.timeouts.connect)}, upstream keep-alive ${formatDuration(b.pool.keep_alive)}`,
    );
    out.push(
      h.enabled ? `    health: ${b.airflow === 'none' ? 'generic HTTP' : `Airflow ${b.airflow}`} ${healthPath(b)} every ${formatDuration(h.interval)}, timeout ${formatDuration(h.timeout)}, rise ${h.rise}, fall ${h.fall}` : '    health: checks off',
    );
    const d = b.discovery;
    if (d)
      out.push(
        `    discovery: DNS ${d.type} ${d.dns}${d.port ? ` port ${d.port}` : ''} via ${d.resolvers?.join(', ') ?? 'the system resolvers'}, every ${formatDuration(d.min_interval)}–${formatDuration(d.interval)} (TTL), at most ${d.max_servers} servers`,
      );
    for (const s of b.servers) out.push(`    ${s.name}  ${s.url.origin}  weight ${s.weight}${s.max_connections ? `, max ${s.max_connections} in flight` : ''}${s.tier || s.backup ? `, tier ${s.tier ?? 2}` : ''}`);
  }
  out.push('routes (in file order; a host match comes first, then the longest matching prefix):');
  for (const r of cfg.routes) {
    const t = r.timeouts;
    out.push(`  ${(r.host ?? '*').padEnd(20)} ${r.path.padEnd(24)} → ${r.backend}  (response headers ${formatDuration(t.response_headers)}, body idle ${formatDuration(t.body_idle)}${t.request ? `, request ${formatDuration(t.request)}` : ''})`);
  }
  if (cfg.admin) out.push(`admin API: ${cfg.admin.address.host}:${cfg.admin.address.port}`);
  if (cfg.policy.rules.length) {
    const protectedRoutes = cfg.routes.filter((r) => r.policy).length;
    out.push(`policy: ${cfg.policy.rules.length} rules on ${protectedRoutes} protected route${protectedRoutes === 1 ? '' : 's'}; public: ${cfg.policy.public.join(' ')}`);
    const warnings = new PolicyEvaluator(cfg.policy.rules).unreachable();
    if (protectedRoutes === 0) warnings.push('no route sets policy: true, so no rule is ever evaluated');
    for (const w of warnings) out.push(`  warning: ${w}`);
  }
  for (const l of cfg.rate_limits) out.push(`rate limit ${l.name}: ${l.rate.text}, burst ${l.burst}, per ${l.key.join('+')}`);
  const certs = cfg.listeners.map((l) => certificateExpiry(l));
  if (certs.some((c) => c.lines.length)) out.push('certificates:', ...certs.flatMap((c) => c.lines));
  for (const w of certs.flatMap((c) => c.warnings)) out.push(`warning: ${w}`);
  process.stdout.write(`${out.join('\n')}\n`);
}
