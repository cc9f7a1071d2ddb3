import { createServer } from 'node:net';
import { once } from 'node:events';

/** A port nothing listens on right now (bind 0, note, close). */
export async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  await once(s, 'close');
  return port;
}
