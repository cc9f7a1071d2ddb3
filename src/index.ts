export { Gateway, type GatewayOptions } from './server/gateway.js';
export { loadConfigFile, loadConfigText } from './config/load.js';
export { ConfigError, type ConfigIssue } from './config/config-error.js';
export type { AirgateConfig } from './config/schema.js';
export { ERRORS, GatewayError, type ErrorCode } from './core/errors.js';
