import type { UpstreamServer } from './server.js';

/** Told when a lease ends (the backend: a retiring server may leave, a queued request may start). */
export interface LeaseListener {
  leaseEnded(server: UpstreamServer): void;
}

/** Reaches a server's in-flight counter; used by `Lease.release` only (server.ts does not re-export it). */
export const END_LEASE = Symbol('airgate.endLease');

/**
 * One request (or tunnel) in flight on a server: taking it counts the request in, `release()`
 * counts it out exactly once (a second call does nothing), then tells the listener.
 */
export class Lease {
  #server: UpstreamServer | undefined;
  readonly #listener: LeaseListener | undefined;

  constructor(server: UpstreamServer, listener: LeaseListener | undefined) {
    this.#server = server;
    this.#listener = listener;
  }

  /** The server this lease counts on (undefined once released). */
  get server(): UpstreamServer | undefined {
    return this.#server;
  }

  release(): void {
    const s = this.#server;
    if (!s) return;
    this.#server = undefined;
    s[END_LEASE]();
    this.#listener?.leaseEnded(s);
  }
}
