import { isIP, type Socket } from 'node:net';

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_MAX = 107;

export type ProxyHeader = { source: string | undefined; rest: Buffer };

/**
 * Parse a PROXY protocol header (v1 text or v2 binary) at the start of `data`. Returns undefined
 * while more bytes are needed, the source address (undefined for LOCAL / UNKNOWN) and the bytes
 * that follow, or throws on a malformed header.
 */
export function parseProxyHeader(data: Buffer): ProxyHeader | undefined {
  if (data.length >= 1 && data[0] === 0x0d) {
    if (data.length < 16) return V2_SIGNATURE.subarray(0, data.length).equals(data.subarray(0, Math.min(data.length, 12))) ? undefined : fail('bad PROXY v2 signature');
    if (!data.subarray(0, 12).equals(V2_SIGNATURE)) fail('bad PROXY v2 signature');
    const verCmd = data[12]!;
    if (verCmd >> 4 !== 2) fail('unsupported PROXY version');
    const family = data[13]!;
    const len = data.readUInt16BE(14);
    if (data.length < 16 + len) return undefined;
    const body = data.subarray(16, 16 + len);
    const rest = data.subarray(16 + len);
    if ((verCmd & 0x0f) === 0) return { source: undefined, rest }; // LOCAL: health check from the balancer itself
    if ((verCmd & 0x0f) !== 1) fail('unsupported PROXY v2 command');
    if (family >> 4 === 1 && body.length >= 12) return { source: `${body[0]}.${body[1]}.${body[2]}.${body[3]}`, rest };
    if (family >> 4 === 2 && body.length >= 36) {
      const parts: string[] = [];
      for (let i = 0; i < 16; i += 2) parts.push(body.readUInt16BE(i).toString(16));
      return { source: compressV6(parts), rest };
    }
    if (family >> 4 === 0) return { source: undefined, rest }; // UNSPEC
    fail('unsupported PROXY v2 address family');
  }
  const end = data.indexOf('\r\n');
  if (end < 0) {
    if (data.length >= V1_MAX || !'PROXY '.startsWith(data.subarray(0, 6).toString('latin1').slice(0, Math.min(6, data.length)))) fail('missing PROXY header');
    return undefined;
  }
  const line = data.subarray(0, end).toString('latin1');
  const rest = data.subarray(end + 2);
  const parts = line.split(' ');
  if (parts[0] !== 'PROXY') fail('missing PROXY header');
  if (parts[1] === 'UNKNOWN') return { source: undefined, rest };
  const family = parts[1] === 'TCP4' ? 4 : parts[1] === 'TCP6' ? 6 : 0;
  // The source becomes the client address (and X-Forwarded-For): only a real address of the stated family.
  if (!family || parts.length !== 6 || isIP(parts[2]!) !== family || isIP(parts[3]!) !== family || !isPort(parts[4]!) || !isPort(parts[5]!)) fail(`malformed PROXY v1 header: ${line}`);
  return { source: parts[2], rest };
}

function isPort(text: string): boolean {
  return /^\d{1,5}$/.test(text) && Number(text) <= 65_535;
}

function fail(message: string): never {
  throw new Error(message);
}

function compressV6(parts: string[]): string {
  const text = parts.join(':');
  const m = /(^|:)0(:0)+(:|$)/.exec(text);
  return m ? `${text.slice(0, m.index)}::${text.slice(m.index + m[0].length)}` : text;
}

/** Read the PROXY header from a new connection, then hand back any bytes after it to the socket. */
export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error('no PROXY header in time')), timeoutMs);
    const done = (err: Error | undefined, source?: string) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
      if (err) reject(err);
      else resolve(source);
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      let parsed: ProxyHeader | undefined;
      try {
        parsed = parseProxyHeader(buf);
      } catch (err) {
        return done(err as Error);
      }
      if (!parsed) return;
      socket.pause();
      if (parsed.rest.length) socket.unshift(parsed.rest);
      done(undefined, parsed.source);
    };
    const onError = (err: Error) => done(err);
    const onEnd = () => done(new Error('connection closed before the PROXY header'));
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onEnd);
  });
}
