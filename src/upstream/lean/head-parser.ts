import { LeanError, protocolError } from './errors.js';

/** Bounds on what one response head (or trailer section) may hold. */
export interface HeadLimits {
  /** Header names and values together, in bytes (undici's `maxHeaderSize` counts the same). */
  maxHeaderSize: number;
  /** Header fields at most. */
  maxHeaders: number;
}

/** A parsed status line and header section. */
export interface ResponseHead {
  status: number;
  statusText: string;
  /** `name, value, name, value …` as received (latin1, one character per byte; slices of one string per head). */
  raw: string[];
  /** -1 when absent. */
  contentLength: number;
  chunked: boolean;
  /** The connection must close after this response (Connection: close, or HTTP/1.0 without keep-alive). */
  close: boolean;
  /** The upstream's `Keep-Alive: timeout=N` in ms, -1 when absent. */
  keepAliveMs: number;
}

/** tchar (RFC 9110 §5.6.2): 1 for the bytes a field name may hold. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;
/** Control bytes (all but HTAB) and DEL: 1. CR and LF are allowed only as a CRLF pair. */
const CTL = new Uint8Array(256);
for (let c = 0; c < 32; c++) CTL[c] = c === 9 ? 0 : 1;
CTL[127] = 1;

/**
 * Where in `text[from, to)` the first byte no head may hold is (-1: none): a control byte other
 * than HTAB (field values and reason phrases are HTAB, SP, VCHAR and obs-text), a CR that does
 * not end a line, an LF that does not follow a CR. A loop over a lookup table (a regular
 * expression over a 150-byte head cost several times more).
 */
function forbiddenAt(text: string, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (CTL[c] !== 1) continue;
    if (c === 13 && text.charCodeAt(i + 1) === 10) {
      i++;
      continue;
    }
    return i;
  }
  return -1;
}

/** `text` without trailing SP and HTAB (trimEnd would also drop NBSP, U+00A0, from a latin1 value). */
function trimOws(text: string): string {
  let e = text.length;
  while (e > 0 && (text.charCodeAt(e - 1) === 32 || text.charCodeAt(e - 1) === 9)) e--;
  return e === text.length ? text : text.slice(0, e);
}

/** Whether `text` is `lower` in any letter case (`lower`: lower-case letters and `-` only; heads hold no CR). */
function sameLower(text: string, lower: string): boolean {
  if (text.length !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((text.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** A Content-Length value: 1 to 15 ASCII digits (-1 otherwise). */
function digits(text: string): number {
  if (text.length === 0 || text.length > 15) return -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  return Number(text);
}

/**
 * Where the section that starts at `start` ends (the index after its empty line), or -1 when
 * more bytes are needed. Every LF must follow a CR; a section that is only CRLF ends at once
 * (an empty trailer section). `from` is where scanning resumes after an earlier partial call.
 */
export function findSectionEnd(buf: Buffer, start: number, from: number): number {
  let i = buf.indexOf(10, Math.max(from, start));
  while (i >= 0) {
    if (i === start || buf[i - 1] !== 13) throw protocolError('HPE_INVALID_CONSTANT', 'bare LF');
    if (i === start + 1) return i + 1;
    if (i - 3 >= start && buf[i - 2] === 10) return i + 1;
    i = buf.indexOf(10, i + 1);
  }
  return -1;
}

/** Parse the `name: value` lines of `text` (a head or trailer section, CRLF line ends) from `pos` up to the final empty line. */
export function parseFieldLines(text: string, pos: number, limits: HeadLimits): string[] {
  if (forbiddenAt(text, pos, text.length) >= 0) throw protocolError('HPE_INVALID_HEADER_TOKEN', 'control byte in a header line');
  return fieldLines(text, pos, limits);
}

/** `parseFieldLines` once `text` is known to hold no forbidden byte. */
function fieldLines(text: string, pos: number, limits: HeadLimits): string[] {
  const raw: string[] = [];
  let size = 0;
  for (;;) {
    const eol = text.indexOf('\r\n', pos);
    if (eol === pos) return raw;
    const c0 = text.charCodeAt(pos);
    if (c0 === 32 || c0 === 9) throw protocolError('HPE_INVALID_HEADER_TOKEN', 'obs-fold or whitespace before a field name');
    let colon = pos;
    while (colon < eol && TCHAR[text.charCodeAt(colon)] === 1) colon++;
    if (colon === pos || colon === eol || text.charCodeAt(colon) !== 58 /* : */) throw protocolError('HPE_INVALID_HEADER_TOKEN', 'invalid header name');
    // Leading whitespace is not part of the value; trailing whitespace is kept, as undici does.
    let vs = colon + 1;
    while (vs < eol && (text.charCodeAt(vs) === 32 || text.charCodeAt(vs) === 9)) vs++;
    size += colon - pos + (eol - vs);
    if (raw.length >= limits.maxHeaders * 2 || size >= limits.maxHeaderSize) throw new LeanError('UND_ERR_HEADERS_OVERFLOW', 'Headers Overflow Error');
    raw.push(text.slice(pos, colon), text.slice(vs, eol));
    pos = eol + 2;
  }
}

/** Parse a complete response head: `buf[0, end)` ends with the empty line. */
export function parseHead(buf: Buffer, end: number, limits: HeadLimits): ResponseHead {
  const text = buf.toString('latin1', 0, end);
  const eol = text.indexOf('\r\n');
  const bad = forbiddenAt(text, 0, text.length);
  if (bad >= 0) throw bad < eol ? protocolError('HPE_INVALID_STATUS', 'invalid reason phrase') : protocolError('HPE_INVALID_HEADER_TOKEN', 'control byte in a header line');
  const status = statusLine(text, eol);
  const raw = fieldLines(text, eol + 2, limits);
  const head: ResponseHead = { status, statusText: eol > 13 ? text.slice(13, eol) : '', raw, contentLength: -1, chunked: false, close: false, keepAliveMs: -1 };
  framing(head, text.charCodeAt(7) === 48 /* HTTP/1.0 */);
  return head;
}

/** `HTTP/1.1 200` or `HTTP/1.0 200`, then nothing or a space and the reason phrase: the status code. */
function statusLine(text: string, eol: number): number {
  const d0 = text.charCodeAt(9);
  const d1 = text.charCodeAt(10);
  const d2 = text.charCodeAt(11);
  const v = text.charCodeAt(7);
  if (eol < 12 || !text.startsWith('HTTP/1.', 0) || (v !== 48 && v !== 49) || text.charCodeAt(8) !== 32 || d0 < 49 || d0 > 57 || d1 < 48 || d1 > 57 || d2 < 48 || d2 > 57 || (eol > 12 && text.charCodeAt(12) !== 32))
    throw protocolError('HPE_INVALID_CONSTANT', 'invalid status line');
  return (d0 - 48) * 100 + (d1 - 48) * 10 + (d2 - 48);
}

/** Read the framing headers (Content-Length, Transfer-Encoding, Connection, Keep-Alive) once. */
function framing(head: ResponseHead, http10: boolean): void {
  const raw = head.raw;
  let te: string | undefined;
  let keepAlive = false;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length !== 14 && n.length !== 17 && n.length !== 10) continue;
    const name =
      n.length === 14
        ? sameLower(n, 'content-length')
          ? 'content-length'
          : ''
        : n.length === 17
          ? sameLower(n, 'transfer-encoding')
            ? 'transfer-encoding'
            : ''
          : sameLower(n, 'connection')
            ? 'connection'
            : sameLower(n, 'keep-alive')
              ? 'keep-alive'
              : '';
    if (name === '') continue;
    const value = trimOws(raw[i + 1]!);
    if (name === 'content-length') {
      if (head.contentLength >= 0) throw protocolError('HPE_UNEXPECTED_CONTENT_LENGTH', 'duplicate Content-Length');
      const length = digits(value);
      if (length < 0) throw protocolError('HPE_UNEXPECTED_CONTENT_LENGTH', 'invalid Content-Length');
      head.contentLength = length;
    } else if (name === 'transfer-encoding') {
      te = te === undefined ? value : `${te}, ${value}`;
    } else if (name === 'connection') {
      // The usual single token without a lower-cased copy and a split.
      if (sameLower(value, 'keep-alive')) keepAlive = true;
      else if (sameLower(value, 'close')) head.close = true;
      else
        for (const token of value.toLowerCase().split(',')) {
          const t = token.trim();
          if (t === 'close') head.close = true;
          else if (t === 'keep-alive') keepAlive = true;
        }
    } else if (name === 'keep-alive') {
      const t = /(?:^|[\s,;])timeout\s*=\s*(\d+)/i.exec(value);
      if (t) head.keepAliveMs = Number(t[1]) * 1000;
    }
  }
  if (te !== undefined) {
    if (te.toLowerCase() !== 'chunked') throw protocolError('HPE_INVALID_TRANSFER_ENCODING', 'a transfer coding other than exactly chunked');
    if (head.contentLength >= 0) throw protocolError('HPE_UNEXPECTED_CONTENT_LENGTH', 'Content-Length with Transfer-Encoding');
    head.chunked = true;
  }
  if (http10 && !keepAlive) head.close = true;
}
