/**
 * The progress of `peerwarden simulate` on standard error: a bar redrawn in place on a terminal, a
 * plain line every few seconds otherwise (a CI log, a file).
 *
 * Rules:
 * - What it says: virtual minutes done of the total (seconds within the first minute, to the ms within
 *   the first second), the share done, events per wall second (the managers' dials, connections and
 *   trims, averaged since the start), and the time left at that pace
 *   once `MIN_SHARE_FOR_ETA` of the run is done ('?' before).
 * - A terminal gets at most one redraw every `redraw` ms (default 100), as one line that `\r` rewrites;
 *   `done()` clears it, so the table and the summary are left as they were.
 * - Anything else gets one line every `every` ms (default 5000), and nothing from `done()`.
 * - Time comes from `now` (injected): the tests run it on a fake clock.
 */
export interface ProgressOptions {
  /** Where the text goes (standard error's `write`). */
  write: (text: string) => void
  /** A terminal: redraw one line in place. */
  tty: boolean
  /** Wall time in ms. */
  now: () => number
  /** Columns of the bar. Default 24. */
  width?: number
  /** Ms between two plain lines when not a terminal. Default 5000. */
  every?: number
  /** Ms between two redraws on a terminal. Default 100. */
  redraw?: number
}

/** What one update says. */
export interface ProgressFigures {
  /** Virtual ms done and to do in all. */
  done: number
  total: number
  /** Events so far. */
  events: number
  /** Wall ms since the start. */
  elapsed: number
}

/** Reports the progress of a run (see the file's comment). */
export class Progress {
  private readonly start: number
  private last = -Infinity
  private drawn = 0

  constructor (private readonly options: ProgressOptions) {
    this.start = options.now()
  }

  /** Virtual `done` of `total` ms, with `events` so far: written if it is time to. */
  update (done: number, total: number, events: number): void {
    const now = this.options.now()
    const { tty } = this.options
    if (now - this.last < (tty ? this.options.redraw ?? 100 : this.options.every ?? 5000)) return
    this.last = now
    const text = progressText({ done, total, events, elapsed: now - this.start }, tty ? this.options.width ?? 24 : 0)
    if (tty) {
      this.options.write('\r' + text.padEnd(this.drawn))
      this.drawn = text.length
    } else {
      this.options.write(text + '\n')
    }
  }

  /** Clears the bar on a terminal. */
  done (): void {
    if (this.options.tty && this.drawn > 0) this.options.write('\r' + ' '.repeat(this.drawn) + '\r')
    this.drawn = 0
  }
}

/** The share of the run done before an ETA is told ('?' until then). */
export const MIN_SHARE_FOR_ETA = 0.02

/** One progress line: a bar of `width` columns (none when 0), minutes, share, events/s and ETA. */
export function progressText (f: ProgressFigures, width: number): string {
  const share = f.total > 0 ? Math.min(1, f.done / f.total) : 1
  const full = Math.round(share * width)
  const bar = width > 0 ? `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ` : ''
  const perSecond = f.elapsed > 0 ? f.events / (f.elapsed / 1000) : 0
  // Before 2 % of the run the pace says nothing: the first virtual second (every node bootstrapping at
  // once) costs far more wall time than any later one, and 100,000 nodes printed an ETA of 172 hours.
  const eta = f.done > 0 && f.done >= f.total * MIN_SHARE_FOR_ETA ? f.elapsed / f.done * (f.total - f.done) : Infinity
  // Within the first virtual minute, virtual seconds: 100,000 nodes spend minutes of wall time there,
  // the first ~5 of them within the first 0.1 s (every node bootstrapping at once): milliseconds there.
  const done = f.done < 1_000 ? `${(f.done / 1000).toFixed(3)} s` : f.done < 60_000 ? `${(f.done / 1000).toFixed(1)} s` : (f.done / 60_000).toFixed(1)
  return `${bar}${done}/${(f.total / 60_000).toFixed(0)} virtual min (${Math.floor(share * 100)}%) · ${Math.round(perSecond).toLocaleString('en-US')} events/s · ETA ${duration(eta)}`
}

/** '1:05' (m:ss), '1:02:03' past an hour, '?' when not known yet. */
function duration (ms: number): string {
  if (!Number.isFinite(ms)) return '?'
  const s = Math.round(ms / 1000)
  const two = (n: number): string => String(n).padStart(2, '0')
  return s >= 3600 ? `${Math.floor(s / 3600)}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}` : `${Math.floor(s / 60)}:${two(s % 60)}`
}
