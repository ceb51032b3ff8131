import type { PeerStore, Priority, StoredPeer } from '../manager/types.js'

/**
 * The simulation's peer store: a `memoryStore()` laid out in columns, so that 100,000 nodes × a few
 * hundred known peers fit in memory. It outlives the managers (restarts); `load()` rebuilds the rows.
 *
 * Rules:
 * - One slot per key: the numbers in one `Float64Array` (an absent time is NaN), everything else
 *   (an id other than the key, addresses other than the in-memory one, topics, tags) as a JSON
 *   string only for the rows that have it. A row of a peer the simulation told about — its id, its
 *   `mem://` address, counters and times — costs its key's map entry and six numbers.
 * - `load()` returns the rows in the order a `Map` keeps them (first saved first; a deleted key
 *   saved again comes last), as the store it replaces did: the restored peers are created in that
 *   order, and their creation order is the dial order's last tie-break.
 */
export class CompactStore implements PeerStore {
  private readonly slots = new Map<string, number>()
  private nums = new Float64Array(COLUMNS * 64)
  private readonly extra: Array<string | undefined> = []
  private readonly free: number[] = []
  private next = 0

  async load (): Promise<StoredPeer[]> {
    const out: StoredPeer[] = []
    for (const [key, slot] of this.slots) out.push(this.read(key, slot))
    return out
  }

  save (peers: StoredPeer[]): void {
    for (const p of peers) {
      let slot = this.slots.get(p.key)
      if (slot === undefined) {
        slot = this.free.pop() ?? this.next++
        this.slots.set(p.key, slot)
      }
      this.write(slot, p)
    }
  }

  delete (keys: string[]): void {
    for (const k of keys) {
      const slot = this.slots.get(k)
      if (slot === undefined) continue
      this.slots.delete(k)
      this.extra[slot] = undefined
      this.free.push(slot)
    }
  }

  async flush (): Promise<void> {}
  async close (): Promise<void> {}

  private write (slot: number, p: StoredPeer): void {
    const at = slot * COLUMNS
    if (at + COLUMNS > this.nums.length) {
      const grown = new Float64Array(this.nums.length * 2)
      grown.set(this.nums)
      this.nums = grown
    }
    const n = this.nums
    n[at] = (p.longTerm ? 1 : 0) | (p.permanent ? 2 : 0) | (p.bootstrap ? 4 : 0) | (PRIORITIES.indexOf(p.priority) << 3)
    n[at + 1] = p.lastConnected ?? NaN
    n[at + 2] = p.successes
    n[at + 3] = p.failures
    n[at + 4] = p.nextDialAt ?? NaN
    n[at + 5] = p.firstSeen ?? NaN
    const more: Extra = {}
    let any = false
    if (p.id !== p.key) { more.i = p.id ?? null; any = true }
    if (!(p.addresses.length === 1 && p.id !== undefined && p.addresses[0] === MEMORY + p.id)) { more.a = p.addresses; any = true }
    if (p.topics.length > 0) { more.t = p.topics; any = true }
    for (const _ in p.tags) { more.g = p.tags; any = true; break }
    this.extra[slot] = any ? JSON.stringify(more) : undefined
  }

  private read (key: string, slot: number): StoredPeer {
    const at = slot * COLUMNS
    const n = this.nums
    const flags = n[at]
    const raw = this.extra[slot]
    const more = raw === undefined ? undefined : JSON.parse(raw) as Extra
    const id = more?.i === undefined ? key : more.i ?? undefined
    const p: StoredPeer = {
      key,
      addresses: more?.a ?? (id !== undefined ? [MEMORY + id] : []),
      priority: PRIORITIES[flags >> 3],
      topics: more?.t ?? [],
      longTerm: (flags & 1) !== 0,
      permanent: (flags & 2) !== 0,
      bootstrap: (flags & 4) !== 0,
      tags: more?.g ?? {},
      successes: n[at + 2],
      failures: n[at + 3]
    }
    if (id !== undefined) p.id = id
    if (!Number.isNaN(n[at + 1])) p.lastConnected = n[at + 1]
    if (!Number.isNaN(n[at + 4])) p.nextDialAt = n[at + 4]
    if (!Number.isNaN(n[at + 5])) p.firstSeen = n[at + 5]
    return p
  }
}

/** What a row holds beyond the numbers, when it differs from the usual: id (null: none), addresses, topics, tags. */
interface Extra { i?: string | null; a?: string[]; t?: string[]; g?: Record<string, number> }

/** Flags and priority, last connected, successes, failures, next dial, first seen. */
const COLUMNS = 6
const PRIORITIES: readonly Priority[] = ['medium', 'low', 'high', 'banned']
/** The scheme of the in-memory network's addresses (`mem://<id>`). */
const MEMORY = 'mem://'
