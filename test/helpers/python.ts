import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Debian's python3 (with python3-jwt and python3-cryptography), not whatever python3 comes first on PATH. */
export const PYTHON = process.env.AIRGATE_PYTHON ?? '/usr/bin/python3';
/** The Airflow-side Python tests (source tree; the compiled test runs from dist/test/). */
export const PYTHON_TESTS = fileURLToPath(new URL('../../../test/python/', import.meta.url));

/** Run python3 in test/python with the AIRGATE_* environment cleared, plus `env`; the exit code and all output. */
export function runPython(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AIRGATE_')));
  return new Promise((resolve) => {
    execFile(PYTHON, [...args], { cwd: PYTHON_TESTS, env: { ...base, ...env, PYTHONDONTWRITEBYTECODE: '1' }, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}
