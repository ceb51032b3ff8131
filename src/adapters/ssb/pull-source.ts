/**
 * A pull-stream source over an async iterator: what `connection.errors()` returns.
 *
 * A pull-stream source is a protocol, not a class: a function `read(end, cb)` that calls
 * `cb(null, value)` for the next value, `cb(true)` once it ended, `cb(error)` once it failed; a
 * truthy `end` asks it to stop (the reader aborts). Any function that keeps the protocol works with
 * the pull-stream library (`pull(source, pull.take(1), pull.collect(cb))`), so none is loaded here.
 *
 * Rules:
 * - Reads are answered in order; a read while one is pending is queued behind it.
 * - An abort ends the iteration (`return()`: the manager drops the subscription) and answers every
 *   pending read and the abort itself with the abort's value; every later read with the same.
 * - A callback that throws is not called again for the same read: the throw surfaces as an
 *   uncaught exception, as it would from any pull-stream source.
 */

/** The pull-stream callback: `(end, value)`. `end` is `null` for a value, `true` at the end, an Error on failure. */
export type PullCallback<T> = (end: true | Error | null, value?: T) => void
/** A pull-stream source (see the module comment). */
export type PullSource<T> = (end: true | Error | null | undefined, cb: PullCallback<T>) => void

/** A pull-stream source that yields what `iterator` yields, then ends. */
export function pullSource<T> (iterator: AsyncIterator<T>): PullSource<T> {
  let ended: true | Error | undefined
  /** Reads waiting for the iterator, oldest first. */
  const pending: Array<PullCallback<T>> = []
  let reading = false

  const settle = (cb: PullCallback<T>, end: true | Error | null, value?: T): void => {
    // Outside the promise chain: a throwing reader must not turn into a rejected read.
    queueMicrotask(() => { if (end === null) cb(null, value); else cb(end) })
  }

  const finish = (end: true | Error): void => {
    ended = end
    for (const cb of pending.splice(0)) settle(cb, end)
  }

  const pump = (): void => {
    if (reading || ended !== undefined || pending.length === 0) return
    reading = true
    iterator.next().then((r) => {
      reading = false
      if (ended !== undefined) return
      if (r.done === true) { finish(true); return }
      settle(pending.shift()!, null, r.value)
      pump()
    }, (err: unknown) => {
      reading = false
      if (ended === undefined) finish(err instanceof Error ? err : new Error(String(err)))
    })
  }

  return (end, cb) => {
    if (typeof cb !== 'function') throw new TypeError('a pull-stream source is read with a callback')
    if (ended !== undefined) { settle(cb, ended); return }
    if (end != null) {
      const reason = end
      finish(reason)
      settle(cb, reason)
      void iterator.return?.()?.catch(() => {})
      return
    }
    pending.push(cb)
    pump()
  }
}
