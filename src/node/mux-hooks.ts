import type Protomux from './vendor/protomux.js'
import type { Channel, ChannelOptions } from './vendor/protomux.js'
import { PeerwardenError } from '../errors.js'
import type { SecureStream } from './secure-stream.js'

/**
 * Every channel created on the mux (by the node, the mesh, the application, a replication) calls
 * `changed` when it opens and when it closes, before its own callbacks. Wraps this mux's
 * `createChannel`, not protomux: protomux has no hook for a channel's open and close.
 */
export function watchChannels (mux: Protomux, changed: () => void): void {
  const create = mux.createChannel.bind(mux)
  mux.createChannel = (opts: ChannelOptions): Channel | null => {
    const { onopen, onclose } = opts
    return create({
      ...opts,
      // protomux passes more than the typed arguments (the channel itself): all of them go on.
      onopen (this: unknown, ...args: unknown[]) { changed(); return (onopen as ((...a: unknown[]) => void | Promise<void>) | undefined)?.apply(this, args) },
      onclose (this: unknown, ...args: unknown[]) { changed(); return (onclose as ((...a: unknown[]) => void | Promise<void>) | undefined)?.apply(this, args) }
    })
  }
}

/**
 * protomux hands an error thrown while decoding or handling a message to safety-catch, which rethrows
 * native errors (a TypeError, a SyntaxError: it takes them for our own bugs) and so ends the process.
 * Bytes from a peer must never do that: here such an error only destroys the stream (the connection
 * closes). Our own handlers never throw (wire.ts `peerHandler`); this covers protomux's own framing.
 */
export function untrapSafetyCatch (mux: Protomux, stream: SecureStream): void {
  const m = mux as unknown as { _destroying: boolean; _safeDestroy: (err: unknown) => void; _safeDestroyBound: (err: unknown) => void; _warn: (err: unknown) => void }
  const destroy = (err: unknown): void => {
    m._destroying = true
    stream.destroy(err instanceof Error ? err : new PeerwardenError('ERR_PROTOCOL', String(err)))
  }
  m._safeDestroy = destroy
  m._safeDestroyBound = destroy
  m._warn = () => { /* a late error on a closed channel: nothing to do */ }
}
