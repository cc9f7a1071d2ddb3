/** Airflow's heartbeat format: ISO-8601 with a `T`, microseconds and `+00:00`. */
export function airflowTimestamp(date: Date): string {
  return date.toISOString().replace('Z', '000+00:00');
}

export interface HealthFaults {
  schedulerUnhealthy: boolean;
  metadbUnhealthy: boolean;
}

/**
 * The body of `/health` (Airflow 2) and `/api/v2/monitor/health` (Airflow 3): always served
 * with status 200; the state is in the body. A DB failure makes every component unhealthy,
 * dag_processor included: each job query fails and its status stays UNHEALTHY
 * (airflow/api/common/airflow_health.py get_airflow_health).
 */
export function healthBody(f: HealthFaults, now: Date): Record<string, unknown> {
  if (f.metadbUnhealthy) {
    return {
      metadatabase: { status: 'unhealthy' },
      scheduler: { status: 'unhealthy', latest_scheduler_heartbeat: null },
      triggerer: { status: 'unhealthy', latest_triggerer_heartbeat: null },
      dag_processor: { status: 'unhealthy', latest_dag_processor_heartbeat: null },
    };
  }
  const stale = new Date(now.getTime() - 95_000);
  const fresh = new Date(now.getTime() - 3_000);
  return {
    metadatabase: { status: 'healthy' },
    scheduler: { status: f.schedulerUnhealthy ? 'unhealthy' : 'healthy', latest_scheduler_heartbeat: airflowTimestamp(f.schedulerUnhealthy ? stale : fresh) },
    triggerer: { status: null, latest_triggerer_heartbeat: null },
    dag_processor: { status: null, latest_dag_processor_heartbeat: null },
  };
}
