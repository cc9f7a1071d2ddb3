import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { hostname } from 'node:os';

const FACILITIES: Record<string, number> = { local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23 };
/** Lines kept while a TCP syslog server is unreachable; older ones are dropped (and counted). */
const MAX_PENDING = 10_000;

/** `syslog://host:port` (UDP) or `syslog+tcp://host:port`, with an optional `?facility=local0`…`local7`. */
export const SYSLOG_URL = /^syslog(\+tcp)?:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})(?:\?facility=(local[0-7]))?$/;

/**
 * Log lines to a syslog server as RFC 5424 messages: `<PRI>1 TIMESTAMP HOST airgate PID MSGID -
 * LINE` (severity informational, facility local0 unless the URL says otherwise). UDP sends one
 * datagram per line (RFC 5426); TCP frames each message with its length (octet counting, RFC
 * 6587), reconnects with back-off, and keeps up to 10 000 lines meanwhile. Writes never block the
 * request path.
 */
export class SyslogDestination {
  private readonly udp: UdpSocket | undefined;
  private tcp: Socket | undefined;
  private connected = false;
  private pending: string[] = [];
  private retryMs = 100;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private sending = 0;
  private readonly prefix: string;
  private readonly host: string;
  private readonly port: number;
  /** Lines dropped because the TCP server stayed unreachable. */
  dropped = 0;

  constructor(url: string, msgid: string) {
    const m = SYSLOG_URL.exec(url);
    if (!m) throw new Error(`not a syslog URL: ${url}`);
    this.host = m[2]!.replace(/^\[|\]$/g, '');
    this.port = Number(m[3]);
    const pri = (FACILITIES[m[4] ?? 'local0'] ?? 16) * 8 + 6;
    this.prefix = `<${pri}>1 `;
    this.suffix = ` ${hostname() || '-'} airgate ${process.pid} ${msgid} - `;
    if (m[1]) this.open();
    else {
      this.udp = createSocket(this.host.includes(':') ? 'udp6' : 'udp4');
      this.udp.on('error', () => undefined);
      this.udp.unref();
    }
  }

  private readonly suffix: string;

  /** One or more newline-terminated lines (the access log hands over batches). */
  write(text: string): boolean {
    let from = 0;
    const stamp = new Date().toISOString();
    while (from < text.length) {
      let to = text.indexOf('\n', from);
      if (to < 0) to = text.length;
      if (to > from) this.send(`${this.prefix}${stamp}${this.suffix}${text.slice(from, to)}`);
      from = to + 1;
    }
    return true;
  }

  private send(message: string): void {
    if (this.udp) {
      this.sending++;
      this.udp.send(message, this.port, this.host, () => {
        if (--this.sending === 0 && this.closed) this.udp!.close();
      });
      return;
    }
    const framed = `${Buffer.byteLength(message)} ${message}`;
    if (this.connected && this.tcp) {
      this.tcp.write(framed);
      return;
    }
    this.pending.push(framed);
    if (this.pending.length > MAX_PENDING) {
      this.pending.shift();
      this.dropped++;
    }
  }

  private open(): void {
    if (this.closed) return;
    const socket = connect({ host: this.host, port: this.port });
    this.tcp = socket;
    socket.setNoDelay(true);
    socket.on('connect', () => {
      this.connected = true;
      this.retryMs = 100;
      const waiting = this.pending;
      this.pending = [];
      if (waiting.length) socket.write(waiting.join(''));
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.connected = false;
      if (this.closed) return;
      this.timer = setTimeout(() => this.open(), this.retryMs);
      this.timer.unref();
      this.retryMs = Math.min(this.retryMs * 2, 5000);
    });
    socket.unref();
  }

  /** Nothing to reopen: logrotate does not concern a network destination. */
  reopen(): void {}

  flushSync(): void {}

  end(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.udp && this.sending === 0) this.udp.close();
    this.tcp?.end();
  }
}
