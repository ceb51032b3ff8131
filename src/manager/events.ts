import type { Connection, DialFailure, PeerId, Priority } from './types.js'

/** The events on `manager.events`, each a `CustomEvent` whose `detail` is given here. */
export interface ManagerEvents {
  /** A connection was accepted; `peer` now counts as connected. */
  'peer:connected': { peer: PeerId; connection: Connection }
  /**
   * A second connection to a connected peer won the duplicate tie-break and replaced the first (closed
   * with 'duplicate'); the peer never stopped being connected, so no peer:* event fires.
   */
  'connection:replaced': { peer: PeerId; connection: Connection; replaced: Connection }
  /** The peer's last connection went away. */
  'peer:disconnected': { peer: PeerId }
  /** `connected()` refused the connection and closed it; `reason` is the close reason given to it. */
  'connection:refused': { connection: Connection; reason: string }
  /** The manager closed an accepted connection (trimmed, banned, duplicate, lifetime, stopped…). */
  'connection:closed': { connection: Connection; reason: string }
  /** An outbound dial began. */
  'dial:started': { peer?: PeerId; address: string }
  /** An outbound dial failed; the same object is yielded by `errors()`. */
  'dial:failed': DialFailure
  /** A peer's priority changed. */
  'peer:priority': { peer: PeerId; priority: Priority }
  /** The peer store failed to load or to write a batch; the manager goes on without it. */
  'store:error': { error: Error }
  /** A trim closed `closed` peers; `reason` says which rule ran ('watermark', 'limit lowered', 'explicit', 'admission'). */
  'trim': { closed: number; reason: string }
}

/**
 * An EventTarget that knows whether anyone listens, so that the hot paths (connect, disconnect)
 * build no event object when nobody observes them. Listeners are called synchronously; an exception
 * in a listener is reported through `process` 'uncaughtException' semantics of EventTarget and never
 * breaks the manager's bookkeeping.
 */
type Listener = ((event: Event) => void) | { handleEvent(event: Event): void }

export class ManagerEventTarget extends EventTarget {
  private readonly counts = new Map<string, number>()

  override addEventListener (type: string, listener: Listener, options?: boolean | { once?: boolean; passive?: boolean; capture?: boolean; signal?: AbortSignal }): void {
    this.counts.set(type, (this.counts.get(type) ?? 0) + 1)
    super.addEventListener(type, listener, options)
  }

  override removeEventListener (type: string, listener: Listener, options?: boolean | { capture?: boolean }): void {
    // Over-counting after a remove of a listener that was never added only costs a wasted event.
    const n = this.counts.get(type) ?? 0
    if (n > 0) this.counts.set(type, n - 1)
    super.removeEventListener(type, listener, options)
  }

  /** True when at least one listener may be registered for `type`. */
  listens (type: keyof ManagerEvents): boolean {
    return (this.counts.get(type) ?? 0) > 0
  }

  emit<K extends keyof ManagerEvents> (type: K, detail: ManagerEvents[K]): void {
    if ((this.counts.get(type) ?? 0) === 0) return
    this.dispatchEvent(new CustomEvent(type, { detail }))
  }
}
