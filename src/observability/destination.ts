import { pino } from 'pino';
import { SyslogDestination } from './syslog.js';

/** Where request logs go: what the access and audit logs use of a pino destination. */
export interface Destination {
  write(text: string): boolean;
  /** logrotate: open the file again (no-op for stdout, stderr and syslog). */
  reopen(): void;
  flushSync(): void;
  end(): void;
}

/**
 * A destination for request logs: stdout, stderr, a file (asynchronous writes, reopenable for
 * logrotate), or a syslog server (`syslog://host:port`, `syslog+tcp://host:port`; RFC 5424 with
 * `msgid` as MSGID).
 */
export function openDestination(dest: string, msgid: string): Destination {
  if (dest.startsWith('syslog')) return new SyslogDestination(dest, msgid);
  const target = dest === 'stdout' ? 1 : dest === 'stderr' ? 2 : dest;
  return pino.destination({ dest: target, sync: false, mkdir: typeof target === 'string' });
}

/** Whether closing `dest` should end it (files and syslog; never stdout or stderr). */
export function ownsStream(dest: string): boolean {
  return dest !== 'stdout' && dest !== 'stderr';
}

const BATCH_CHARS = 64_000;
const FLUSH_MS = 200;

/**
 * Lines gathered and handed to the destination in batches (about 64 KB, or every 200 ms), so a
 * busy gateway makes one write per hundred or more requests and the request path only appends a
 * string to an array.
 */
export class LineBatcher {
  private pending: string[] = [];
  private chars = 0;
  private readonly destination: Destination;
  private readonly timer: NodeJS.Timeout;

  constructor(destination: Destination) {
    this.destination = destination;
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  push(line: string): void {
    this.pending.push(line);
    this.chars += line.length;
    if (this.chars >= BATCH_CHARS) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.chars = 0;
    this.destination.write(text);
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
