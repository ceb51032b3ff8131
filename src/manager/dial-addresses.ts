import { PeerwardenError } from '../errors.js'
import type { Clock, Connection, DialFn, PeerId } from './types.js'

export interface DialAttempt {
  peer?: PeerId
  addresses: readonly string[]
  /** Aborts the whole attempt (caller's signal, stop/close). */
  signal?: CallOff
}

/** What calls a whole attempt off: an `AbortSignal`, or the dialer's lighter `DialCancel`. */
export interface CallOff {
  readonly aborted: boolean
  readonly reason: unknown
  addEventListener(type: 'abort', listener: AbortListener, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: AbortListener): void
}

/** What hears an 'abort': a function, or an object's `handleEvent` (as an `EventTarget` takes them). */
export type AbortListener = (() => void) | { handleEvent(): void }

/**
 * The switch of one dial of the dialer: what an `AbortController` does for it (the listeners hear
 * `abort` once, in the order they were added; `reason` is what `abort` was given), without an
 * event target — one per dial, and a network of 100,000 simulated nodes dials millions of times.
 */
export class DialCancel implements CallOff {
  aborted = false
  reason: unknown = undefined
  /** The first listener in a field, the others in an array made for the second: a dial has one or none. */
  private first: AbortListener | undefined = undefined
  private more: AbortListener[] | undefined = undefined

  abort (reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason ?? new DOMException('This operation was aborted', 'AbortError')
    const first = this.first
    const more = this.more
    this.first = this.more = undefined
    if (first !== undefined) hear(first)
    if (more !== undefined) for (const l of more) hear(l)
  }

  addEventListener (_type: 'abort', listener: AbortListener): void {
    if (this.aborted || this.first === listener) return
    if (this.first === undefined) this.first = listener
    else if (this.more === undefined) this.more = [listener]
    else if (!this.more.includes(listener)) this.more.push(listener)
  }

  removeEventListener (_type: 'abort', listener: AbortListener): void {
    if (this.first === listener) {
      this.first = this.more !== undefined && this.more.length > 0 ? this.more.shift() : undefined
      return
    }
    const i = this.more?.indexOf(listener) ?? -1
    if (i !== -1) this.more!.splice(i, 1)
  }

  /** Throws `reason` once aborted (as `AbortSignal.throwIfAborted`). */
  throwIfAborted (): void {
    if (this.aborted) throw this.reason
  }
}

function hear (l: AbortListener): void {
  if (typeof l === 'function') l()
  else l.handleEvent()
}

/**
 * Set to true on a dial function (internal: the in-memory network's) that needs of its `signal` only
 * `aborted`, `reason`, `throwIfAborted()` and the 'abort' listeners: each address is then dialled
 * with a `DialCancel` in place of an `AbortController`, whose signal and listeners cost ~1 µs and a
 * few hundred bytes per dial — millions of dials in a large simulation. Any other dial function gets
 * a real `AbortSignal`.
 */
export const LIGHT_SIGNAL = Symbol('peerwarden.lightSignal')

export interface DialContext<A extends DialAttempt = DialAttempt> {
  dial: DialFn
  clock: Clock
  /** Per address, in ms. */
  readonly timeout: number
  /** An address of `attempt` is dialled now (the attempt is passed back: one context serves every dial). */
  onStart(address: string, attempt: A): void
  onFailure(address: string, error: Error, attempt: A): void
}

/**
 * Dials the addresses one after another until one yields a connection.
 *
 * Rules:
 * - Each address gets `timeout` ms on the injected clock and its own AbortSignal, aborted on timeout
 *   or when `signal` aborts; the transport must honour it.
 * - A failure of one address is reported (`onFailure`, always a PeerwardenError: a transport's own
 *   error is the `cause` of an ERR_DIAL_FAILED) and the next is tried; when the caller's signal
 *   aborts, no further address is tried and nothing is reported (a dial called off is no failure).
 * - A connection that arrives after its dial gave up is closed with 'abandoned'.
 * - The result is the connection, or a `PeerwardenError`: `ERR_DIAL_TIMEOUT` when the last address
 *   timed out, `ERR_ABORTED` when the signal aborted, else `ERR_DIAL_FAILED` (cause: the last error).
 * - A `LIGHT_SIGNAL` dial function (the in-memory network's, which honours its signal) is awaited
 *   directly in this one function, with a `DialCancel` for its signal: no race, no nested async
 *   function per address — a large simulation holds tens of thousands of dials in flight at once,
 *   and each frame, promise and closure of theirs outlives a few young-generation collections.
 */
export async function dialAddresses<A extends DialAttempt> (ctx: DialContext<A>, attempt: A): Promise<Connection> {
  const { addresses, signal: outer } = attempt
  if (addresses.length === 0) {
    throw new PeerwardenError('ERR_NO_ADDRESS', `no address to dial${attempt.peer !== undefined ? ` for peer ${attempt.peer}` : ''}`)
  }
  const light = (ctx.dial as { [LIGHT_SIGNAL]?: boolean })[LIGHT_SIGNAL] === true
  let last: Error | undefined
  for (let i = 0; i < addresses.length; i++) {
    const address = addresses[i]
    if (calledOff(outer)) break
    ctx.onStart(address, attempt)
    try {
      if (!light) return await dialOne(ctx as DialContext<never>, address, attempt.peer, outer)
      const cancel = new AddressCancel(ctx as DialContext<never>, address, outer, attempt.peer)
      try {
        // The switch is the options object too (`peer`, `signal`): one object less per dial.
        const conn = await ctx.dial(address, cancel as unknown as { peer?: PeerId; signal: AbortSignal })
        if (cancel.aborted) {
          abandon(conn)
          throw cancel.reason
        }
        return conn
      } catch (err) {
        throw addressError(err, cancel.timedOut, outer, address, ctx.timeout)
      } finally {
        cancel.release()
      }
    } catch (err) {
      last = err as Error
      // Called off (the caller's signal, stop, close): not a failure of the address or the peer.
      if (calledOff(outer)) break
      ctx.onFailure(address, last, attempt)
    }
  }
  if (calledOff(outer)) throw new PeerwardenError('ERR_ABORTED', 'dial aborted', { cause: last })
  if (last instanceof PeerwardenError) throw last
  throw new PeerwardenError('ERR_DIAL_FAILED', `dial failed: ${last?.message ?? 'unknown error'}`, { cause: last })
}

/** One address through a dial function that may ignore its signal: raced against it. */
async function dialOne (ctx: DialContext<never>, address: string, peer: PeerId | undefined, outer?: CallOff): Promise<Connection> {
  const controller = new AbortController()
  const signal = controller.signal
  let timedOut = false
  const timer = ctx.clock.setTimeout(() => {
    timedOut = true
    controller.abort(timeoutError(address, ctx.timeout))
  }, ctx.timeout)
  const onAbort = (): void => { controller.abort(outer?.reason) }
  outer?.addEventListener('abort', onAbort, { once: true })
  try {
    // Race the transport against our own signal so that a transport that ignores it cannot hang us.
    return await new Promise<Connection>((resolve, reject) => {
      signal.addEventListener('abort', () => { reject(signal.reason) }, { once: true })
      ctx.dial(address, { peer, signal }).then((conn) => {
        if (signal.aborted) {
          // Too late: the caller has moved on. Close what arrived so nothing leaks.
          abandon(conn)
          return
        }
        resolve(conn)
      }, reject)
    })
  } catch (err) {
    throw addressError(err, timedOut, outer, address, ctx.timeout)
  } finally {
    ctx.clock.clearTimeout(timer)
    outer?.removeEventListener('abort', onAbort)
  }
}

/** The attempt was called off (read afresh each time: it changes while the dial awaits). */
function calledOff (outer: CallOff | undefined): boolean { return outer?.aborted === true }

/** Closes a connection that arrived after its dial gave up, so that nothing leaks. */
function abandon (conn: Connection): void {
  try { void Promise.resolve(conn.close('abandoned')).catch(() => {}) } catch {}
}

function timeoutError (address: string, timeout: number): PeerwardenError {
  return new PeerwardenError('ERR_DIAL_TIMEOUT', `dial to ${address} timed out after ${timeout} ms`)
}

/** What one address's failure is reported as: its timeout, the caller's abort, or the transport's error as the cause of ERR_DIAL_FAILED. */
function addressError (err: unknown, timedOut: boolean, outer: CallOff | undefined, address: string, timeout: number): PeerwardenError {
  if (timedOut) return new PeerwardenError('ERR_DIAL_TIMEOUT', `dial to ${address} timed out after ${timeout} ms`, { cause: err })
  if (outer?.aborted === true) return new PeerwardenError('ERR_ABORTED', `dial to ${address} aborted`, { cause: outer.reason })
  if (err instanceof PeerwardenError) return err
  return new PeerwardenError('ERR_DIAL_FAILED', `dial to ${address} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
}

/**
 * The signal of one address dialled through a `LIGHT_SIGNAL` function, and the options the function
 * is given (`peer`, `signal`): aborted when its timeout ends or the attempt is called off. One
 * closure (`fire`) serves as the timer's callback and the attempt's 'abort' listener.
 */
class AddressCancel extends DialCancel {
  timedOut = false
  private readonly timer: unknown
  private readonly fire: () => void

  constructor (private readonly ctx: DialContext<never>, private readonly address: string, private readonly outer: CallOff | undefined, readonly peer: PeerId | undefined) {
    super()
    this.fire = () => {
      if (this.outer?.aborted === true) { this.abort(this.outer.reason); return }
      this.timedOut = true
      this.abort(timeoutError(this.address, this.ctx.timeout))
    }
    this.timer = ctx.clock.setTimeout(this.fire, ctx.timeout)
    outer?.addEventListener('abort', this.fire, { once: true })
  }

  /** Itself: it is the dial function's options object as well as its signal. */
  get signal (): this { return this }

  /** The dial of the address ended: its timer and listener go. */
  release (): void {
    this.ctx.clock.clearTimeout(this.timer)
    this.outer?.removeEventListener('abort', this.fire)
  }
}
