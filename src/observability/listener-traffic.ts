import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

export interface ListenerCounts {
  accepted: number;
  /** Bytes of connections already closed. */
  closedRead: number;
  closedWritten: number;
  open: Set<Socket>;
}

/**
 * Connections and wire bytes per listener, watched from the server's `connection` event (TLS and
 * HTTP/2 included: it carries the TCP socket; PROXY-protocol connections are handed over the same
 * way). Bytes of open connections are read at scrape time, so long keep-alive connections count
 * as they go. Counts are by listener name and survive reloads.
 */
export class ListenerTraffic {
  private readonly byName = new Map<string, ListenerCounts>();

  /** Count `server`'s connections under `name` (called when a listener is created). */
  watch(name: string, server: EventEmitter): void {
    let t = this.byName.get(name);
    if (!t) this.byName.set(name, (t = { accepted: 0, closedRead: 0, closedWritten: 0, open: new Set() }));
    const counts = t;
    server.on('connection', (socket: Socket) => {
      counts.accepted++;
      counts.open.add(socket);
      socket.once('close', () => {
        counts.open.delete(socket);
        counts.closedRead += socket.bytesRead;
        counts.closedWritten += socket.bytesWritten;
      });
    });
  }

  all(): IterableIterator<[string, ListenerCounts]> {
    return this.byName.entries();
  }

  bytes(t: ListenerCounts, pick: 'bytesRead' | 'bytesWritten'): number {
    let n = pick === 'bytesRead' ? t.closedRead : t.closedWritten;
    for (const s of t.open) n += s[pick];
    return n;
  }
}
