/**
 * peerwarden — the connection manager (transport-agnostic core).
 * See README.md and docs/manager.md.
 *
 * @module
 */
export * from './manager/index.js'
export { PeerwardenError, type ErrorCode } from './errors.js'
export { systemClock } from './clock.js'
export { createLogger, silentLogger, childOf, levelFromEnv, isLogLevel, type Logger, type LogFn, type LogLevel, type CreateLoggerOptions } from './logger.js'
export { memoryStore } from './store/memory-store.js'
export { sqliteStore } from './store/sqlite-store.js'
