import { spawn } from 'node:child_process';
import type { TestContext } from 'node:test';
import { CLI } from './spawn.js';

/** The environment of this process without an admin token, so only --token counts. */
export function envWithoutToken(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.AIRGATE_ADMIN_TOKEN;
  return env;
}

/** Run the CLI (on the Node running the tests) to completion; kill it if the test ends first. */
export function runCli(t: TestContext, args: string[], env: NodeJS.ProcessEnv = envWithoutToken()): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  // 'close' comes after 'exit' once both pipes are drained.
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}
