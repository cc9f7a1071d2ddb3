/**
 * A simulated Airflow node in its own process, so a test can `kill -9` it.
 * Usage: node dist/test/helpers/sim-main.js NAME [PORT] [AIRFLOW_VERSION]
 * Prints `listening PORT` when ready.
 */
import { SimulatedAirflow } from '../../src/sim/airflow-sim.js';

const [name = 'web', port = '0', airflow = '2'] = process.argv.slice(2);
const sim = await new SimulatedAirflow({ name, port: Number(port), airflow: airflow === '3' ? 3 : 2, remoteUserHeader: 'X-Auth-User' }).start();
process.stdout.write(`listening ${sim.port}\n`);
process.on('SIGTERM', () => void sim.stop().then(() => process.exit(0)));
