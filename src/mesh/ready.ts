/**
 * `mesh.ready(role?, { timeout, signal })`: waits until the mesh can serve a call (Moleculer's
 * `waitForServices`).
 *
 * Rules:
 * - With `role`: resolves once an instance of that role is listed (connected, both certificates
 *   admitted). Without: once an instance of every role this node may call is listed
 *   (a node that calls nobody is ready at once).
 * - Resolves at once when that already holds (no event needed).
 * - Rejects with ERR_INVALID_ARGUMENT for a role not in the schema, ERR_NOT_ALLOWED for a role this
 *   node is never connected to (the schema does not relate it to ours), ERR_TIMEOUT when `timeout`
 *   (ms, on the mesh's clock; default: none) passes first, ERR_ABORTED when `signal` aborts, and
 *   ERR_CLOSED when the node is (or gets) closed.
 */

import { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'
import type { Instance } from './instance.js'

/** The options of `mesh.ready(role?, options)`. */
export interface ReadyOptions {
  /** ms; default: no deadline. */
  timeout?: number
  signal?: AbortSignal
}

/** What `ready` needs from its mesh node. */
export interface ReadySource {
  instances: ReadonlyMap<string, Instance>
  /** Roles this node may be connected to (the schema relates them to ours). */
  related: ReadonlySet<string>
  /** Roles this node may call. */
  calls: readonly string[]
  isRole: (role: string) => boolean
  clock: Clock
  closed: () => boolean
}

/**
 * The waiters of one mesh node: `check()` runs when an instance is listed (and on close), and settles
 * every waiter whose condition holds.
 */
export class ReadyWaiters {
  private readonly waiters = new Set<() => void>()

  constructor (private readonly source: ReadySource) {}

  /** An instance was listed or went, or the node closed: re-check every waiter. */
  check (): void {
    for (const w of [...this.waiters]) w()
  }

  wait (role: string | undefined, opts: ReadyOptions = {}): Promise<void> {
    const src = this.source
    if (role !== undefined && typeof role !== 'string') return Promise.reject(PeerwardenError.invalid('role must be a string'))
    if (opts == null || typeof opts !== 'object') return Promise.reject(PeerwardenError.invalid('options must be an object'))
    const { timeout, signal } = opts
    if (timeout !== undefined && !(typeof timeout === 'number' && timeout >= 0)) return Promise.reject(PeerwardenError.invalid('timeout must be a number of ms >= 0'))
    if (role !== undefined && !src.isRole(role)) return Promise.reject(PeerwardenError.invalid(`role ${JSON.stringify(role)} is not in the schema`))
    if (role !== undefined && !src.related.has(role)) return Promise.reject(new PeerwardenError('ERR_NOT_ALLOWED', `this node is never connected to ${role} (schema _connect/_allow)`))
    const wanted = role === undefined ? src.calls : [role]
    const holds = (): boolean => wanted.every((r) => {
      for (const i of src.instances.values()) if (i.role === r) return true
      return false
    })
    const what = role ?? (wanted.length === 0 ? 'nothing' : wanted.join(', '))
    if (src.closed()) return Promise.reject(PeerwardenError.closed('the mesh node'))
    if (signal?.aborted === true) return Promise.reject(new PeerwardenError('ERR_ABORTED', `ready(${what}) aborted`, { cause: signal.reason }))
    if (holds()) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      let timer: unknown
      const done = (err?: Error): void => {
        this.waiters.delete(waiter)
        src.clock.clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        if (err === undefined) resolve()
        else reject(err)
      }
      const waiter = (): void => {
        if (src.closed()) done(PeerwardenError.closed('the mesh node'))
        else if (holds()) done()
      }
      const onAbort = (): void => { done(new PeerwardenError('ERR_ABORTED', `ready(${what}) aborted`, { cause: signal!.reason })) }
      this.waiters.add(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
      if (timeout !== undefined && Number.isFinite(timeout)) {
        timer = src.clock.setTimeout(() => { done(new PeerwardenError('ERR_TIMEOUT', `no instance of ${what} within ${timeout} ms`)) }, timeout)
      }
    })
  }
}
