import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Socket } from 'node:net';

/**
 * A real listener that never accepts: python3 listens with backlog 0 and one connection fills the
 * accept queue, so the kernel drops further SYNs and a client's connect attempt hangs until its
 * own timeout. `close()` stops both.
 */
export async function stuckListener(): Promise<{ port: number; close: () => void }> {
  const py = spawn('python3', ['-c', 'import socket,sys\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const filler = new Socket();
  const close = () => {
    filler.destroy();
    py.kill();
  };
  try {
    const port = await new Promise<number>((resolve) => py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    filler.connect(port, '127.0.0.1');
    await once(filler, 'connect');
    return { port, close };
  } catch (err) {
    close();
    throw err;
  }
}
