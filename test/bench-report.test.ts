import { test } from 'node:test';
import assert from 'node:assert/strict';
import { medianRounds, type TargetResult } from '../bench/report.js';

function result(target: string, connections: number, cpu: number, rps: number): TargetResult {
  return {
    target,
    description: target,
    measuredProcess: 'p',
    connections,
    requests: rps * 5,
    requestsPerSecond: rps,
    latencyMs: { p50: 0.1, p99: 1 },
    cpuSeconds: (cpu * rps * 5) / 1e6,
    cpuUsPerRequest: cpu,
    upstreamCpuUsPerRequest: 7,
    non2xx3xx: 0,
    socketErrors: { connect: 0, read: 0, write: 0, timeout: 0 },
  };
}

test('bench rounds: each row is the whole round with the median CPU per request, in first-round order', () => {
  const rounds = [
    [result('hello', 64, 15, 60_000), result('hello', 8, 16, 55_000), result('airgate', 64, 40, 25_000)],
    [result('hello', 64, 30, 30_000), result('hello', 8, 14, 58_000), result('airgate', 64, 39, 26_000)],
    [result('hello', 64, 14, 61_000), result('hello', 8, 21, 41_000), result('airgate', 64, 90, 11_000)],
  ].flat();
  const rows = medianRounds(rounds);
  assert.deepEqual(
    rows.map((r) => [r.target, r.connections, r.cpuUsPerRequest, r.requestsPerSecond]),
    [
      ['hello', 64, 15, 60_000],
      ['hello', 8, 16, 55_000],
      ['airgate', 64, 40, 25_000],
    ],
  );
  // Two rounds: the lower of the two; one round: itself.
  assert.equal(medianRounds([result('a', 8, 50, 1), result('a', 8, 20, 2)])[0]!.cpuUsPerRequest, 20);
  assert.equal(medianRounds([result('a', 8, 50, 1)])[0]!.cpuUsPerRequest, 50);
});
