import { z } from 'zod';

const CLIENTS = ['lean', 'undici'] as const;

/**
 * The default of `upstream.client`: `lean`, unless `AIRGATE_UPSTREAM_CLIENT` names the other
 * client (so CI can run the whole suite on either). A value other than the two is refused.
 */
function clientDefault(): (typeof CLIENTS)[number] {
  const env = process.env.AIRGATE_UPSTREAM_CLIENT;
  if (env === undefined || env === '') return 'lean';
  if (env === 'lean' || env === 'undici') return env;
  throw new Error(`AIRGATE_UPSTREAM_CLIENT: expected lean or undici, found "${env}"`);
}

export const upstreamKeys = {
  upstream: z
    .strictObject({
      /** The HTTP/1.1 client that carries requests to Airflow: airgate's own (`lean`) or undici's Pool. */
      client: z.enum(CLIENTS).default(clientDefault),
    })
    .prefault({}),
};
