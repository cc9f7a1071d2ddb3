import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

/** Read a file under `root` (the real `/`, or a directory of fixture files in tests); undefined when absent. */
function reader(root: string): (path: string) => string | undefined {
  return (path) => {
    try {
      return readFileSync(join(root, path), 'utf8');
    } catch {
      return undefined;
    }
  };
}

/**
 * The CPUs this process may use under a cgroup CPU limit (a Kubernetes `limits.cpu`, `docker
 * --cpus`), or undefined with no limit. cgroup v2: `cpu.max` ("200000 100000", or "max 100000")
 * of the process's cgroup and each parent; cgroup v1: `cpu.cfs_quota_us` / `cpu.cfs_period_us`
 * of the `cpu` controller. The tightest limit on the path wins; a fraction rounds down (1.5 CPUs
 * run one worker, never less than one), as Go's automaxprocs does.
 */
export function cgroupCpuLimit(root = '/'): number | undefined {
  const read = reader(root);
  const self = read('proc/self/cgroup');
  if (self === undefined) return undefined;
  let best: number | undefined;
  const keep = (quota: number, period: number) => {
    if (!(quota > 0 && period > 0)) return;
    const cpus = quota / period;
    if (best === undefined || cpus < best) best = cpus;
  };
  for (const line of self.split('\n')) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line.trim()) ?? [];
    if (path === undefined) continue;
    if (controllers === '') {
      // cgroup v2 (unified): /sys/fs/cgroup/<path>/cpu.max, up to the root.
      for (const dir of ancestors(path)) {
        const [quota, period] = (read(join('sys/fs/cgroup', dir, 'cpu.max')) ?? '').trim().split(/\s+/);
        if (quota && quota !== 'max') keep(Number(quota), Number(period));
      }
    } else if (controllers!.split(',').includes('cpu')) {
      // cgroup v1: the cpu controller's mount is named after its controllers (cpu,cpuacct) or "cpu".
      for (const mount of [controllers!, 'cpu', 'cpu,cpuacct']) {
        for (const dir of ancestors(path)) {
          const quota = read(join('sys/fs/cgroup', mount, dir, 'cpu.cfs_quota_us'));
          const period = read(join('sys/fs/cgroup', mount, dir, 'cpu.cfs_period_us'));
          if (quota !== undefined && period !== undefined) keep(Number(quota.trim()), Number(period.trim()));
        }
      }
    }
  }
  return best === undefined ? undefined : Math.max(1, Math.floor(best));
}

/** `/a/b` → `/a/b`, `/a`, `/` (a container often sees its own cgroup as `/`). */
function ancestors(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  return parts.map((_, i) => `/${parts.slice(0, parts.length - i).join('/')}`).concat('/');
}

/** `workers: auto`: one per CPU this process may use: the cgroup limit when there is one, else the CPUs the OS offers. */
export function autoWorkers(root = '/', cpus = availableParallelism()): number {
  const limit = cgroupCpuLimit(root);
  return limit === undefined ? cpus : Math.min(cpus, limit);
}
