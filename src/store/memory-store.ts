import type { PeerStore, StoredPeer } from '../manager/types.js'

/**
 * A PeerStore in memory. It outlives the managers that use it, so a manager closed and created
 * again with the same store comes back to what the first one knew (restarts in tests and
 * simulations). Stored peers are copied in and out: nobody shares objects with the store.
 */
export function memoryStore (initial: StoredPeer[] = []): PeerStore & { readonly size: number } {
  const data = new Map<string, StoredPeer>()
  for (const p of initial) data.set(p.key, clone(p))
  return {
    get size () { return data.size },
    async load () { return [...data.values()].map(clone) },
    save (peers) { for (const p of peers) data.set(p.key, clone(p)) },
    delete (keys) { for (const k of keys) data.delete(k) },
    async flush () {},
    // Closing releases nothing: the data stays for the next manager (a restart).
    async close () {}
  }
}

function clone (p: StoredPeer): StoredPeer {
  return { ...p, addresses: [...p.addresses], topics: [...p.topics], tags: { ...p.tags } }
}
