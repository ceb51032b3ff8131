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
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
}

/**
 * The switch of one dial of the dialer: what an `AbortController` does for it (the listeners hear
 * `abort` once, in the order they were added; `reason` is what `abort` was given), without an
 * event target — one per dial, and a network of 100,000 simulated nodes dials millions of times.
 */
export class DialCancel implements CallOff {
  aborted = false
  reason: unknown = undefined
  private listeners: Array<() => void> | undefined = undefined

  abort (reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason ?? new DOMException('This operation was aborted', 'AbortError')
    const listeners = this.listeners
    this.listeners = undefined
    if (listeners !== undefined) for (const l of listeners) l()
  }

  addEventListener (_type: 'abort', listener: () => void): void {
    if (this.aborted) return
    if (this.listeners === undefined) this.listeners = [listener]
    else if (!this.listeners.includes(listener)) this.listeners.push(listener)
  }

  removeEventListener (_type: 'abort', listener: () => void): void {
    const i = this.listeners?.indexOf(listener) ?? -1
    if (i !== -1) this.listeners!.splice(i, 1)
  }

  /** Throws `reason` once aborted (as `AbortSignal.throwIfAborted`). */
  throwIfAborted (): void {
    if (this.aborted) throw this.reason
  }
}

/**
 * Set to true on a dial function (internal: the in-memory network's) that needs of its `signal` only
 * `aborted`, `reason`, `throwIfAborted()` and the 'abort' listeners: each address is then dialled
 * with a `DialCancel` in place of an `AbortController`, whose signal and listeners cost ~1 µs and a
 * few hundred bytes per dial — millions of dials in a large simulation. Any other dial function gets
 * a real `AbortSignal`.
 */
export const LIGHT_SIGNAL = Symbol('peerwarden.lightSignal')

export interface DialContext {
  dial: DialFn
  clock: Clock
  /** Per address, in ms. */
  timeout: number
  onStart(address: string): void
  onFailure(address: string, error: Error): void
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
 */
export async function dialAddresses (ctx: DialContext, attempt: DialAttempt): Promise<Connection> {
  if (attempt.addresses.length === 0) {
    throw new PeerwardenError('ERR_NO_ADDRESS', `no address to dial${attempt.peer !== undefined ? ` for peer ${attempt.peer}` : ''}`)
  }
  let last: Error | undefined
  const aborted = (): boolean => attempt.signal?.aborted === true
  for (const address of attempt.addresses) {
    if (aborted()) break
    ctx.onStart(address)
    try {
      return await dialOne(ctx, address, attempt.peer, attempt.signal)
    } catch (err) {
      last = err as Error
      // Called off (the caller's signal, stop, close): not a failure of the address or the peer.
      if (aborted()) break
      ctx.onFailure(address, last)
    }
  }
  if (aborted()) throw new PeerwardenError('ERR_ABORTED', 'dial aborted', { cause: last })
  if (last instanceof PeerwardenError) throw last
  throw new PeerwardenError('ERR_DIAL_FAILED', `dial failed: ${last?.message ?? 'unknown error'}`, { cause: last })
}

async function dialOne (ctx: DialContext, address: string, peer: PeerId | undefined, outer?: CallOff): Promise<Connection> {
  const light = (ctx.dial as { [LIGHT_SIGNAL]?: boolean })[LIGHT_SIGNAL] === true
  const controller: { readonly signal: CallOff; abort(reason: unknown): void } = light ? new LightController() : new AbortController()
  const signal = controller.signal
  let timedOut = false
  const timer = ctx.clock.setTimeout(() => {
    timedOut = true
    controller.abort(new PeerwardenError('ERR_DIAL_TIMEOUT', `dial to ${address} timed out after ${ctx.timeout} ms`))
  }, ctx.timeout)
  const onAbort = (): void => { controller.abort(outer?.reason) }
  outer?.addEventListener('abort', onAbort, { once: true })
  try {
    // Race the transport against our own signal so that a transport that ignores it cannot hang us.
    return await new Promise<Connection>((resolve, reject) => {
      signal.addEventListener('abort', () => { reject(signal.reason) }, { once: true })
      ctx.dial(address, { peer, signal: signal as AbortSignal }).then((conn) => {
        if (signal.aborted) {
          // Too late: the caller has moved on. Close what arrived so nothing leaks.
          try { void Promise.resolve(conn.close('abandoned')).catch(() => {}) } catch {}
          return
        }
        resolve(conn)
      }, reject)
    })
  } catch (err) {
    if (timedOut) throw new PeerwardenError('ERR_DIAL_TIMEOUT', `dial to ${address} timed out after ${ctx.timeout} ms`, { cause: err })
    if (outer?.aborted === true) throw new PeerwardenError('ERR_ABORTED', `dial to ${address} aborted`, { cause: outer.reason })
    if (err instanceof PeerwardenError) throw err
    throw new PeerwardenError('ERR_DIAL_FAILED', `dial to ${address} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  } finally {
    ctx.clock.clearTimeout(timer)
    outer?.removeEventListener('abort', onAbort)
  }
}

/** A `DialCancel` that is its own signal, in the shape of an `AbortController` (for `LIGHT_SIGNAL` dial functions). */
class LightController extends DialCancel {
  get signal (): DialCancel { return this }
}
