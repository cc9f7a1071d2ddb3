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

/** A row of FAB's user table: users created by a remote-user or airgate login have no password. */
export interface SimUser {
  password?: string;
  role: string;
  email?: string;
  active?: boolean;
}

export class AirflowState {
  readonly dags = new Map<string, { dag_id: string; is_paused: boolean; owners: string[] }>();
  readonly runs = new Map<string, DagRun>();
  readonly users = new Map<string, SimUser>([
    ['admin', { password: 'admin', role: 'Admin', email: 'admin@example.org' }],
    ['viewer', { password: 'viewer', role: 'Viewer', email: 'viewer@example.org' }],
  ]);

  constructor(dagIds: string[] = ['example_etl', 'team_a_etl', 'team_b_report']) {
    for (const id of dagIds) this.dags.set(id, { dag_id: id, is_paused: false, owners: ['airflow'] });
  }
}
