/** What one Airflow health body says about the shared components. */
export interface AirflowComponents {
  metadatabase: boolean;
  scheduler: boolean;
}

export type BodyVerdict = { ok: true; components: AirflowComponents } | { ok: false; reason: string };

/**
 * Read Airflow's health JSON (`/health` on Airflow 2, `/api/v2/monitor/health` on 3). The status
 * code is always 200; the state is in `metadatabase.status` and `scheduler.status`.
 */
export function readAirflowHealth(text: string): BodyVerdict {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'health body is not JSON' };
  }
  const b = body as { metadatabase?: { status?: unknown }; scheduler?: { status?: unknown } } | null;
  if (!b || typeof b !== 'object' || !b.metadatabase || !b.scheduler) return { ok: false, reason: 'health body lacks metadatabase/scheduler' };
  return { ok: true, components: { metadatabase: b.metadatabase.status === 'healthy', scheduler: b.scheduler.status === 'healthy' } };
}

/** The value at a dotted path of a JSON document (`a.b.c`). */
export function jsonPath(doc: unknown, path: string): unknown {
  let v = doc;
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}
