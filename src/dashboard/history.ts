/**
 * What the dashboard remembers, so a page opened late shows the last minutes: figures sampled every
 * interval and the recent events, each in a ring of fixed size.
 *
 * Rules:
 * - Bounded: `samples` (default 600: ten minutes at one a second) and `events` (default 500) entries
 *   at most; the oldest go first. Nothing else grows.
 * - A sample is a time and named numbers (`{ at, connections: 3, … }`); the events counted since the
 *   previous sample (`count(kind)`) go into the next sample as `<kind>` figures and start again at 0,
 *   so a chart of churn reads "closes per interval".
 * - Pure: no timers, no clock; the caller says when (`at`).
 */

/** A fixed-size ring: `push` overwrites the oldest entry once full. */
export class Ring<T> {
  private readonly items: T[] = []
  private start = 0

  constructor (readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be an integer >= 1 (got ${capacity})`)
  }

  get size (): number { return this.items.length }

  push (item: T): void {
    if (this.items.length < this.capacity) { this.items.push(item); return }
    this.items[this.start] = item
    this.start = (this.start + 1) % this.capacity
  }

  /** The entries, oldest first. */
  toArray (): T[] {
    return this.items.slice(this.start).concat(this.items.slice(0, this.start))
  }

  /** The last `n` entries, oldest first. */
  last (n: number): T[] {
    const all = this.toArray()
    return n >= all.length ? all : all.slice(all.length - n)
  }
}

/** One sample: when, and named figures. */
export interface Sample { at: number; [figure: string]: number }

/** One remembered event: when, what, and plain fields (peer, node, reason…). */
export interface LoggedEvent { at: number; type: string; [field: string]: unknown }

/** The sizes of a `History`. */
export interface HistoryOptions {
  /** Samples kept (1 to 100,000). Default 600. */
  samples?: number
  /** Events kept (1 to 100,000). Default 500. */
  events?: number
}

/** The dashboard's memory: a ring of samples, a ring of events, and event counts since the last sample. */
export class History {
  private readonly samples: Ring<Sample>
  private readonly events: Ring<LoggedEvent>
  private counts = new Map<string, number>()

  constructor (options: HistoryOptions = {}) {
    this.samples = new Ring(options.samples ?? 600)
    this.events = new Ring(options.events ?? 500)
  }

  /** Counts one event of `kind` toward the next sample (e.g. 'closed', 'trimmed'). */
  count (kind: string, n = 1): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + n)
  }

  /** Remembers an event (the oldest is dropped past the budget). */
  log (event: LoggedEvent): void { this.events.push(event) }

  /**
   * Records a sample at `at`: `figures` plus the counts since the previous sample (each counted kind
   * seen so far appears, 0 when nothing happened). Returns the sample.
   */
  record (at: number, figures: Record<string, number>): Sample {
    const sample: Sample = { ...figures, at }
    for (const [kind, n] of this.counts) {
      sample[kind] = n
      this.counts.set(kind, 0)
    }
    this.samples.push(sample)
    return sample
  }

  /** Everything remembered, oldest first: what a page gets when it opens. */
  dump (): { samples: Sample[]; events: LoggedEvent[] } {
    return { samples: this.samples.toArray(), events: this.events.toArray() }
  }
}
