import type { PeerInfo } from './types.js'

/**
 * The listeners of `observePeers`. Rules: a new listener hears the current list at once; after that,
 * any number of changes within one tick is told once, on a microtask, with the list as it is then.
 */
export class PeerObservers {
  /** Made by the first `add()` (most managers are never observed). */
  private listeners: Set<(peers: readonly PeerInfo[]) => void> | undefined = undefined
  private pending = false

  /** `list` reads the peers when a notification goes out (never when nobody listens). */
  constructor (private readonly list: () => PeerInfo[]) {}

  add (listener: (peers: readonly PeerInfo[]) => void): () => void {
    const listeners = this.listeners ??= new Set()
    listeners.add(listener)
    listener(this.list())
    return () => { listeners.delete(listener) }
  }

  /** The peer list changed: observers hear once per tick however many changes happened. (A bound function: the parts call it on every connection change.) */
  readonly notify = (): void => {
    if (this.listeners === undefined || this.listeners.size === 0 || this.pending) return
    this.pending = true
    queueMicrotask(() => {
      this.pending = false
      const listeners = this.listeners
      if (listeners === undefined || listeners.size === 0) return
      const peers = this.list()
      for (const l of listeners) l(peers)
    })
  }

  clear (): void { this.listeners?.clear() }
}
