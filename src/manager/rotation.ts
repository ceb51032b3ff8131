import { Alarm } from '../clock.js'
import type { ConnEntry, PeerRecord } from './peer-record.js'
import type { Clock } from './types.js'

export interface RotationHost {
  readonly clock: Clock
  running(): boolean
  lifetime(): number | undefined
  /** The live connections in opening order (oldest first). */
  connections(): Iterable<ConnEntry>
  /** Closes the connection with reason 'lifetime'. */
  rotate(entry: ConnEntry, why: string): void
}

/** Rotation never touches long-term, permanent or protected peers. */
export function rotatable (r: PeerRecord): boolean {
  return !r.longTerm && !r.permanent && !r.isProtected
}

/**
 * Lifetime rotation (the sbot scheduler's connection lifetime).
 *
 * Rules:
 * - A connection that is neither long-term, permanent nor protected is closed ('lifetime') once it is
 *   `lifetime` old; its peer then rests one lifetime (`restAfterClose`).
 * - One shared timer (an `Alarm`) is set for the oldest rotatable connection, only while running.
 */
export class Rotation {
  private readonly alarm: Alarm

  constructor (private readonly host: RotationHost) {
    this.alarm = new Alarm(host.clock, () => { this.rotate() })
  }

  /** Arms the timer if rotation applies and none is armed. */
  schedule (): void {
    const lifetime = this.host.lifetime()
    if (!this.host.running() || lifetime === undefined || this.alarm.armed) return
    // Opening order: the first rotatable connection is the oldest one.
    for (const entry of this.host.connections()) {
      if (!rotatable(entry.record)) continue
      this.alarm.wakeAt(entry.openedAt + lifetime)
      return
    }
  }

  /** Forgets the armed timer (the lifetime changed, or the manager stops). */
  reset (): void {
    this.alarm.cancel()
  }

  private rotate (): void {
    const lifetime = this.host.lifetime()
    if (!this.host.running() || lifetime === undefined) return
    const now = this.host.clock.now()
    for (const entry of [...this.host.connections()]) {
      if (entry.openedAt + lifetime > now) break
      if (rotatable(entry.record)) this.host.rotate(entry, `connected for ${now - entry.openedAt} ms >= lifetime ${lifetime} ms: rotated out for diversity`)
    }
    this.schedule()
  }
}
