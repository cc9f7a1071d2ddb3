/**
 * The one registry of errors the gateway itself produces. Every code has a stable
 * name, an HTTP status and a title; responses carry the code in `x-airgate-error`
 * so users can tell the gateway's answers from Airflow's.
 */
export const ERRORS = {
  AIRGATE_ERR_BAD_REQUEST: { status: 400, title: 'Bad Request', detail: 'The request is malformed and was not forwarded.' },
  AIRGATE_ERR_UNAUTHENTICATED: { status: 401, title: 'Unauthorized', detail: 'Sign in first: this route needs a session or a bearer token.' },
  AIRGATE_ERR_LOGIN_FAILED: { status: 401, title: 'Unauthorized', detail: 'The login could not be completed.' },
  AIRGATE_ERR_FORBIDDEN: { status: 403, title: 'Forbidden', detail: 'A gateway policy rule denies this request.' },
  AIRGATE_ERR_RATE_LIMITED: { status: 429, title: 'Too Many Requests', detail: 'A rate limit of this gateway was exceeded; retry later.' },
  AIRGATE_ERR_LOGIN_LOCKED: { status: 429, title: 'Too Many Requests', detail: 'Too many failed logins; this address or user is locked out for a while.' },
  AIRGATE_ERR_NO_ROUTE: { status: 404, title: 'Not Found', detail: 'No route of this gateway matches the request.' },
  AIRGATE_ERR_CLIENT_TIMEOUT: { status: 408, title: 'Request Timeout', detail: 'The request headers did not arrive in time.' },
  AIRGATE_ERR_BODY_TIMEOUT: { status: 408, title: 'Request Timeout', detail: 'The request body stopped arriving before it was complete.' },
  AIRGATE_ERR_BODY_TOO_LARGE: { status: 413, title: 'Content Too Large', detail: 'The request body is larger than this gateway reads for this request.' },
  AIRGATE_ERR_HEADERS_TOO_LARGE: { status: 431, title: 'Request Header Fields Too Large', detail: 'The request headers are too large.' },
  AIRGATE_ERR_INTERNAL: { status: 500, title: 'Internal Server Error', detail: 'The gateway failed while handling this request; it keeps serving others.' },
  AIRGATE_ERR_UPSTREAM_CONNECT: { status: 502, title: 'Bad Gateway', detail: 'The Airflow server refused the connection.' },
  AIRGATE_ERR_UPSTREAM_RESET: { status: 502, title: 'Bad Gateway', detail: 'The Airflow server closed the connection before answering.' },
  AIRGATE_ERR_UPSTREAM_TLS: { status: 502, title: 'Bad Gateway', detail: 'The TLS connection to the Airflow server failed (certificate not trusted, name mismatch, or client certificate refused).' },
  AIRGATE_ERR_UPSTREAM_PROTOCOL: { status: 502, title: 'Bad Gateway', detail: 'The Airflow server sent an invalid response.' },
  AIRGATE_ERR_NO_SERVER: { status: 503, title: 'Service Unavailable', detail: 'No Airflow server is available for this route.' },
  AIRGATE_ERR_QUEUE_FULL: { status: 503, title: 'Service Unavailable', detail: 'Every Airflow server is busy and the queue is full.' },
  AIRGATE_ERR_QUEUE_TIMEOUT: { status: 503, title: 'Service Unavailable', detail: 'Every Airflow server stayed busy for the whole queue timeout.' },
  AIRGATE_ERR_SHUTTING_DOWN: { status: 503, title: 'Service Unavailable', detail: 'The gateway is shutting down.' },
  AIRGATE_ERR_UPSTREAM_CONNECT_TIMEOUT: { status: 504, title: 'Gateway Timeout', detail: 'Connecting to the Airflow server timed out.' },
  AIRGATE_ERR_UPSTREAM_TIMEOUT: { status: 504, title: 'Gateway Timeout', detail: 'The Airflow server did not answer in time.' },
  AIRGATE_ERR_REQUEST_TIMEOUT: { status: 504, title: 'Gateway Timeout', detail: 'The request exceeded the route timeout.' },
  AIRGATE_ERR_HTTP_VERSION: { status: 505, title: 'HTTP Version Not Supported', detail: 'This listener speaks HTTP/1.0 and HTTP/1.1 (and HTTP/2 through TLS ALPN where enabled).' },
} as const satisfies Record<string, { status: number; title: string; detail: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error the gateway answers with itself; `cause` keeps the underlying failure. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, options?: { cause?: unknown; message?: string }) {
    super(options?.message ?? ERRORS[code].detail, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERRORS[code].status;
  }
}

/** Map an undici / socket failure to the gateway's error code. */
export function upstreamErrorCode(err: unknown): ErrorCode {
  const code = (err as { code?: string } | null)?.code;
  switch (code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
    case 'EAI_AGAIN':
      return 'AIRGATE_ERR_UPSTREAM_CONNECT';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA':
    case 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE':
    case 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED':
    case 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE':
      return 'AIRGATE_ERR_UPSTREAM_TLS';
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'AIRGATE_ERR_UPSTREAM_CONNECT_TIMEOUT';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'AIRGATE_ERR_UPSTREAM_TIMEOUT';
    case 'UND_ERR_INFO':
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return 'AIRGATE_ERR_UPSTREAM_PROTOCOL';
    default:
      return 'AIRGATE_ERR_UPSTREAM_RESET';
  }
}
