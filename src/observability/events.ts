/** A recent happening worth showing an operator: health transitions, operator actions, reloads, warnings. */
export interface GatewayEvent {
  time: string;
  kind: 'health' | 'admin' | 'reload' | 'cluster' | 'drift' | 'ejection' | 'discovery';
  message: string;
  data?: Record<string, unknown>;
}

/** The last 100 events, newest first (dashboard, `airgate status`). */
export class EventLog {
  readonly items: GatewayEvent[] = [];

  push(kind: GatewayEvent['kind'], message: string, data?: Record<string, unknown>): void {
    this.items.unshift({ time: new Date().toISOString(), kind, message, data });
    if (this.items.length > 100) this.items.length = 100;
  }
}
