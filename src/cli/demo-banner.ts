import { basename, isAbsolute, relative } from 'node:path';

export interface BannerInput {
  /** The gateway's URL, without a trailing slash. */
  url: string;
  airflow: 2 | 3;
  adminUrl: string;
  adminToken: string;
  sims: readonly { name: string; url: string }[];
  issuer: string;
  /** How to run the airgate CLI from where the demo was started. */
  cli: string;
}

/** Quote a word for a POSIX shell when it needs it. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The command that runs this CLI again: `airgate` when started as such, else `node <script>` (relative when below the working directory). */
export function cliCommand(script = process.argv[1] ?? 'airgate', cwd = process.cwd()): string {
  if (basename(script) === 'airgate') return 'airgate';
  const rel = relative(cwd, script);
  return `node ${shellWord(rel === '' || rel.startsWith('..') || isAbsolute(rel) ? script : rel)}`;
}

/** The example commands, one per line, each runnable as printed in a POSIX shell. */
export function demoCommands(b: BannerInput): string[] {
  const fault = b.sims[0]!;
  const api =
    b.airflow === 2
      ? [`curl -fsS ${b.url}/health`, `curl -fsS -u admin:admin ${b.url}/api/v1/dags`]
      : [
          `curl -fsS ${b.url}/api/v2/monitor/health`,
          `TOKEN=$(curl -fsS -X POST -H 'content-type: application/json' -d '{"username":"admin","password":"admin"}' ${b.url}/auth/token | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`,
          `curl -fsS -H "Authorization: Bearer $TOKEN" ${b.url}/api/v2/dags`,
        ];
  return [
    ...api,
    `${b.cli} status --admin ${b.adminUrl} --token ${b.adminToken}`,
    `curl -fsS -X POST -d '{"hang":true}' ${fault.url}/_sim/faults    # ${fault.name} hangs: watch it leave the rotation`,
    `curl -fsS -X POST -d '{"hang":false}' ${fault.url}/_sim/faults   # and come back`,
  ];
}

/** What a user reads first: where to go, who to be, what to type. The gateway's log follows it. */
export function demoBanner(b: BannerInput): string {
  const nodes = b.airflow === 2 ? 'webservers' : 'api-servers';
  return [
    '',
    `airgate demo is running: ${b.url}/`,
    `  Open it in a browser and log in as alice (Admin), bob (Op) or carol (Viewer), any password.`,
    `  Who you are: ${b.url}/_airgate/userinfo    Log out: ${b.url}/_airgate/logout`,
    `  Dashboard: ${b.adminUrl}/dashboard   (sign in with the admin token ${b.adminToken})`,
    ...(b.airflow === 3 ? ["  /ui and /api/v2 reach Airflow 3 as the user you log in as, with that role; curl can send Airflow's own /auth/token token instead."] : []),
    '',
    '  Try:',
    ...demoCommands(b).map((c) => `    ${c}`),
    '',
    `  Behind it: simulated Airflow ${b.airflow} ${nodes} ${b.sims.map((s) => `${s.name} ${s.url}`).join(', ')};`,
    `  a development IdP at ${b.issuer} (oidc-provider, in memory, any password: never for production).`,
    "  Stop with Ctrl-C. The gateway's log follows.",
    '',
    '',
  ].join('\n');
}
