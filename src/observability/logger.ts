import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** The process logger: JSON lines, one per event, to stdout unless a destination is given. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { service: 'airgate', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination ?? pino.destination({ dest: 1, sync: false }));
}
