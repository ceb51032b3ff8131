import { getEventListeners } from 'node:events'
import type { CloseReason, Connection, DialFailure, PeerId, Priority, TrimReason } from './types.js'

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
  'connection:refused': { connection: Connection; reason: CloseReason }
  /** The manager closed an accepted connection (trimmed, banned, duplicate, lifetime, stopped…). */
  'connection:closed': { connection: Connection; reason: CloseReason }
  /** An outbound dial began. */
  'dial:started': { peer?: PeerId; address: string }
  /** An outbound dial failed; the same object is yielded by `errors()`. */
  'dial:failed': DialFailure
  /** A peer's priority changed. */
  'peer:priority': { peer: PeerId; priority: Priority }
  /**
   * An application hook (`prioritise`, `accepted`) threw or answered something it may not: the peer
   * keeps what it had, the call that consulted the hook goes on, and `stats().hookErrors` counts it.
   */
  'hook:error': { hook: 'prioritise' | 'accepted'; peer: PeerId | string; error: Error }
  /** The peer store failed to load or to write a batch; the manager goes on without it. */
  'store:error': { error: Error }
  /** A trim closed `closed` peers (at least one: a trim that closed nobody is no event); `reason` says which rule ran ({@link TrimReason}). */
  'trim': { closed: number; reason: TrimReason }
}

/** A listener of one typed event: receives the `CustomEvent` whose `detail` the event map gives. */
export type TypedListener<T> = ((event: CustomEvent<T>) => void) | { handleEvent (event: CustomEvent<T>): void }

/** Any listener, and the options of `addEventListener` (as node's EventTarget takes them). */
type AnyListener = ((event: Event) => void) | { handleEvent (event: Event): void }
interface AddOptions extends EventListenerOptions { once?: boolean; passive?: boolean; signal?: AbortSignal }

/**
 * An `EventTarget` (the object is a plain one at run time) whose `addEventListener` knows the
 * `detail` of each event in `M`, so that `events.addEventListener('peer:connected', (e) =>
 * e.detail.peer)` type-checks without a cast. Other event names fall back to `Event`.
 */
export interface TypedEventTarget<M> extends EventTarget {
  addEventListener<K extends keyof M & string> (type: K, listener: TypedListener<M[K]>, options?: boolean | AddOptions): void
  addEventListener (type: string, listener: AnyListener, options?: boolean | AddOptions): void
  removeEventListener<K extends keyof M & string> (type: K, listener: TypedListener<M[K]>, options?: boolean | EventListenerOptions): void
  removeEventListener (type: string, listener: AnyListener, options?: boolean | EventListenerOptions): void
}

/**
 * The key of `ManagerEventTarget`'s internal method that adds a direct observer of one event type:
 * called with the event's `detail`, no `CustomEvent` built or dispatched. A simulation of 100,000
 * managers observes millions of dials and connections; each event object and its dispatch through
 * `EventTarget` cost more than what the observer does with it.
 */
export const OBSERVE = Symbol('peerwarden.observe')

/**
 * An EventTarget that knows whether anyone listens, so that the hot paths (connect, disconnect)
 * build no event object when nobody observes them. Listeners are called synchronously; an exception
 * in a listener is reported through `process` 'uncaughtException' semantics of EventTarget and never
 * breaks the manager's bookkeeping.
 *
 * The count of a type is read back from the target after every add and remove (node's
 * `getEventListeners`), so a remove of a listener that was never added, or an add of one already
 * there, cannot make it wrong. A `once` listener that fired, or one whose `signal` aborted, leaves the
 * count high until the type's next add or remove: an event built for nobody, never one missed.
 */
export class ManagerEventTarget extends EventTarget {
  private readonly counts = new Map<string, number>()
  /** Direct observers by type (`OBSERVE`); made on the first. */
  private direct: Map<string, Array<(detail: never) => void>> | undefined = undefined

  override addEventListener (type: string, listener: AnyListener, options?: boolean | AddOptions): void {
    super.addEventListener(type, listener, options)
    this.recount(type)
  }

  override removeEventListener (type: string, listener: AnyListener, options?: boolean | EventListenerOptions): void {
    super.removeEventListener(type, listener, options)
    this.recount(type)
  }

  /** True when at least one listener may be registered for `type`. */
  listens (type: string): boolean {
    return (this.counts.get(type) ?? 0) > 0 || this.direct?.has(type) === true
  }

  /**
   * Internal (the simulation's): calls `observer` with the `detail` of every `type` event from now
   * on, before the listeners, without building an event object; there is no removing it. What an
   * observer throws surfaces as an uncaught exception on a later microtask, as a listener's does,
   * and never breaks the emitting code.
   */
  [OBSERVE]<K extends keyof ManagerEvents> (type: K, observer: (detail: ManagerEvents[K]) => void): void {
    const list = (this.direct ??= new Map()).get(type)
    if (list === undefined) this.direct.set(type, [observer])
    else list.push(observer)
  }

  emit<K extends keyof ManagerEvents> (type: K, detail: ManagerEvents[K]): void {
    const direct = this.direct?.get(type) as Array<(detail: ManagerEvents[K]) => void> | undefined
    if (direct !== undefined) {
      for (let i = 0; i < direct.length; i++) {
        try { direct[i](detail) } catch (err) { queueMicrotask(() => { throw err }) }
      }
    }
    if ((this.counts.get(type) ?? 0) === 0) return
    this.dispatchEvent(new CustomEvent(type, { detail }))
  }

  private recount (type: string): void {
    this.counts.set(type, getEventListeners(this, type).length)
  }
}

/**
 * Observes `type` on a manager's `events` with `observer(detail)`: directly (`OBSERVE`) on a
 * `ManagerEventTarget`, through `addEventListener` on any other target.
 */
export function observe<K extends keyof ManagerEvents> (events: EventTarget, type: K, observer: (detail: ManagerEvents[K]) => void): void {
  if (events instanceof ManagerEventTarget) events[OBSERVE](type, observer)
  else events.addEventListener(type, (e) => { observer((e as CustomEvent<ManagerEvents[K]>).detail) })
}
