import type { Command } from './schema.js'

/**
 * The caller side's figures per command and instance: attempts, outcomes by code, latency histogram,
 * in flight. `mesh.stats().commands` shows them; prometheus.ts exports them.
 *
 * Rules:
 * - One entry per command and instance (variant); each attempt of a call counts on the instance it
 *   went to. An outcome is 'OK' or an error code (retry.ts's `metricCode`: never a peer's string).
 * - Latency is from send to settle on the injected clock, in seconds, in the fixed buckets
 *   `LATENCY_BUCKETS` (Prometheus' defaults, plus 1 ms and 2.5 ms).
 * - Budget: at most `MAX_INSTANCES` (256) instances per command; past it, the oldest entry with no
 *   call in flight gives way (variants come and go across restarts).
 */
export const LATENCY_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** The same bounds in ms, as the clock gives them (written out: 0.0025 * 1000 is not 2.5 in floating point). */
const BUCKETS_MS: readonly number[] = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000]
export const MAX_INSTANCES = 256

/** One command on one instance, as `stats()` gives it. */
export interface CommandFigures {
  role: string
  command: string
  /** The instance's variant. */
  instance: string
  /** Attempts that ended (answered, failed, timed out). */
  calls: number
  /** Ended attempts by outcome: 'OK' or an error code. */
  outcomes: Record<string, number>
  /** Attempts in flight now. */
  inFlight: number
  /** Latency histogram: `counts[i]` attempts took at most `buckets[i]` seconds and more than the bucket before; the last count is over the last bucket. `sum` in seconds. */
  latency: { buckets: readonly number[]; counts: number[]; sum: number; count: number }
}

/** The running figures of one command on one instance. */
export class Figures {
  calls = 0
  inFlight = 0
  sum = 0
  /** Outcome 'OK' (most of them: a field, not a Map entry), and the others by code. */
  ok = 0
  readonly outcomes = new Map<string, number>()
  readonly counts: number[] = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0)
}

/** The figures of every command this node calls, by instance. */
export class CallMetrics {
  private readonly byCommand = new Map<Command, Map<string, Figures>>()
  // The entry of the last attempt: calls in a row to one command and instance skip both lookups.
  private lastCommand: Command | undefined
  private lastVariant = ''
  private last: Figures | undefined

  /** An attempt of `command` to instance `variant` starts: its figures (end it with `end`). */
  start (command: Command, variant: string): Figures {
    if (command === this.lastCommand && variant === this.lastVariant) {
      this.last!.inFlight++
      return this.last!
    }
    let instances = this.byCommand.get(command)
    if (instances === undefined) this.byCommand.set(command, instances = new Map())
    let f = instances.get(variant)
    if (f === undefined) {
      if (instances.size >= MAX_INSTANCES) {
        for (const [k, old] of instances) if (old.inFlight === 0) { instances.delete(k); break }
        // The cached entry may be the one that went.
        this.lastCommand = undefined
      }
      instances.set(variant, f = new Figures())
    }
    this.lastCommand = command
    this.lastVariant = variant
    this.last = f
    f.inFlight++
    return f
  }

  /** That attempt ended after `ms`, with `outcome` ('OK' or an error code). */
  end (f: Figures, ms: number, outcome: string): void {
    f.inFlight--
    f.calls++
    if (outcome === 'OK') f.ok++
    else f.outcomes.set(outcome, (f.outcomes.get(outcome) ?? 0) + 1)
    const t = ms > 0 ? ms : 0
    f.sum += t / 1000
    let i = 0
    while (i < BUCKETS_MS.length && t > BUCKETS_MS[i]) i++
    f.counts[i]++
  }

  /** A copy of every entry. */
  figures (): CommandFigures[] {
    const out: CommandFigures[] = []
    for (const [command, instances] of this.byCommand) {
      for (const [instance, f] of instances) {
        out.push({
          role: command.role,
          command: command.name,
          instance,
          calls: f.calls,
          outcomes: { ...(f.ok > 0 ? { OK: f.ok } : {}), ...Object.fromEntries(f.outcomes) },
          inFlight: f.inFlight,
          latency: { buckets: LATENCY_BUCKETS, counts: [...f.counts], sum: f.sum, count: f.calls }
        })
      }
    }
    return out
  }
}
