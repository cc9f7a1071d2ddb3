import { z } from 'zod';

const CLIENTS: readonly string[] = ['lean', 'undici'];

export const upstreamKeys = {
  upstream: z
    .strictObject({
      /**
       * The HTTP/1.1 client that carries requests to Airflow: airgate's own (`lean`) or undici's Pool.
       * Without it, `AIRGATE_UPSTREAM_CLIENT` if set (so CI can run the suite on either client), else `lean`.
       */
      client: z.enum(['lean', 'undici']).default(() => (process.env.AIRGATE_UPSTREAM_CLIENT || 'lean') as 'lean'),
    })
    // A default is not validated by zod: an unknown AIRGATE_UPSTREAM_CLIENT is refused here.
    .superRefine((u, ctx) => {
      if (!CLIENTS.includes(u.client)) ctx.addIssue({ code: 'custom', path: ['client'], message: `expected lean or undici in AIRGATE_UPSTREAM_CLIENT, found "${u.client}"` });
    })
    .prefault({}),
};
