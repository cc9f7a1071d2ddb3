/**
 * The live dashboard (admin listener, `/dashboard`): one self-contained page that polls
 * `/status` every second and draws every backend and server with its state, latency (EWMA and
 * p99), request and error rates as small charts, certificates and their expiry, recent events,
 * and drain / ready / maint buttons.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>airgate dashboard</title>
<style>
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--muted:#6b7280;--line:#e5e7eb;--up:#15803d;--warn:#b45309;--down:#b91c1c;--off:#4b5563}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;background:var(--bg);color:var(--ink)}
header{display:flex;align-items:baseline;gap:1rem;padding:.8rem 1.2rem;background:#111827;color:#fff}header h1{font-size:1.1rem;margin:0}
header .muted{color:#9ca3af}main{padding:1rem 1.2rem;display:grid;grid-template-columns:minmax(0,1fr) 280px;gap:1rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.8rem 1rem;margin-bottom:1rem}
.card h2{font-size:1rem;margin:0 0 .5rem;display:flex;gap:.6rem;align-items:center}
table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:.35rem .4rem;border-bottom:1px solid var(--line)}td{white-space:nowrap}.card[data-backend]{overflow-x:auto}
th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.badge{display:inline-block;padding:.05rem .45rem;border-radius:999px;font-size:12px;font-weight:600;color:#fff}
.s-up{background:var(--up)}.s-degraded,.s-drain,.s-ejected,.s-retiring{background:var(--warn)}.s-down{background:var(--down)}.s-maint{background:var(--off)}
.alert{background:#fef2f2;color:var(--down);border:1px solid #fecaca;border-radius:6px;padding:.2rem .5rem;font-size:12px;font-weight:600}
button{font:inherit;font-size:12px;padding:.15rem .5rem;border:1px solid var(--line);border-radius:4px;background:#fff;cursor:pointer}button:hover{background:#eef2ff}
svg{vertical-align:middle}.num{font-variant-numeric:tabular-nums;text-align:right}ul{list-style:none;margin:0;padding:0}
li{padding:.3rem 0;border-bottom:1px solid var(--line);font-size:13px}li time{color:var(--muted);font-size:12px;display:block}
#error{color:var(--down)}p.muted{color:var(--muted);margin:0 0 .4rem;font-size:12px}
</style></head><body>
<header><h1>airgate</h1><span class="muted" id="updated">connecting…</span><span id="error"></span></header>
<main><section id="backends"></section><aside><div class="card"><h2>Certificates</h2><ul id="certificates"></ul></div><div class="card"><h2>Recent events</h2><ul id="events"></ul></div></aside></main>
<script>
const history = new Map(); // server id -> [{t, served, failed}]
const spark = (points, color) => {
  const w = 90, h = 26, max = Math.max(1, ...points);
  const d = points.map((v, i) => (i ? 'L' : 'M') + (i * w / Math.max(1, points.length - 1)).toFixed(1) + ' ' + (h - 2 - v / max * (h - 4)).toFixed(1)).join(' ');
  return '<svg width="' + w + '" height="' + h + '" role="img"><path d="' + d + '" fill="none" stroke="' + color + '" stroke-width="1.5"/></svg>';
};
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
function rates(id, s) {
  const h = history.get(id) || [];
  h.push({ t: Date.now(), served: s.served, failed: s.failed });
  while (h.length > 61) h.shift();
  history.set(id, h);
  const req = [], err = [];
  for (let i = 1; i < h.length; i++) {
    const dt = (h[i].t - h[i - 1].t) / 1000 || 1;
    req.push(Math.max(0, (h[i].served - h[i - 1].served) / dt));
    err.push(Math.max(0, (h[i].failed - h[i - 1].failed) / dt));
  }
  return { req, err };
}
async function act(backend, server, body) {
  const res = await fetch('/backends/' + encodeURIComponent(backend) + '/servers/' + encodeURIComponent(server), { method: 'POST', headers: { 'content-type': 'application/json', 'x-airgate-dashboard': '1' }, body: JSON.stringify(body) });
  if (!res.ok) document.getElementById('error').textContent = (await res.json()).error || res.statusText;
  refresh();
}
function render(status) {
  document.getElementById('backends').innerHTML = status.backends.map((b) => {
    const rows = b.servers.map((s) => {
      const r = rates(s.id, s);
      const last = r.req.length ? r.req[r.req.length - 1] : 0;
      return '<tr data-server="' + esc(s.name) + '"><td><b>' + esc(s.name) + '</b><br><small>' + esc(s.url) + (s.source === 'dns' ? ' · dns' : '') + '</small></td>' +
        '<td><span class="badge s-' + esc(s.status) + '" data-role="state">' + esc(s.status) + '</span></td>' +
        '<td class="num">' + s.weight + '</td><td class="num">' + s.inflight + '</td>' +
        '<td>' + spark(r.req.length ? r.req : [0], '#2563eb') + ' <span class="num">' + last.toFixed(1) + '/s</span></td>' +
        '<td>' + spark(r.err.length ? r.err : [0], '#dc2626') + '</td>' +
        '<td class="num">' + (s.ewmaMs === null ? '–' : s.ewmaMs.toFixed(1)) + '</td><td class="num">' + (s.p99Ms === null ? '–' : s.p99Ms.toFixed(1)) + '</td>' +
        '<td>' + (s.admin === 'ready' ? '<button data-act="drain">Drain</button> <button data-act="maint">Maint</button>' : '<button data-act="ready">Enable</button>') + '</td></tr>';
    }).join('');
    return '<div class="card" data-backend="' + esc(b.name) + '"><h2>' + esc(b.name) + ' <small class="muted">' + esc(b.balance) + (b.queued ? ' · ' + b.queued + ' queued' : '') + '</small>' +
      (b.clusterDegraded ? '<span class="alert">cluster degraded: ' + esc(b.clusterDegraded) + '</span>' : '') +
      (b.secretKeyDrift ? '<span class="alert">secret_key drift suspected</span>' : '') + '</h2>' +
      (b.discovery ? '<p class="muted" data-role="discovery">DNS ' + esc(b.discovery.type) + ' ' + esc(b.discovery.dns) + ' · ' + b.discovery.servers + ' found · ' + b.discovery.lookups + ' lookups, ' + (b.discovery.failures + b.discovery.empty) + ' failed' +
        (b.discovery.lastError ? ' · <span class="alert">keeping last known servers: ' + esc(b.discovery.lastError) + '</span>' : '') + '</p>' : '') +
      '<table><thead><tr><th>server</th><th>state</th><th class="num">weight</th><th class="num">in flight</th><th>requests</th><th>errors</th><th class="num">EWMA ms</th><th class="num">p99 ms</th><th></th></tr></thead><tbody>' + rows + '</tbody></table></div>';
  }).join('');
  document.getElementById('events').innerHTML = status.events.map((e) => '<li><time>' + esc(new Date(e.time).toLocaleTimeString()) + ' · ' + esc(e.kind) + '</time>' + esc(e.message) + '</li>').join('') || '<li>nothing yet</li>';
  document.getElementById('certificates').innerHTML = (status.certificates || []).map((c) => {
    const days = c.expiresInSeconds / 86400;
    return '<li data-certificate="' + esc(c.name) + '"><time>' + esc(c.listener) + ' · expires ' + esc(new Date(c.notAfter).toLocaleString()) + '</time>' + esc(c.name) + ' <span class="badge ' + (days < 14 ? 's-down' : days < 30 ? 's-drain' : 's-up') + '">' + (days < 2 ? Math.max(0, Math.round(c.expiresInSeconds / 3600)) + ' h' : Math.floor(days) + ' d') + '</span></li>';
  }).join('') || '<li>no TLS listener</li>';
  document.getElementById('updated').textContent = 'updated ' + new Date(status.time).toLocaleTimeString();
}
document.addEventListener('click', (ev) => {
  const btn = ev.target.closest('button[data-act]');
  if (!btn) return;
  const row = btn.closest('tr'), card = btn.closest('[data-backend]');
  act(card.dataset.backend, row.dataset.server, { state: btn.dataset.act });
});
async function refresh() {
  try {
    const res = await fetch('/status', { headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error('status ' + res.status);
    render(await res.json());
    document.getElementById('error').textContent = '';
  } catch (err) {
    document.getElementById('error').textContent = ' · ' + err.message;
  }
}
refresh();
setInterval(refresh, 1000);
</script></body></html>
`;
