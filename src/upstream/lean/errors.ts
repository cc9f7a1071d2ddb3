/**
 * Errors of the lean upstream client. They carry the same `code` strings undici uses, so
 * `upstreamErrorCode` and the retry policy classify both clients' failures alike.
 */
export type LeanErrorCode =
  | 'UND_ERR_CONNECT_TIMEOUT'
  | 'UND_ERR_HEADERS_TIMEOUT'
  | 'UND_ERR_BODY_TIMEOUT'
  | 'UND_ERR_HEADERS_OVERFLOW'
  | 'UND_ERR_SOCKET'
  | 'UND_ERR_ABORTED'
  | 'UND_ERR_INFO'
  | 'UND_ERR_INVALID_ARG'
  | 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'
  | 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'
  | 'UND_ERR_DESTROYED'
  | 'UND_ERR_CLOSED'
  | 'HPE_INVALID_CONSTANT'
  | 'HPE_INVALID_HEADER_TOKEN'
  | 'HPE_UNEXPECTED_CONTENT_LENGTH'
  | 'HPE_INVALID_TRANSFER_ENCODING'
  | 'HPE_INVALID_CHUNK_SIZE'
  | 'HPE_INVALID_STATUS'
  | 'HPE_INVALID_VERSION';

export class LeanError extends Error {
  readonly code: LeanErrorCode;
  constructor(code: LeanErrorCode, message: string) {
    super(message);
    this.name = 'LeanError';
    this.code = code;
  }
}

/** A response that does not follow HTTP/1.1 (the parser's refusals). */
export function protocolError(code: LeanErrorCode, what: string): LeanError {
  return new LeanError(code, `Response does not match the HTTP/1.1 protocol (${what})`);
}

export const socketError = (what: string): LeanError => new LeanError('UND_ERR_SOCKET', what);
