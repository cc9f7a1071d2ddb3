import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { UpstreamPool } from '../../src/upstream/pool-factory.js';

/** What the scripted server does with each connection: answer with these chunks, then close or not. */
export interface Script {
  chunks: Buffer[];
  /** Keep the connection open after the answer (the client must find the end itself). */
  keepOpen?: boolean;
}

/**
 * A raw TCP server that waits for a request head on each connection, then writes the current
 * script's chunks one event-loop turn apart (so they tend to arrive as separate reads) and closes
 * (unless `keepOpen`). `connections` counts accepted sockets.
 */
export class ScriptedUpstream {
  script: Script = { chunks: [] };
  connections = 0;
  readonly sockets = new Set<Socket>();
  private readonly server: Server;

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(): Promise<ScriptedUpstream> {
    const up = new ScriptedUpstream(createServer());
    up.server.on('connection', (s) => up.accept(s));
    await new Promise<void>((resolve) => up.server.listen(0, '127.0.0.1', resolve));
    return up;
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private accept(socket: Socket): void {
    this.connections++;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
    const script = this.script;
    let seen = '';
    const onData = (d: Buffer) => {
      seen += d.toString('latin1');
      if (!seen.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      void this.answer(socket, script);
    };
    socket.on('data', onData);
  }

  private async answer(socket: Socket, script: Script): Promise<void> {
    for (const chunk of script.chunks) {
      if (socket.destroyed) return;
      socket.write(chunk);
      await new Promise((r) => setImmediate(r));
    }
    if (!script.keepOpen) socket.end();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** What a client made of an answer: the final answer with its parts, or a refusal. */
export type Verdict = { accepted: true; infos: number[]; status: number; headers: string[]; body: string; trailers: string[] } | { accepted: false; code: string };

/** Send one GET through `pool` and record what the legacy handler callbacks reported. */
export function verdictOf(pool: UpstreamPool, timeouts: { headersTimeout: number; bodyTimeout: number }): Promise<Verdict> {
  return new Promise((resolve) => {
    const infos: number[] = [];
    let status = 0;
    let headers: string[] = [];
    const body: Buffer[] = [];
    pool.dispatch(
      { path: '/', method: 'GET', headers: ['host', 'upstream.test'], body: null, ...timeouts },
      {
        onConnect: () => undefined,
        onHeaders: (s: number, raw: Buffer[]) => {
          if (s < 200) infos.push(s);
          else {
            status = s;
            headers = raw.map((b) => b.toString('latin1'));
          }
          return true;
        },
        onData: (chunk: Buffer) => {
          body.push(Buffer.from(chunk));
          return true;
        },
        onComplete: (trailers: (Buffer | string)[] | null) => resolve({ accepted: true, infos, status, headers, body: Buffer.concat(body).toString('latin1'), trailers: (trailers ?? []).map((t) => t.toString('latin1')) }),
        onError: (err: Error) => resolve({ accepted: false, code: (err as { code?: string }).code ?? err.message }),
      },
    );
  });
}
