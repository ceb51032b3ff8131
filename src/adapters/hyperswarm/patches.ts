import type { HyperswarmLike, HyperswarmPeerInfo, HyperswarmQueue } from './types.js'

/**
 * Hyperswarm's dial queue, replaced: a due topic peer goes to the manager instead of waiting in line.
 *
 * Rules:
 * - A topic peer is never held here (`queued` false at once: Hyperswarm may release the PeerInfo as
 *   if dialled); it is handed to `due`, and the manager decides.
 * - A peer of the application's `joinPeer` (explicit) waits here as in Hyperswarm's own queue, and
 *   Hyperswarm dials it from here (`shift`) when its retry timer fires: Hyperswarm's other path for
 *   explicit peers dials only `attempts` × 1 s after the disconnect, and a timer firing sooner (its
 *   jitter makes that common) would otherwise lose the peer for good. One that stopped being
 *   explicit while waiting (`leavePeer`) is handed to `due` instead. Held at most once each.
 */
export class DueQueue implements HyperswarmQueue {
  private readonly explicit: HyperswarmPeerInfo[] = []
  constructor (private readonly due: (info: HyperswarmPeerInfo) => void) {}

  get length (): number { return this.explicit.length }

  add (info: HyperswarmPeerInfo): void {
    if (info.explicit === true) {
      if (!this.explicit.includes(info)) this.explicit.push(info)
      return
    }
    info.queued = false
    this.due(info)
  }

  shift (): HyperswarmPeerInfo | undefined {
    for (let info = this.explicit.shift(); info !== undefined; info = this.explicit.shift()) {
      if (info.explicit === true) return info
      info.queued = false
      this.due(info)
    }
    return undefined
  }
}

/**
 * What the adapter changes on a swarm instance, and how to put it back.
 *
 * Rules:
 * - Every change is recorded with its undo; `restore()` undoes them all, the last first, once.
 * - `patch(name, make)` replaces a method or field with `make(original)` (the original bound to the
 *   swarm); a missing one is left alone. An own property is put back as it was; an inherited one is
 *   deleted again (the prototype's shows through).
 */
export class SwarmPatches {
  private readonly undo: Array<() => void> = []

  constructor (private readonly swarm: HyperswarmLike) {}

  patch<K extends keyof HyperswarmLike> (name: K, make: (original: NonNullable<HyperswarmLike[K]>) => HyperswarmLike[K]): void {
    const { swarm } = this
    const own = Object.prototype.hasOwnProperty.call(swarm, name)
    const before = swarm[name]
    if (before === undefined) return
    swarm[name] = make((typeof before === 'function' ? before.bind(swarm) : before) as NonNullable<HyperswarmLike[K]>)
    this.undo.push(() => {
      if (own) swarm[name] = before
      else delete (swarm as Partial<HyperswarmLike>)[name]
    })
  }

  /** Sets `name` to `value` (no `make`): put back as it was on `restore()`. */
  set<K extends keyof HyperswarmLike> (name: K, value: HyperswarmLike[K]): void {
    const before = this.swarm[name]
    this.swarm[name] = value
    this.undo.push(() => { this.swarm[name] = before })
  }

  /**
   * Keeps `queue` as the swarm's dial queue: `suspend()` assigns a fresh queue, which is remembered
   * instead (and put in place on `restore()`).
   */
  holdQueue (queue: HyperswarmQueue): void {
    const { swarm } = this
    if (swarm._queue === undefined) return
    let real = swarm._queue
    Object.defineProperty(swarm, '_queue', {
      configurable: true,
      enumerable: true,
      get: () => queue,
      set: (q: HyperswarmQueue) => { real = q }
    })
    this.undo.push(() => {
      Object.defineProperty(swarm, '_queue', { configurable: true, enumerable: true, writable: true, value: real })
    })
  }

  /** Registers an undo of a change made elsewhere (a listener added). */
  onRestore (fn: () => void): void { this.undo.push(fn) }

  restore (): void {
    for (const fn of this.undo.reverse()) fn()
    this.undo.length = 0
  }
}
