import type { UpstreamServer } from './server.js';

/** A request waiting for a free server. */
export interface Waiter {
  readonly hashKey: string | undefined;
  /** False once the client went away; such waiters are dropped. */
  readonly waiting: boolean;
  /** A server has room: start on it. */
  dequeued(server: UpstreamServer): void;
  /** The queue timeout passed first. */
  timedOut(): void;
}

/**
 * The bounded FIFO of requests that found every server of their backend busy (HAProxy's
 * backend queue with `timeout queue`). Timers exist only for requests actually waiting.
 */
export class WaitQueue {
  private readonly items: { waiter: Waiter; timer: NodeJS.Timeout }[] = [];
  readonly size: number;
  readonly timeoutMs: number;

  constructor(size: number, timeoutMs: number) {
    this.size = size;
    this.timeoutMs = timeoutMs;
  }

  private emptyWaiters: (() => void)[] = [];

  get length(): number {
    return this.items.length;
  }

  /** Resolves once nobody waits any more (every waiter served, timed out or gone). */
  drained(): Promise<void> {
    this.prune();
    if (this.items.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  private notifyIfEmpty(): void {
    if (this.items.length === 0 && this.emptyWaiters.length > 0) for (const w of this.emptyWaiters.splice(0)) w();
  }

  /** Add a waiter; false when the queue is full. */
  enqueue(waiter: Waiter): boolean {
    this.prune();
    if (this.items.length >= this.size) return false;
    const item = { waiter, timer: setTimeout(() => this.expire(item), this.timeoutMs) };
    this.items.push(item);
    return true;
  }

  private expire(item: { waiter: Waiter; timer: NodeJS.Timeout }): void {
    const i = this.items.indexOf(item);
    if (i >= 0) this.items.splice(i, 1);
    if (item.waiter.waiting) item.waiter.timedOut();
    this.notifyIfEmpty();
  }

  private prune(): void {
    while (this.items.length > 0 && !this.items[0]!.waiter.waiting) clearTimeout(this.items.shift()!.timer);
    this.notifyIfEmpty();
  }

  /** Hand free servers to waiters in order, as long as `choose` finds one. */
  serve(choose: (w: Waiter) => UpstreamServer | 'full' | undefined): void {
    this.prune();
    while (this.items.length > 0) {
      const head = this.items[0]!;
      const server = choose(head.waiter);
      if (server === undefined || server === 'full') return;
      this.items.shift();
      clearTimeout(head.timer);
      head.waiter.dequeued(server);
      this.prune();
    }
    this.notifyIfEmpty();
  }

  clear(): void {
    for (const item of this.items.splice(0)) {
      clearTimeout(item.timer);
      if (item.waiter.waiting) item.waiter.timedOut();
    }
    this.notifyIfEmpty();
  }
}
