import { PeerwardenError } from './errors.js'

/**
 * Structured logs for the node, the mesh and the command line.
 *
 * The interface is the one pino exposes (`logger.info({ peer }, 'connected')` or
 * `logger.info('listening')`), so a pino logger, or anything shaped like one, can be passed as is.
 * The library is silent by default: nothing is logged unless a `logger` is given.
 *
 * The levels, lowest first; `'silent'` writes nothing.
 */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'

/** One logging method: an optional object of fields first (pino's order), then the message. */
export interface LogFn {
  (fields: Record<string, unknown>, message?: string): void
  (message: string): void
}

/** A pino-compatible logger: the four levels the library writes at, and `child` for fields of a component. */
export interface Logger {
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
  /** A logger whose lines carry `bindings` too (pino's child loggers). */
  child?: (bindings: Record<string, unknown>) => Logger
}

const LEVELS: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity }

/** Whether `value` names a log level. */
export function isLogLevel (value: unknown): value is LogLevel {
  return typeof value === 'string' && Object.hasOwn(LEVELS, value)
}

const ignore: LogFn = () => {}

/** The logger that writes nothing: the library's default. */
export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore, child: () => silentLogger }

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  /** The lowest level written; default `'info'`. */
  level?: LogLevel
  /** Fields every line carries (e.g. `{ component: 'node' }`). */
  bindings?: Record<string, unknown>
  /** Where a line goes; default standard error. */
  write?: (line: string) => void
  /** `'json'` (one JSON object a line, as pino writes) or `'pretty'` (time, level, message, fields); default `'pretty'`. */
  format?: 'json' | 'pretty'
  /** The time a line carries; default `Date.now`. */
  now?: () => number
  /** How the pretty format writes the time; default ISO 8601 in UTC (`2026-01-01T12:00:00.000Z`). */
  time?: (ms: number) => string
}

/**
 * A small logger for the command line and for users without pino: levels, fields, JSON or readable
 * lines. Library code takes any {@link Logger}; this is only one of them.
 */
export function createLogger (options: CreateLoggerOptions = {}): Logger {
  const threshold = LEVELS[options.level ?? 'info']
  const write = options.write ?? ((line: string) => { process.stderr.write(line + '\n') })
  const now = options.now ?? Date.now
  const bindings = options.bindings ?? {}
  const format = options.format ?? 'pretty'
  const time = options.time ?? ((ms: number) => new Date(ms).toISOString())
  const method = (level: Exclude<LogLevel, 'silent' | 'trace' | 'fatal'>): LogFn => {
    if (LEVELS[level] < threshold) return ignore
    return ((first: Record<string, unknown> | string, message?: string) => {
      const fields = typeof first === 'string' ? {} : first
      const text = typeof first === 'string' ? first : message ?? ''
      const at = now()
      if (format === 'json') {
        write(JSON.stringify({ level: LEVELS[level], time: at, ...bindings, ...fields, msg: text }, jsonSafe))
        return
      }
      const all = { ...bindings, ...fields }
      const extra = Object.keys(all).map((key) => `${key}=${formatValue(all[key])}`).join(' ')
      write(`${time(at)} ${level.toUpperCase().padEnd(5)} ${text}${extra === '' ? '' : ' ' + extra}`)
    }) as LogFn
  }
  return {
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    child: (more) => createLogger({ ...options, bindings: { ...bindings, ...more } })
  }
}

function jsonSafe (_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex')
  if (value instanceof Error) return { message: value.message, code: (value as { code?: unknown }).code }
  return value
}

function formatValue (value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message)
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex')
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value
  return JSON.stringify(value, jsonSafe) ?? String(value)
}

/** A child of `logger` with `bindings`, or the logger itself when it has no `child`. */
export function childOf (logger: Logger, bindings: Record<string, unknown>): Logger {
  return logger.child?.(bindings) ?? logger
}

/**
 * The level the environment asks for, the way libp2p users set it: `DEBUG=peerwarden:*` (or
 * `DEBUG=peerwarden`, or a list containing either) means `'debug'`; otherwise `PEERWARDEN_LOG_LEVEL`
 * if it names a level; otherwise `undefined`.
 */
export function levelFromEnv (env: Record<string, string | undefined> = process.env): LogLevel | undefined {
  const debug = env.DEBUG ?? ''
  if (debug.split(/[\s,]+/).some((name) => name === '*' || name === 'peerwarden' || name.startsWith('peerwarden:'))) return 'debug'
  const level = env.PEERWARDEN_LOG_LEVEL
  return isLogLevel(level) ? level : undefined
}

/** `value` as a {@link Logger}; throws `ERR_INVALID_ARGUMENT` naming `name` when it lacks a level method. */
export function checkLogger (name: string, value: unknown): Logger {
  const v = value as Partial<Record<'debug' | 'info' | 'warn' | 'error', unknown>> | null
  if (v == null || typeof v !== 'object' || (['debug', 'info', 'warn', 'error'] as const).some((level) => typeof v[level] !== 'function')) {
    throw PeerwardenError.invalid(`${name} must be a logger with debug, info, warn and error methods (pino, or createLogger())`)
  }
  return value as Logger
}
