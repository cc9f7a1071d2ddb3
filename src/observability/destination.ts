import { pino } from 'pino';

export type Destination = ReturnType<typeof pino.destination>;

/** A pino destination: asynchronous writes (off the request path), reopenable for logrotate. */
export function openDestination(dest: string): Destination {
  if (dest === 'stdout') return pino.destination({ dest: 1, sync: false });
  if (dest === 'stderr') return pino.destination({ dest: 2, sync: false });
  return pino.destination({ dest, sync: false, mkdir: true });
}
