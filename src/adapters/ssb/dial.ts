/**
 * The manager's `dial` over a callback-style connect (`sbot.connect`, or the standalone
 * `connectToPeer`).
 *
 * Rules:
 * - Resolves with the RPC's counted connection once the manager accepted it. When the manager
 *   refused it because the peer is already connected (the other side dialled us meanwhile, and the
 *   duplicate rule kept that one), resolves with the survivor; any other refusal rejects
 *   (ERR_DIAL_FAILED).
 * - `connect` may call back or return a promise (an async function, as sbot-connection-manager
 *   describes `connectToPeer`): a promise that resolves with an RPC is as the callback with it, one
 *   that rejects is a connect error; one that resolves with nothing leaves it to the callback.
 * - A connect error rejects with ERR_DIAL_FAILED, the error as its `cause` (secret-stack says only
 *   "server hung up … (phase 3)" when the remote refused us, as for a wrong key).
 * - An abort rejects at once; the RPC that may still arrive is counted like any other (the
 *   manager's bound applies to it), never resolved to a caller that moved on.
 */
import { PeerwardenError } from '../../errors.js'
import type { Connection } from '../../manager/types.js'
import type { RpcConnections } from './rpc-connections.js'
import type { RpcLike } from './types.js'

/** A connect: callback-style (`sbot.connect(address, cb)`) or async (resolves with the RPC). */
export type ConnectFn = (address: string, cb: (err: unknown, rpc?: RpcLike) => void) => void | PromiseLike<RpcLike | undefined | null>

const message = (err: unknown): string => err instanceof Error ? err.message : String(err)

/** Dials `address` through `connect` and resolves with the manager's connection (see the module comment). */
export async function dialRpc (connect: ConnectFn, rpcs: RpcConnections, address: string, signal: AbortSignal): Promise<Connection> {
  if (signal.aborted) throw signal.reason
  return await new Promise<Connection>((resolve, reject) => {
    let settled = false
    const onAbort = (): void => { if (!settled) { settled = true; reject(signal.reason) } }
    signal.addEventListener('abort', onAbort, { once: true })
    const done = (err: unknown, rpc?: RpcLike): void => {
      signal.removeEventListener('abort', onAbort)
      // Counted whether or not the caller still waits (the plugin counted it on 'rpc:connect' already).
      const tracked = err == null && rpc != null ? rpcs.report(rpc, 'outbound', address) : undefined
      if (settled) return
      settled = true
      if (err != null || rpc == null) {
        reject(new PeerwardenError('ERR_DIAL_FAILED', `connecting to ${address} failed: ${err != null ? message(err) : 'no connection'}`, { cause: err }))
        return
      }
      if (tracked?.accepted === true && tracked.open) { resolve(tracked.conn); return }
      const survivor = tracked !== undefined ? rpcs.heldTo(tracked.conn.peer) : undefined
      if (survivor !== undefined) { resolve(survivor); return }
      reject(new PeerwardenError('ERR_DIAL_FAILED', tracked === undefined
        ? `the connection to ${address} names no feed id (or our own)`
        : `the connection to ${address} was refused by the manager`))
    }
    try {
      const returned: unknown = connect(address, done)
      if (isThenable(returned)) {
        returned.then((rpc) => { if (rpc != null) done(null, rpc as RpcLike) }, (err: unknown) => { done(err ?? new Error('connect rejected')) })
      }
    } catch (err) {
      done(err)
    }
  })
}

function isThenable (x: unknown): x is PromiseLike<unknown> {
  return (typeof x === 'object' || typeof x === 'function') && x !== null && typeof (x as { then?: unknown }).then === 'function'
}
