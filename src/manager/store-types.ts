import type { PeerId, Priority } from './connection-types.js'

/** A peer as the store keeps it. `key` is the id, or '@' + address while the id is unknown. */
export interface StoredPeer {
  key: string
  id?: PeerId
  addresses: string[]
  priority: Priority
  topics: string[]
  longTerm: boolean
  permanent: boolean
  bootstrap: boolean
  tags: Record<string, number>
  lastConnected?: number
  successes: number
  failures: number
  nextDialAt?: number
  firstSeen?: number
}

/**
 * Where peers persist. The manager batches: it calls `save`/`delete` with everything that changed
 * since the last flush, then `flush()`, at most once per `storeFlushInterval` and on `close()`.
 * Rules for implementations: `save` and `delete` only queue; `flush` makes every earlier call durable
 * (atomically: after a crash the store holds each flushed batch whole or, for the one in progress,
 * not at all); `load` returns what the store holds; `close` flushes and releases the store.
 */
export interface PeerStore {
  /** Every stored peer. */
  load(): Promise<StoredPeer[]>
  /** Queues these peers to be written (inserted or replaced by `key`). */
  save(peers: StoredPeer[]): void
  /** Queues these peers to be removed. */
  delete(keys: string[]): void
  /** Makes every earlier `save` and `delete` durable, as one batch. */
  flush(): Promise<void>
  /** Flushes, then releases the store. */
  close(): Promise<void>
}
