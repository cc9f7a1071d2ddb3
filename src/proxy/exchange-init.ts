import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Authenticated } from '../pipeline/context.js';
import type { Logger } from '../observability/logger.js';
import type { Observer } from '../observability/observer.js';
import type { RequestRecord } from '../observability/request-record.js';

/** Who owns the request around the exchange: told once when the client response has closed; gives the metrics and the log. */
export interface ExchangeOwner {
  ended(record: RequestRecord, res: ServerResponse): void;
  readonly observer: Observer;
  readonly logger: Logger;
}

export interface ExchangeInit {
  /** The request as the pipeline decided it (route, identity, normalized target). */
  ctx: Authenticated;
  headers: string[];
  /** The request body: a replayable Buffer, the live stream, or none. */
  body: Buffer | Readable | null;
  /** Whether a failed attempt may be sent again. */
  retriable: boolean;
  hashKey: string | undefined;
  /** Server named by a valid sticky cookie, and whether that cookie is due for renewal. */
  stickyName: string | undefined;
  stickyRefresh: boolean;
  /** The start of the Airflow `session` cookie, for secret-key drift detection. */
  sessionKey: string | undefined;
  owner: ExchangeOwner;
}
