import { LeanError, protocolError, socketError } from './errors.js';
import { findSectionEnd, parseFieldLines, parseHead, type HeadLimits, type ResponseHead } from './head-parser.js';

/** What the parser reports, in order: informational heads, one final head, body slices, the end. */
export interface ParserSink {
  /** A 1xx answer other than 100 and 101 (103 Early Hints …); parsing goes on. */
  onInfo(head: ResponseHead): void;
  /** The final head; false pauses the parser until `resume()`. */
  onHead(head: ResponseHead): boolean;
  /** A slice of the body (no copy); false pauses the parser until `resume()`. */
  onBody(chunk: Buffer): boolean;
  /** The response is complete; `trailers` is a flat name/value list (empty without trailers). */
  onEnd(trailers: string[]): void;
  /** 101 to an upgrade request: `rest` is whatever arrived after the head. */
  onUpgrade(head: ResponseHead, rest: Buffer): void;
}

export interface ParserLimits extends HeadLimits {
  /** Bytes a head (status line, fields, CRLFs) may take while it is searched for. */
  maxHeadBytes: number;
  /** Bytes a chunk-size line (size and extensions) may take. */
  maxChunkLine: number;
}

const enum S {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  UntilClose,
  Ending,
  Done,
  Upgraded,
}

const EMPTY = Buffer.alloc(0);
/** A chunk size: leading zeros, then at most 16 significant hex digits (no overflow). */
const HEX = /^0*[0-9A-Fa-f]{1,16}$/;
/**
 * Chunk extensions (ignored), as undici (llhttp) reads them: `;name[=value]` repeated with no
 * whitespace, where name and value are tokens (either may be empty) or the value is a quoted
 * string (quoted pairs; DEL and obs-text allowed); the line may not end with `;`.
 */
const CHUNK_EXT = /^(?:;[!#$%&'*+\-.^_`|~0-9A-Za-z]*(?:=(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]*|"(?:[\t !#-[\]-\xff]|\\[\t -~\x80-\xff])*"))?)+$/;
const EXT_TRAILING_SEMI = /;$/;

/**
 * An incremental HTTP/1.1 response parser for one connection: `execute` is fed socket chunks,
 * `finish` the end of the stream. Strict: CRLF line ends, bounded heads, one framing (length,
 * chunked or until close); a body cut short is an error, never a complete response.
 */
export class ResponseParser {
  private readonly sink: ParserSink;
  private readonly limits: ParserLimits;
  private state = S.Done;
  private noBody = false;
  private upgrade = false;
  /** An unfinished head, chunk-size line or trailer section (copied together only when split). */
  private partial: Buffer | null = null;
  private scanFrom = 0;
  private left = 0;
  private crlf = 0;
  private trailers: string[] = [];
  private held: Buffer | null = null;
  private eof = false;
  paused = false;
  /** Bytes of this response received so far (0: the upstream has not answered yet). */
  received = 0;
  /** The connection may not carry another request (close-delimited, Connection: close, extra bytes). */
  close = false;

  constructor(sink: ParserSink, limits: ParserLimits) {
    this.sink = sink;
    this.limits = limits;
  }

  /** Expect a new response: `noBody` for HEAD, `upgrade` when the request asked for one. */
  reset(noBody: boolean, upgrade: boolean): void {
    this.state = S.Head;
    this.noBody = noBody;
    this.upgrade = upgrade;
    this.partial = null;
    this.scanFrom = 0;
    this.trailers = [];
    this.held = null;
    this.eof = false;
    this.paused = false;
    this.received = 0;
    this.close = false;
  }

  /** The upstream closed while the consumer paused: the rest is delivered on resume. */
  get waitingForResume(): boolean {
    return this.paused && this.eof;
  }

  get done(): boolean {
    return this.state === S.Done;
  }

  /** Whether the parser waits for a head (no final answer yet). */
  get inHead(): boolean {
    return this.state === S.Head;
  }

  execute(chunk: Buffer): void {
    this.received += chunk.length;
    if (this.state === S.Done || this.state === S.Upgraded) {
      this.close = true; // bytes nobody asked for: never reuse this connection
      return;
    }
    this.run(chunk, 0);
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held ?? EMPTY;
    this.held = null;
    this.run(held, 0);
    if (this.eof && !this.paused) this.finish();
  }

  /** The upstream closed its side: completes a close-delimited body, refuses anything unfinished. */
  finish(): void {
    this.eof = true;
    if (this.paused || this.state === S.Done || this.state === S.Upgraded) return;
    if (this.state === S.UntilClose) {
      this.state = S.Ending;
      this.run(EMPTY, 0);
      return;
    }
    if (this.state === S.Length) throw new LeanError('UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'Response body object length does not match content-length header');
    throw socketError(this.received === 0 ? 'other side closed' : 'other side closed before the response was complete');
  }

  private run(buf: Buffer, off: number): void {
    for (;;) {
      if (this.paused) {
        if (off < buf.length) this.held = this.held ? Buffer.concat([this.held, buf.subarray(off)]) : buf.subarray(off);
        return;
      }
      if (this.state === S.Ending) {
        this.state = S.Done;
        if (off < buf.length) this.close = true;
        this.sink.onEnd(this.trailers);
        return;
      }
      if (off >= buf.length || this.state === S.Done || this.state === S.Upgraded) return;
      off = this.step(buf, off);
    }
  }

  private step(buf: Buffer, off: number): number {
    switch (this.state) {
      case S.Head:
        return this.head(buf, off);
      case S.Length:
      case S.ChunkData:
      case S.UntilClose:
        return this.body(buf, off);
      case S.ChunkSize:
        return this.chunkSize(buf, off);
      case S.ChunkEnd:
        return this.chunkEnd(buf, off);
      default:
        return this.trailerSection(buf, off);
    }
  }

  /**
   * A split section joined with the new bytes (a copy only in that case). Sections end in the new
   * bytes, so `off + end - prior` is where the rest of `buf` starts.
   */
  private joined(buf: Buffer, off: number): Buffer {
    if (this.partial === null) return off === 0 ? buf : buf.subarray(off);
    const all = Buffer.concat([this.partial, buf.subarray(off)]);
    this.partial = null;
    return all;
  }

  /** Where the section held in `all` ends, or -1 after keeping it for the next read (bounded). */
  private sectionEnd(all: Buffer): number {
    const end = findSectionEnd(all, 0, this.scanFrom);
    if (end >= 0) {
      this.scanFrom = 0;
      return end;
    }
    if (all.length > this.limits.maxHeadBytes) throw new LeanError('UND_ERR_HEADERS_OVERFLOW', 'Headers Overflow Error');
    this.partial = all;
    this.scanFrom = Math.max(0, all.length - 3);
    return -1;
  }

  private head(buf: Buffer, off: number): number {
    if (this.partial === null) {
      // Empty lines before a status line are skipped, as undici does (RFC 9112 §2.2).
      while (off < buf.length && (buf[off] === 13 || buf[off] === 10)) off++;
      if (off === buf.length) return off;
    }
    const prior = this.partial?.length ?? 0;
    const all = this.joined(buf, off);
    const end = this.sectionEnd(all);
    if (end < 0) return buf.length;
    if (end > this.limits.maxHeadBytes) throw new LeanError('UND_ERR_HEADERS_OVERFLOW', 'Headers Overflow Error');
    const head = parseHead(all, end, this.limits);
    const used = off + end - prior; // bytes of `buf` the head took
    const status = head.status;
    if (status < 200) {
      if (status === 100) throw socketError('bad response');
      if (status === 101) {
        if (!this.upgrade) throw socketError('bad upgrade');
        this.state = S.Upgraded;
        this.sink.onUpgrade(head, all.subarray(end));
        return buf.length;
      }
      // As undici: an informational answer that closes the connection (HTTP/1.0 without
      // keep-alive, or Connection: close) leaves no room for the final one.
      if (head.close) throw protocolError('HPE_INVALID_CONSTANT', 'Data after `Connection: close`');
      this.sink.onInfo(head);
      return used;
    }
    this.close ||= head.close;
    // As undici: a 204 or 304 (to anything but HEAD) that announces a body length is refused.
    if (!this.noBody && (status === 204 || status === 304) && head.contentLength > 0) throw new LeanError('UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'Response body object length does not match content-length header');
    if (this.noBody || status === 204 || status === 304) this.state = S.Ending;
    else if (head.chunked) this.state = S.ChunkSize;
    else if (head.contentLength >= 0) {
      this.left = head.contentLength;
      this.state = this.left === 0 ? S.Ending : S.Length;
    } else {
      this.close = true;
      this.state = S.UntilClose;
    }
    if (this.upgrade) this.close = true;
    if (!this.sink.onHead(head)) this.paused = true;
    return used;
  }

  private body(buf: Buffer, off: number): number {
    const avail = buf.length - off;
    const until = this.state === S.UntilClose;
    const n = until ? avail : Math.min(this.left, avail);
    const slice = n === buf.length ? buf : buf.subarray(off, off + n);
    if (!until) {
      this.left -= n;
      if (this.left === 0) this.state = this.state === S.Length ? S.Ending : S.ChunkEnd;
      if (this.state === S.ChunkEnd) this.crlf = 0;
    }
    if (!this.sink.onBody(slice)) this.paused = true;
    return off + n;
  }

  private chunkSize(buf: Buffer, off: number): number {
    const prior = this.partial?.length ?? 0;
    const all = this.joined(buf, off);
    const lf = all.indexOf(10, prior);
    if (lf < 0) {
      if (all.length > this.limits.maxChunkLine) throw protocolError('HPE_INVALID_CHUNK_SIZE', 'chunk-size line too long');
      this.partial = all;
      return buf.length;
    }
    if (lf > this.limits.maxChunkLine) throw protocolError('HPE_INVALID_CHUNK_SIZE', 'chunk-size line too long');
    if (lf === 0 || all[lf - 1] !== 13) throw protocolError('HPE_INVALID_CONSTANT', 'bare LF');
    const line = all.toString('latin1', 0, lf - 1);
    const semi = line.indexOf(';');
    const size = semi < 0 ? line : line.slice(0, semi);
    if (!HEX.test(size) || (semi >= 0 && (!CHUNK_EXT.test(line.slice(semi)) || EXT_TRAILING_SEMI.test(line)))) throw protocolError('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size');
    this.left = parseInt(size, 16);
    this.state = this.left === 0 ? S.Trailers : S.ChunkData;
    return off + lf + 1 - prior;
  }

  private chunkEnd(buf: Buffer, off: number): number {
    while (off < buf.length && this.crlf < 2) {
      if (buf[off] !== (this.crlf === 0 ? 13 : 10)) throw protocolError('HPE_INVALID_CONSTANT', 'missing CRLF after chunk data');
      this.crlf++;
      off++;
    }
    if (this.crlf === 2) this.state = S.ChunkSize;
    return off;
  }

  private trailerSection(buf: Buffer, off: number): number {
    const prior = this.partial?.length ?? 0;
    const all = this.joined(buf, off);
    const end = this.sectionEnd(all);
    if (end < 0) return buf.length;
    this.trailers = parseFieldLines(all.toString('latin1', 0, end), 0, this.limits);
    this.state = S.Ending;
    return off + end - prior;
  }
}
