/** Fault switches of one simulated node, settable at run time (in process, or POST /_sim/faults). */
export interface Faults {
  /** Accept requests and never answer them (a hung gunicorn worker). */
  hang: boolean;
  /** Delay every answer by this many milliseconds. */
  slowMs: number;
  /** Answer every request with 500. */
  error500: boolean;
  /** Answer every request with 503 (an overloaded or restarting server). */
  unavailable: boolean;
  /** Reset the connection as soon as a request arrives. */
  reset: boolean;
  schedulerUnhealthy: boolean;
  metadbUnhealthy: boolean;
}

export const NO_FAULTS: Readonly<Faults> = Object.freeze({ hang: false, slowMs: 0, error500: false, unavailable: false, reset: false, schedulerUnhealthy: false, metadbUnhealthy: false });

/** Apply a partial update from JSON, ignoring unknown keys and wrong types. */
export function mergeFaults(current: Faults, update: unknown): Faults {
  const next = { ...current };
  if (update && typeof update === 'object') {
    for (const [k, v] of Object.entries(update)) {
      if (!(k in NO_FAULTS)) continue;
      if (typeof v === typeof NO_FAULTS[k as keyof Faults]) (next as Record<string, unknown>)[k] = v;
    }
  }
  return next;
}
