/** The simulated Airflow's data: DAGs, runs, users, shared by the nodes of one simulated cluster. */
export interface DagRun {
  dag_id: string;
  dag_run_id: string;
  logical_date: string | null;
  state: string;
  conf: Record<string, unknown>;
  note: string | null;
  triggered_by: string;
}

export class AirflowState {
  readonly dags = new Map<string, { dag_id: string; is_paused: boolean; owners: string[] }>();
  readonly runs = new Map<string, DagRun>();
  readonly users = new Map<string, { password: string; role: string }>([
    ['admin', { password: 'admin', role: 'Admin' }],
    ['viewer', { password: 'viewer', role: 'Viewer' }],
  ]);

  constructor(dagIds: string[] = ['example_etl', 'team_a_etl', 'team_b_report']) {
    for (const id of dagIds) this.dags.set(id, { dag_id: id, is_paused: false, owners: ['airflow'] });
  }
}
