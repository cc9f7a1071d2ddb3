import { LeanError } from './errors.js';

/** What one request needs from the pool's dispatch options to build its head. */
export interface HeadInput {
  method: string;
  path: string;
  headers: readonly string[] | null | undefined;
  /** The value of `upgrade` when the request asks for one (e.g. `websocket`). */
  upgrade: string | undefined;
}

/** The head as one latin1 string, and how the body that follows is framed. */
export interface RequestHead {
  text: string;
  /** The body is a stream sent with `transfer-encoding: chunked`. */
  chunked: boolean;
  /** The request said `connection: close`, or it is HEAD (as undici: the connection closes after). */
  close: boolean;
  /** The body length the caller declared with `content-length` (-1: none). */
  declaredLength: number;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** As undici: a value may hold HTAB, SP, VCHAR and obs-text, never CR, LF or NUL. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const BAD_PATH = /[^\x21-\xff]/;
/** Methods whose empty body is still announced with `content-length: 0` (as undici does). */
const EXPECTS_PAYLOAD = new Set(['POST', 'PUT', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH']);

const invalid = (what: string): LeanError => new LeanError('UND_ERR_INVALID_ARG', what);

/**
 * Build the request head in one pass over the flat header list. `bodyLength`: the length of a
 * Buffer body, -1 for a stream, -2 for no body. `host` is used when the list has no `host`.
 */
export function buildRequestHead(req: HeadInput, host: string, bodyLength: number): RequestHead {
  if (!TOKEN.test(req.method)) throw invalid('invalid request method');
  if (BAD_PATH.test(req.path) || req.path.length === 0) throw invalid('invalid request path');
  let out = `${req.method} ${req.path} HTTP/1.1\r\n`;
  let hasHost = false;
  let declared = -1;
  let close = req.method === 'HEAD';
  const headers = req.headers ?? [];
  let fields = '';
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    if (!TOKEN.test(name)) throw invalid('invalid header name');
    if (BAD_VALUE.test(value)) throw invalid(`invalid ${name} header`);
    const lower = name.length === 4 || name.length === 10 || name.length === 14 || name.length === 17 || name.length === 6 || name.length === 7 ? name.toLowerCase() : '';
    if (lower === 'host') hasHost = true;
    else if (lower === 'content-length') {
      if (!/^\d{1,15}$/.test(value) || declared >= 0) throw invalid('invalid content-length header');
      declared = Number(value);
    } else if (lower === 'connection') {
      const v = value.toLowerCase();
      if (v !== 'close' && v !== 'keep-alive') throw invalid('invalid connection header');
      if (v === 'close') close = true;
      continue;
    } else if (lower === 'transfer-encoding' || lower === 'keep-alive' || lower === 'upgrade') throw invalid(`invalid ${lower} header`);
    else if (lower === 'expect') throw new LeanError('UND_ERR_INVALID_ARG', 'expect header not supported');
    fields += `${name}: ${value}\r\n`;
  }
  if (!hasHost) out += `host: ${host}\r\n`;
  if (req.upgrade !== undefined) {
    if (BAD_VALUE.test(req.upgrade)) throw invalid('invalid upgrade header');
    out += `connection: upgrade\r\nupgrade: ${req.upgrade}\r\n`;
  } else out += close ? 'connection: close\r\n' : 'connection: keep-alive\r\n';
  out += fields;
  let chunked = false;
  if (bodyLength >= 0) {
    if (declared >= 0 && declared !== bodyLength) throw new LeanError('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'Request body length does not match content-length header');
    if (declared < 0 && (bodyLength > 0 || EXPECTS_PAYLOAD.has(req.method))) out += `content-length: ${bodyLength}\r\n`;
  } else if (bodyLength === -1) {
    if (declared < 0) {
      chunked = true;
      out += 'transfer-encoding: chunked\r\n';
    }
  } else if (declared > 0) throw new LeanError('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'Request body length does not match content-length header');
  else if (declared < 0 && EXPECTS_PAYLOAD.has(req.method)) out += 'content-length: 0\r\n';
  return { text: `${out}\r\n`, chunked, close, declaredLength: declared };
}
