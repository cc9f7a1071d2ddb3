import { loadConfigText } from '../config/load.js';
import { Gateway } from '../server/gateway.js';
import { SimulatedAirflow } from '../sim/airflow-sim.js';
import { AirflowState } from '../sim/state.js';
import { stopOnSignals } from './serve.js';

export interface DemoOptions {
  port: string;
  host: string;
  airflow: string;
  simPorts?: string;
}

/** The YAML the demo runs: the same loader and schema as `airgate serve`. */
export function demoConfigYaml(host: string, port: number, sims: readonly SimulatedAirflow[]): string {
  return `listeners:
  - name: public
    address: ${host.includes(':') ? `[${host}]` : host}:${port}
backends:
  airflow:
    servers:
${sims.map((s) => `      - { name: ${s.name}, url: ${s.url} }`).join('\n')}
routes:
  - path: /
    backend: airflow
  - path: /api
    backend: airflow
    timeouts: { response_headers: 180s }
logging:
  level: info
shutdown:
  grace: 5s
`;
}

/** `airgate demo`: three simulated Airflow nodes and the gateway in front of them. */
export async function demoCommand(opts: DemoOptions): Promise<void> {
  const airflow = opts.airflow === '3' ? 3 : 2;
  const simPorts = opts.simPorts ? opts.simPorts.split(',').map(Number) : [0, 0, 0];
  const state = new AirflowState();
  const sims = await Promise.all(simPorts.map((port, i) => new SimulatedAirflow({ name: `web-${i + 1}`, airflow, state, port, remoteUserHeader: 'X-Auth-User' }).start()));
  let gateway: Gateway | undefined;
  for (const port of [Number(opts.port), 0]) {
    gateway = new Gateway(loadConfigText(demoConfigYaml(opts.host, port, sims), '<demo>'));
    try {
      await gateway.start();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) throw err;
      gateway.logger.warn(`port ${port} is busy; choosing a free port`);
    }
  }
  const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${gateway!.port()}`;
  process.stdout.write(
    `\nairgate demo is running: ${url}/\n` +
      `  Airflow ${airflow} simulated on ${sims.map((s) => `${s.name} ${s.url}`).join(', ')}\n` +
      (airflow === 2
        ? `  UI login: admin / admin        API: curl -u admin:admin ${url}/api/v1/dags\n`
        : `  API token: curl -X POST -H 'content-type: application/json' -d '{"username":"admin","password":"admin"}' ${url}/auth/token\n`) +
      `  Health: ${url}${airflow === 2 ? '/health' : '/api/v2/monitor/health'}     Faults: curl -X POST -d '{"hang":true}' ${sims[0]!.url}/_sim/faults\n` +
      `  Stop with Ctrl-C.\n\n`,
  );
  stopOnSignals(async () => {
    await gateway!.stop();
    await Promise.all(sims.map((s) => s.stop()));
  });
}
