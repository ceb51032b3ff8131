import { PeerwardenError } from '../errors.js'
import { createLogger, isLogLevel, silentLogger, type Logger, type LogLevel } from '../logger.js'

/**
 * The logger of a mesh node or a registry, from its options: `logger` as given (it must have debug,
 * info, warn and error), else `createLogger({ level: logLevel })` (standard error), else silence.
 * Both at once, a logger without those methods or an unknown level is ERR_INVALID_ARGUMENT.
 */
export function loggerOption (options: { logger?: Logger; logLevel?: LogLevel }): Logger {
  const { logger, logLevel } = options
  if (logger !== undefined && logLevel !== undefined) throw PeerwardenError.invalid('give logger or logLevel, not both (set the level on your logger)')
  if (logger !== undefined) {
    const l = logger as Partial<Logger> | null
    if (l == null || typeof l.debug !== 'function' || typeof l.info !== 'function' || typeof l.warn !== 'function' || typeof l.error !== 'function') {
      throw PeerwardenError.invalid('logger must have debug, info, warn and error methods (a pino logger does)')
    }
    return logger
  }
  if (logLevel !== undefined) {
    if (!isLogLevel(logLevel)) throw PeerwardenError.invalid(`logLevel must be one of trace, debug, info, warn, error, fatal, silent (got ${JSON.stringify(logLevel)})`)
    return createLogger({ level: logLevel })
  }
  return silentLogger
}
