/**
 * js-libp2p's own connection manager (`DefaultConnectionManager` and its `ConnectionPruner`, libp2p
 * 3.x) side by side with peerwarden's core on the operations both have, in the same process,
 * rotated rounds, CPU time, each side's last two instances kept alive (reference.bench.ts):
 * - **pruning the connections over the limit**: n + 1 % connections brought down to n − 1 %: js-libp2p
 *   by lowering `maxConnections` (`setMaxConnections`, its public API: the pruner runs at once) until
 *   its `connection:prune` event; peerwarden by `trim()` with `lowWater` n − 1 %;
 * - **a connection that opens at the limit**: js-libp2p hears `connection:open` (its component event:
 *   the connection manager tracks it, the pruner closes the lowest-valued one) until
 *   `connection:prune`; peerwarden's `connected()` at `highWater` evicts the lowest-ranked peer.
 *
 * js-libp2p runs with a minimal set of components: an event target with `safeDispatchEvent`, a
 * logger that logs nothing, a peer store whose `get()` answers each peer's tag (the same values as
 * the peerwarden side's tags), stub peer ids (`toString()`; no keys) and stub connections (`streams`
 * an array, `close()` dispatches `connection:close` as a real one does). Its connection map is filled
 * before `start()` the way its `connection:open` handler fills it (one list per peer): filling it
 * through events would run the pruner's `getConnections()` once per connection, O(n²) set-up.
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { TestConnection } from '../src/testing/index.js'
import { filled, type Figure } from './manager.bench.js'
import { collect, median } from './peers/common.js'
import { nowMs, ratioFigure, reside, rotated } from './reference.bench.js'

/** The parts of js-libp2p's DefaultConnectionManager this bench drives. */
interface Libp2pConnectionManager {
  start(): Promise<void>
  stop(): Promise<void>
  setMaxConnections(max: number): void
  getConnections(): unknown[]
  readonly connections: { set(peer: StubPeerId, conns: StubConnection[]): void }
}

type ConnectionManagerClass = new (components: Record<string, unknown>, init: { maxConnections: number }) => Libp2pConnectionManager

let loaded: ConnectionManagerClass | undefined

/** libp2p does not export its connection manager: it is loaded from its file, next to libp2p's entry point. */
async function connectionManagerClass (): Promise<ConnectionManagerClass> {
  if (loaded !== undefined) return loaded
  const entry = createRequire(import.meta.url).resolve('libp2p')
  const file = join(dirname(entry), 'connection-manager', 'index.js')
  const mod = await import(pathToFileURL(file).href) as { DefaultConnectionManager: ConnectionManagerClass }
  loaded = mod.DefaultConnectionManager
  return loaded
}

class Events extends EventTarget {
  safeDispatchEvent (type: string, init: { detail?: unknown } = {}): boolean {
    return this.dispatchEvent(new CustomEvent(type, init))
  }
}

class StubPeerId {
  readonly type = 'Ed25519'
  readonly publicKey = undefined
  constructor (private readonly id: string) {}
  toString (): string { return this.id }
  equals (other: unknown): boolean { return String(other) === this.id }
}

class StubConnection {
  status = 'open'
  readonly timeline: { open: number }
  readonly remoteAddr = undefined
  constructor (
    readonly id: string,
    readonly remotePeer: StubPeerId,
    readonly direction: 'inbound' | 'outbound',
    readonly streams: Array<{ protocol: string; direction: 'inbound' | 'outbound' }>,
    opened: number,
    private readonly events: Events
  ) {
    this.timeline = { open: opened }
  }

  async close (): Promise<void> {
    if (this.status !== 'open') return
    this.status = 'closed'
    this.events.safeDispatchEvent('connection:close', { detail: this })
  }

  abort (): void { void this.close() }
}

const silent = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false })

interface Libp2pSide { cm: Libp2pConnectionManager; events: Events; add: (id: string, value: number, busy: boolean) => StubConnection }

/**
 * A started js-libp2p connection manager holding `n` connections (peers `peer-0`…, tag value
 * `value(i)`, a third with one open stream of a protocol its pruner may close).
 */
async function libp2pFilled (n: number, max: number, value: (i: number) => number): Promise<Libp2pSide> {
  const DefaultConnectionManager = await connectionManagerClass()
  const events = new Events()
  const tags = new Map<string, number>()
  const peerStore = {
    get: async (peer: StubPeerId) => ({ tags: new Map([['v', { value: tags.get(peer.toString()) ?? 0 }]]) }),
    patch: async () => {}
  }
  const cm = new DefaultConnectionManager({
    peerId: new StubPeerId('local'),
    peerStore,
    events,
    logger: { forComponent: () => silent },
    metrics: undefined
  }, { maxConnections: max })
  let opened = 0
  const add = (id: string, v: number, busy: boolean): StubConnection => {
    tags.set(id, v)
    const peer = new StubPeerId(id)
    const streams = busy ? [{ protocol: '/ipfs/id/1.0.0', direction: 'inbound' as const }] : []
    return new StubConnection(`c-${id}`, peer, opened % 2 === 0 ? 'inbound' : 'outbound', streams, opened++, events)
  }
  for (let i = 0; i < n; i++) {
    const c = add(`peer-${i}`, value(i), i % 3 === 0)
    cm.connections.set(c.remotePeer, [c])
  }
  await cm.start()
  return { cm, events, add }
}

/** Resolves on the pruner's next `connection:prune` event. */
async function pruned (events: Events): Promise<void> {
  await new Promise<void>((resolve) => { events.addEventListener('connection:prune', () => { resolve() }, { once: true }) })
}

/**
 * Pruning n + 1 % connections down to n − 1 %, side by side: 5 prunes a round on the same manager
 * (before each, untimed, 2 % new connections arrive — for js-libp2p with its limit raised first —
 * and pass their grace period, then a full GC runs), the round's figure the median of its prunes, as
 * trimRatio does against the naive reference.
 */
export async function libp2pPruneRatio (n: number, rounds: number): Promise<Figure> {
  const total = n + n / 100
  const low = n - n / 100
  const repeats = 5
  const { perRound } = await rotated([
    {
      name: 'peerwarden',
      measure: async () => {
        const { m, conns, clock } = reside('peerwarden', await filled(low, low, total))
        conns.forEach((c, i) => { if (i % 3 === 0) c.streams = 1; m.streamsChanged(c); m.tagPeer(c.peer, 'v', i % 13) })
        const times: number[] = []
        for (let rep = 0; rep < repeats; rep++) {
          for (let i = 0; i < total - low; i++) {
            const c = new TestConnection({ peer: `fresh-${rep}-${i}`, direction: i % 2 === 0 ? 'inbound' : 'outbound', streams: i % 3 === 0 ? 1 : 0 })
            m.connected(c)
            m.streamsChanged(c)
            m.tagPeer(c.peer, 'v', i % 13)
          }
          await clock.advance(2000)
          collect()
          const t0 = nowMs()
          const trimmed = m.trim() // synchronous; the dial pass it requests runs after
          times.push(nowMs() - t0)
          await trimmed
          if (m.stats().connections !== low) throw new Error(`trim left ${m.stats().connections}`)
        }
        await m.close()
        return median(times)
      }
    },
    {
      name: 'js-libp2p',
      measure: async () => {
        const { cm, events, add } = reside('js-libp2p', await libp2pFilled(low, total, (i) => i % 13))
        const times: number[] = []
        for (let rep = 0; rep < repeats; rep++) {
          cm.setMaxConnections(total) // raised: no prune
          for (let i = 0; i < total - low; i++) {
            const c = add(`fresh-${rep}-${i}`, i % 13, i % 3 === 0)
            cm.connections.set(c.remotePeer, [c])
          }
          collect()
          const done = pruned(events)
          const t0 = nowMs()
          cm.setMaxConnections(low)
          await done // the pruner is asynchronous (it awaits the peer store for every connection)
          times.push(nowMs() - t0)
          if (cm.getConnections().length !== low) throw new Error(`js-libp2p pruned to ${cm.getConnections().length}`)
        }
        await cm.stop()
        return median(times)
      }
    }
  ], rounds)
  return ratioFigure('pruning from n + 1 % to n − 1 % connections', n, perRound[0], perRound[1], 'ms', undefined, 'js-libp2p')
}

/** A connection opening at the limit of n connections (one peer gives way), side by side. */
export async function libp2pAtLimitRatio (n: number, rounds: number): Promise<Figure> {
  const ops = n >= 10_000 ? 10 : 100
  const { perRound } = await rotated([
    {
      name: 'peerwarden',
      measure: async () => {
        const { m, conns, clock } = reside('peerwarden', await filled(n, n / 2, n))
        conns.forEach((c, i) => m.tagPeer(c.peer, 'v', i % 97))
        await clock.advance(2000)
        const incoming = Array.from({ length: Math.max(20, Math.min(n / 2, 4000)) }, (_, i) => new TestConnection({ peer: `new-${i}` }))
        collect()
        const t0 = nowMs()
        for (const c of incoming) if (!m.connected(c)) throw new Error('refused at the bound')
        const dt = nowMs() - t0
        await m.close()
        return (dt * 1000) / incoming.length
      }
    },
    {
      name: 'js-libp2p',
      measure: async () => {
        const side = reside('js-libp2p', await libp2pFilled(n, n, (i) => i % 97))
        const incoming = Array.from({ length: ops }, (_, i) => side.add(`new-${i}`, 50, false))
        collect()
        const t0 = nowMs()
        for (const c of incoming) {
          const done = pruned(side.events)
          side.events.safeDispatchEvent('connection:open', { detail: c })
          await done
        }
        const dt = nowMs() - t0
        if (side.cm.getConnections().length !== n) throw new Error(`js-libp2p holds ${side.cm.getConnections().length}`)
        await side.cm.stop()
        return (dt * 1000) / ops
      }
    }
  ], rounds)
  return ratioFigure('a connection opening at the limit (one peer gives way)', n, perRound[0], perRound[1], 'µs/op', undefined, 'js-libp2p')
}

/** Both figures at 1,000 and 10,000 connections (js-libp2p's `getConnections()` is O(n²): 100,000 would take minutes). */
export async function libp2pConnmgrRatios (sizes = [1_000, 10_000]): Promise<Figure[]> {
  const out: Figure[] = []
  for (const n of sizes) {
    out.push(await libp2pPruneRatio(n, 3))
    out.push(await libp2pAtLimitRatio(n, 3))
  }
  return out
}
