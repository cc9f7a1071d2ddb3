import { readFileSync } from 'node:fs';
import { isAbsolute, resolve, dirname } from 'node:path';

export interface SecretFileProblem {
  path: (string | number)[];
  message: string;
}

/**
 * Resolve every `<key>_file: PATH` into `<key>: <file contents>` (trailing newline removed),
 * so secrets can live in files mounted by the platform. Relative paths are taken from the
 * config file's folder. Giving both `<key>` and `<key>_file` is an error.
 */
export function resolveSecretFiles(value: unknown, configFile: string, path: (string | number)[] = [], problems: SecretFileProblem[] = []): SecretFileProblem[] {
  if (Array.isArray(value)) {
    value.forEach((item, i) => resolveSecretFiles(item, configFile, [...path, i], problems));
  } else if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      const child = obj[key];
      if (key.endsWith('_file') && key.length > 5 && typeof child === 'string') {
        const base = key.slice(0, -5);
        if (base in obj) {
          problems.push({ path: [...path, key], message: `give either ${base} or ${key}, not both` });
          continue;
        }
        const file = isAbsolute(child) ? child : resolve(dirname(configFile), child);
        try {
          obj[base] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
          delete obj[key];
        } catch (err) {
          problems.push({ path: [...path, key], message: `cannot read secret file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` });
        }
      } else {
        resolveSecretFiles(child, configFile, [...path, key], problems);
      }
    }
  }
  return problems;
}
