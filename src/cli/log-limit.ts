import type { LogFn, Logger } from '../logger.js'
import type { Clock } from '../manager/types.js'

/** A logger that holds back floods, and `close()` to say what it held back and stop its timer. */
export interface LimitedLogger extends Logger {
  /** Writes what is held back now, and stops the timer. */
  close: () => void
}

type Level = 'debug' | 'info' | 'warn' | 'error'

/**
 * Rate-limits the lines of `logger` for a terminal: a flood of failures (a scanner on the port, a
 * peer redialling in a loop) must not flood it.
 *
 * Rules:
 * - Lines are counted per message ('dial failed', 'handshake failed', 'connected'…) in windows of one
 *   second that open with the first line: the first `perSecond` lines of a message in a window are
 *   written, the rest are held back and counted.
 * - When the window ends, one line per message held back says how many: `37 more "handshake failed"
 *   in the last second` (at the highest level among them), written through `logger` like any other.
 *   A window with nothing held back writes nothing more.
 * - One timer at most (on the injected clock), armed only while something is held back; `close()`
 *   writes what is held and disarms it.
 * - Messages counted at once are bounded (`maxMessages`): beyond, further new messages share one
 *   count ('other lines').
 */
export function limitLines (logger: Logger, options: { clock: Clock; perSecond?: number; maxMessages?: number }): LimitedLogger {
  return new LineLimiter(logger, options.clock, options.perSecond ?? 5, options.maxMessages ?? 64).logger
}

const WINDOW = 1000
const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 }

class LineLimiter {
  readonly logger: LimitedLogger
  private windowStart = -Infinity
  private readonly counts = new Map<string, { written: number; held: number; level: Level }>()
  private timer: unknown = undefined

  constructor (private readonly inner: Logger, private readonly clock: Clock, private readonly perSecond: number, private readonly maxMessages: number) {
    this.logger = {
      debug: this.method('debug'),
      info: this.method('info'),
      warn: this.method('warn'),
      error: this.method('error'),
      close: () => { this.flush() }
    }
  }

  private method (level: Level): LogFn {
    return ((first: Record<string, unknown> | string, message?: string) => {
      const text = typeof first === 'string' ? first : message ?? ''
      if (!this.admit(level, text)) return
      if (typeof first === 'string') this.inner[level](first)
      else this.inner[level](first, message)
    }) as LogFn
  }

  /** Whether a line of `message` may be written now; counts it either way. */
  private admit (level: Level, message: string): boolean {
    const now = this.clock.now()
    if (now - this.windowStart >= WINDOW) {
      this.flush()
      this.windowStart = now
    }
    const key = this.counts.has(message) || this.counts.size < this.maxMessages ? message : 'other lines'
    let c = this.counts.get(key)
    if (c === undefined) this.counts.set(key, c = { written: 0, held: 0, level })
    if (c.written < this.perSecond) {
      c.written++
      return true
    }
    c.held++
    if (RANK[level] > RANK[c.level]) c.level = level
    if (this.timer === undefined) this.timer = this.clock.setTimeout(() => { this.timer = undefined; this.flush() }, this.windowStart + WINDOW - now)
    return false
  }

  /** Says what was held back in the window, and closes it. */
  private flush (): void {
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer)
      this.timer = undefined
    }
    const held = [...this.counts].filter(([, c]) => c.held > 0)
    this.counts.clear()
    this.windowStart = -Infinity
    for (const [message, c] of held) this.inner[c.level](`${c.held} more ${JSON.stringify(message)} in the last second`)
  }
}
