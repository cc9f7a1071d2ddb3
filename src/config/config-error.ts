/** One problem found in a configuration file, located as precisely as the file allows. */
export interface ConfigIssue {
  file: string;
  line?: number;
  column?: number;
  /** Dotted key path such as `backends.airflow.servers[0].url`. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  readonly code = 'AIRGATE_ERR_CONFIG';
  readonly issues: readonly ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.line === undefined ? i.file : `${i.file}:${i.line}:${i.column ?? 1}`;
  return i.path ? `${where}: ${i.path}: ${i.message}` : `${where}: ${i.message}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}
