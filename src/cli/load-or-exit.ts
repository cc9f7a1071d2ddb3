import { ConfigError } from '../config/config-error.js';
import { loadConfigFile } from '../config/load.js';
import type { AirgateConfig } from '../config/schema.js';

/** Load a config file; on any problem print every issue (file:line:col: key: message) and exit 1. */
export function loadOrExit(file: string): AirgateConfig {
  try {
    return loadConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`airgate: ${err.issues.length} configuration error${err.issues.length === 1 ? '' : 's'}\n${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
