import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { createConnectionManager, type ConnectionManager, type Priority } from '../../src/index.js'
import { ManualClock, testConnection, type TestConnection } from '../../src/testing/index.js'
import { noDial } from '../helpers/manager.js'

// Property-based tests of the manager: random sequences of transport events and application calls,
// against a model of the transport (the open TestConnections the manager accepted) and of the
// admission and trim rules. Virtual time only (ManualClock).

// ── the world ──────────────────────────────────────────────────────────────

const POOL = ['a', 'b', 'c', 'd', 'e', 'f', 'g']
/** Allow-listed by id. */
const ALLOW_IDS = ['a', 'b']
/** Allow-listed by address: a 'lan' connection comes from 192.168.x.x. */
const ALLOW_CIDR = '192.168.0.0/16'
/** Our id, for the duplicate tie-break: a, b, c < c5 < d, e, f, g. */
const LOCAL = 'c5'
const PRIORITY_RANK: Record<Priority, number> = { banned: 0, low: 1, medium: 2, high: 3 }

interface Config { low: number; high: number; grace: number; silence: number }

type Op =
  | { k: 'connect'; peer: string; dir: 'inbound' | 'outbound'; streams: number | undefined; lan: boolean }
  | { k: 'drop'; pick: number }
  | { k: 'dropStale'; pick: number }
  | { k: 'tag'; peer: string; tag: string; value: number }
  | { k: 'protect'; peer: string; tag: string }
  | { k: 'unprotect'; peer: string; tag: string }
  | { k: 'priority'; peer: string; priority: Priority }
  | { k: 'trim' }
  | { k: 'watermarks'; low: number; high: number }
  | { k: 'maxConnections'; max: number }
  | { k: 'advance'; ms: number }

const arbPeer = fc.constantFrom(...POOL)
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ k: fc.constant('connect' as const), peer: arbPeer, dir: fc.constantFrom('inbound' as const, 'outbound' as const), streams: fc.constantFrom(undefined, 0, 1, 3), lan: fc.nat(4).map((n) => n === 0) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('drop' as const), pick: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('dropStale' as const), pick: fc.nat(20) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('tag' as const), peer: arbPeer, tag: fc.constantFrom('t1', 't2'), value: fc.integer({ min: -3, max: 10 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('protect' as const), peer: arbPeer, tag: fc.constantFrom('x', 'y') }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('unprotect' as const), peer: arbPeer, tag: fc.constantFrom('x', 'y') }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('priority' as const), peer: arbPeer, priority: fc.constantFrom<Priority>('high', 'medium', 'low', 'banned') }) },
  { weight: 1, arbitrary: fc.constant({ k: 'trim' as const }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 6 }).chain((high) => fc.record({ k: fc.constant('watermarks' as const), low: fc.integer({ min: 0, max: high }), high: fc.constant(high) })) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('maxConnections' as const), max: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('advance' as const), ms: fc.oneof(fc.constantFrom(0, 1, 50, 100, 200), fc.integer({ min: 0, max: 300 })) }) }
)
const arbConfig: fc.Arbitrary<Config> = fc.integer({ min: 1, max: 5 }).chain((high) => fc.record({
  low: fc.integer({ min: 0, max: high }),
  high: fc.constant(high),
  grace: fc.constantFrom(0, 50, 100),
  silence: fc.constantFrom(1, 30, 100)
}))
const arbOps = fc.array(arbOp, { minLength: 1, maxLength: 60, size: 'max' })

// ── the model ──────────────────────────────────────────────────────────────

interface Entry { conn: TestConnection; peer: string; openedAt: number }

type Ev =
  | { type: 'closed'; id: string; peer: string; reason: string; at: number }
  | { type: 'refused'; id: string; reason: string; at: number }
  | { type: 'trim'; closed: number; reason: string; at: number }

class Model {
  readonly open = new Map<string, Entry>()
  readonly priority = new Map<string, Priority>()
  readonly tags = new Map<string, Map<string, number>>()
  readonly protections = new Map<string, Set<string>>()
  low: number
  high: number

  constructor (readonly cfg: Config) {
    this.low = cfg.low
    this.high = cfg.high
  }

  prio (peer: string): Priority { return this.priority.get(peer) ?? 'medium' }
  value (peer: string): number { let v = 0; for (const x of this.tags.get(peer)?.values() ?? []) v += x; return v }
  isProtected (peer: string): boolean { return (this.protections.get(peer)?.size ?? 0) > 0 }
  allowed (conn: TestConnection): boolean { return ALLOW_IDS.includes(conn.peer) || (conn.address ?? '').startsWith('tcp://192.168.') }
  byPeer (peer: string): Entry | undefined { for (const e of this.open.values()) if (e.peer === peer) return e; return undefined }

  /** Connected, not protected, not allow-listed, not banned, out of its grace period at time t. */
  trimmable (e: Entry, t: number): boolean {
    return !this.allowed(e.conn) && !this.isProtected(e.peer) && this.prio(e.peer) !== 'banned' && t - e.openedAt >= this.cfg.grace
  }

  trimmableAt (t: number, among: Iterable<Entry> = this.open.values()): Entry[] {
    return [...among].filter((e) => this.trimmable(e, t))
  }

  /** Trimmable but for the grace period: what a lowered limit takes once the trimmable peers are gone. */
  inGraceAt (t: number): Entry[] {
    return [...this.open.values()].filter((e) => !this.trimmable(e, t) && this.trimmable(e, Infinity))
  }

  /**
   * The trim order, written out independently of rank.ts: priority (low < medium < high), tag value,
   * idle before busy, inbound before outbound, newest before oldest. Negative = `a` goes first.
   */
  compare (a: Entry, b: Entry): number {
    const key = (e: Entry): number[] => [
      PRIORITY_RANK[this.prio(e.peer)],
      this.value(e.peer),
      e.conn.streams === undefined || e.conn.streams === 0 ? 0 : 1,
      e.conn.direction === 'inbound' ? 0 : 1,
      -e.openedAt
    ]
    const ka = key(a)
    const kb = key(b)
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] - kb[i]
    return 0
  }

  /** The number of peers a 'watermark' trim (explicit or background) closes. */
  watermarkCount (count: number, trimmable: number): number {
    return clamp(Math.max(trimmable - this.low, count - this.high), 0, trimmable)
  }
}

function clamp (n: number, lo: number, hi: number): number { return Math.max(lo, Math.min(hi, n)) }

/** The duplicate tie-break: the connection initiated by the larger id survives. */
function keepsIncoming (existing: Entry, incoming: TestConnection): boolean {
  if (existing.conn.direction === incoming.direction) return false
  const initiator = (c: TestConnection): string => (c.direction === 'outbound' ? LOCAL : c.peer)
  return initiator(incoming) > initiator(existing.conn)
}

// ── the runner ─────────────────────────────────────────────────────────────

type Check = 'bound' | 'spared' | 'banned' | 'accounting' | 'stats' | 'rule' | 'liveness'

/** Runs `ops` against a fresh manager and fails at the first step that breaks one of `checks`. */
async function run (cfg: Config, ops: readonly Op[], checks: ReadonlySet<Check>): Promise<void> {
  const clock = new ManualClock()
  const model = new Model(cfg)
  const m: ConnectionManager = createConnectionManager({
    dial: noDial,
    clock,
    localPeer: LOCAL,
    lowWater: cfg.low,
    highWater: cfg.high,
    gracePeriod: cfg.grace,
    silencePeriod: cfg.silence,
    allow: [...ALLOW_IDS, ALLOW_CIDR]
  })
  const log: Ev[] = []
  m.events.addEventListener('connection:closed', (e) => {
    const d = e.detail
    log.push({ type: 'closed', id: d.connection.id, peer: d.connection.peer, reason: d.reason, at: clock.now() })
  })
  m.events.addEventListener('connection:refused', (e) => {
    const d = e.detail
    log.push({ type: 'refused', id: d.connection.id, reason: d.reason, at: clock.now() })
  })
  m.events.addEventListener('trim', (e) => {
    const d = e.detail
    log.push({ type: 'trim', closed: d.closed, reason: d.reason, at: clock.now() })
  })
  m.start()
  const seen: TestConnection[] = []
  let nextIp = 1
  let completed = false

  try {
    for (const [step, op] of ops.entries()) {
      const where = `step ${step} ${JSON.stringify(op)} at t=${clock.now()}`
      const fail = (check: Check, message: string): void => {
        if (checks.has(check)) assert.fail(`[${check}] ${where}: ${message}\n  ops: ${JSON.stringify(ops.slice(0, step + 1))}`)
      }
      const expect = (check: Check, ok: boolean, message: string): void => { if (!ok) fail(check, message) }
      const sameSet = (check: Check, actual: readonly string[], expected: readonly string[], message: string): void => {
        const a = [...actual].sort()
        const b = [...expected].sort()
        expect(check, a.length === b.length && a.every((x, i) => x === b[i]), `${message}: got [${a.join(', ')}], expected [${b.join(', ')}]`)
      }
      /** `closed` must be exactly `k` of `candidates`, each ranked at or below every candidate kept. */
      const expectLowest = (closed: readonly Entry[], candidates: readonly Entry[], k: number, what: string): void => {
        expect('rule', closed.length === k, `${what}: closed ${closed.length} peers [${closed.map((e) => e.peer).join(', ')}], expected ${k} of the ${candidates.length} trimmable [${candidates.map((e) => e.peer).join(', ')}]`)
        for (const c of closed) {
          if (!candidates.includes(c)) { fail('rule', `${what}: closed ${c.peer}, which was not trimmable`); continue }
          for (const x of candidates) {
            if (!closed.includes(x) && model.compare(c, x) > 0) fail('rule', `${what}: closed ${c.peer} but kept the lower-ranked ${x.peer}`)
          }
        }
      }

      log.length = 0
      /** A lowered limit may close in-grace peers (the application asked for the bound now). */
      let limitStep = false
      const t0 = clock.now()
      const before = new Map(model.open)
      const count0 = model.open.size
      const high0 = model.high
      const trimmable0 = model.trimmableAt(t0)
      /** How far above highWater the count may be after this step (property a). */
      let allowance = Math.max(0, count0 - high0)
      const closedEvents = (): Array<Extract<Ev, { type: 'closed' }>> => log.filter((e): e is Extract<Ev, { type: 'closed' }> => e.type === 'closed')
      const closedEntries = (): Entry[] => closedEvents().map((e) => before.get(e.id)).filter((e): e is Entry => e !== undefined)
      const expectNoClose = (): void => { expect('rule', closedEvents().length === 0, `closed ${closedEvents().map((e) => `${e.peer} (${e.reason})`).join(', ')}; expected nothing closed`) }
      let livenessWatch: Entry[] | undefined

      switch (op.k) {
        case 'connect': {
          const address = op.lan ? `tcp://192.168.1.${nextIp++}:4001` : `tcp://10.0.0.${nextIp++}:4001`
          const conn = testConnection(op.peer, { direction: op.dir, address, streams: op.streams })
          seen.push(conn)
          const existing = model.byPeer(op.peer)
          const forced = model.allowed(conn) || model.isProtected(op.peer)
          const banned = model.prio(op.peer) === 'banned'
          const accepted = m.connected(conn)
          expect('accounting', accepted === !conn.closed, `connected() returned ${accepted} but the connection is ${conn.closed ? 'closed' : 'open'}`)
          if (accepted && !conn.closed) model.open.set(conn.id, { conn, peer: op.peer, openedAt: t0 })
          if (banned) expect('banned', !accepted && conn.closeReason === 'banned', `a banned peer was ${accepted ? 'accepted' : `refused with ${String(conn.closeReason)}`}`)
          if (!banned && existing === undefined && forced && count0 >= high0 && trimmable0.length === 0) allowance += 1

          // The admission rule, exactly.
          const refusedWith = (reason: string): void => {
            expect('rule', !accepted && conn.closeReason === reason, `expected a refusal with '${reason}', got ${accepted ? 'accepted' : `'${String(conn.closeReason)}'`}`)
            expectNoClose()
          }
          const acceptedEvicting = (evict: boolean, candidates = trimmable0): void => {
            expect('rule', accepted, `expected acceptance, got a refusal with '${String(conn.closeReason)}'`)
            const closes = closedEvents()
            if (!evict) { expectNoClose(); return }
            expect('rule', closes.every((e) => e.reason === 'trimmed'), `evictions are 'trimmed', got ${closes.map((e) => e.reason).join(', ')}`)
            expectLowest(closedEntries(), candidates, 1, 'eviction at highWater')
            const trims = log.filter((e) => e.type === 'trim')
            expect('rule', trims.length === 1 && trims[0].type === 'trim' && trims[0].closed === 1 && trims[0].reason === 'admission', `one 'trim' event {closed: 1, reason: 'admission'}, got ${JSON.stringify(trims)}`)
          }
          if (banned) {
            refusedWith('banned')
          } else if (existing !== undefined) {
            if (keepsIncoming(existing, conn)) {
              expect('rule', accepted, 'the duplicate that wins the tie-break is accepted')
              const closes = closedEvents()
              expect('rule', closes.length === 1 && closes[0].id === existing.conn.id && closes[0].reason === 'duplicate', `the losing duplicate is closed with 'duplicate', got ${JSON.stringify(closes)}`)
            } else {
              refusedWith('duplicate')
            }
          } else if (count0 < high0) {
            acceptedEvicting(false)
          } else if (forced) {
            acceptedEvicting(trimmable0.length > 0)
          } else if (trimmable0.length === 0) {
            refusedWith('over-limit')
          } else {
            const lowestPriority = Math.min(...trimmable0.map((e) => PRIORITY_RANK[model.prio(e.peer)]))
            const mine = PRIORITY_RANK[model.prio(op.peer)]
            if (mine < lowestPriority) refusedWith('over-limit')
            // A stranger takes the place of a peer it outranks or equals, the lowest-ranked of those.
            else acceptedEvicting(true, trimmable0.filter((e) => PRIORITY_RANK[model.prio(e.peer)] <= mine))
          }
          break
        }
        case 'drop': {
          const open = [...model.open.values()]
          if (open.length === 0) break
          const e = open[op.pick % open.length]
          e.conn.close('transport')
          m.disconnected(e.conn)
          expectNoClose()
          break
        }
        case 'dropStale': {
          const stale = seen.filter((c) => c.closed)
          if (stale.length === 0) break
          m.disconnected(stale[op.pick % stale.length]) // closed or refused: harmless
          expectNoClose()
          break
        }
        case 'tag': {
          m.tagPeer(op.peer, op.tag, op.value)
          const tags = model.tags.get(op.peer) ?? new Map<string, number>()
          tags.set(op.tag, op.value)
          model.tags.set(op.peer, tags)
          expectNoClose()
          break
        }
        case 'protect': {
          m.protect(op.peer, op.tag)
          const p = model.protections.get(op.peer) ?? new Set<string>()
          p.add(op.tag)
          model.protections.set(op.peer, p)
          expectNoClose()
          break
        }
        case 'unprotect': {
          const still = m.unprotect(op.peer, op.tag)
          model.protections.get(op.peer)?.delete(op.tag)
          expect('rule', still === model.isProtected(op.peer), `unprotect returned ${still}`)
          expectNoClose()
          break
        }
        case 'priority': {
          m.setPriority([{ peer: op.peer, priority: op.priority }])
          model.priority.set(op.peer, op.priority)
          const connected = model.byPeer(op.peer)
          if (op.priority === 'banned' && connected !== undefined) {
            const closes = closedEvents()
            expect('banned', connected.conn.closed && connected.conn.closeReason === 'banned', `banning a connected peer closes it with 'banned', got ${String(connected.conn.closeReason)}`)
            expect('rule', closes.length === 1 && closes[0].id === connected.conn.id && closes[0].reason === 'banned', `only the banned peer is closed, got ${JSON.stringify(closes)}`)
          } else {
            expectNoClose()
          }
          break
        }
        case 'trim': {
          await m.trim()
          const closes = closedEvents()
          expect('rule', closes.every((e) => e.reason === 'trimmed'), `trim() closes with 'trimmed', got ${closes.map((e) => e.reason).join(', ')}`)
          expectLowest(closedEntries(), trimmable0, model.watermarkCount(count0, trimmable0.length), 'trim()')
          break
        }
        case 'watermarks':
        case 'maxConnections': {
          let high: number
          if (op.k === 'watermarks') {
            m.setWatermarks(op.low, op.high)
            model.low = op.low
            high = op.high
          } else {
            m.setMaxConnections(op.max) // highWater = max, lowWater = min(lowWater, max)
            model.low = Math.min(model.low, op.max)
            high = op.max
          }
          model.high = high
          // Lowering the limit trims back to the new highWater at once: the trimmable peers first, then
          // the in-grace ones, each group lowest-ranked first; only protected / allow-listed excess stays.
          const inGrace0 = model.inGraceAt(t0)
          allowance = Math.max(0, count0 - high - trimmable0.length - inGrace0.length)
          const closes = closedEvents()
          expect('rule', closes.every((e) => e.reason === 'trimmed'), `a lowered limit closes with 'trimmed', got ${closes.map((e) => e.reason).join(', ')}`)
          const excess0 = Math.max(0, count0 - high)
          const fromTrimmable = Math.min(excess0, trimmable0.length)
          const closedNow = closedEntries()
          expectLowest(closedNow.filter((e) => trimmable0.includes(e)), trimmable0, fromTrimmable, `${op.k}() among trimmable peers`)
          expectLowest(closedNow.filter((e) => !trimmable0.includes(e)), inGrace0, clamp(excess0 - fromTrimmable, 0, inGrace0.length), `${op.k}() among in-grace peers`)
          limitStep = true
          break
        }
        case 'advance': {
          const t1 = t0 + op.ms
          // Liveness: peers trimmable from at least one silence period before the end of this advance.
          if (op.ms >= cfg.silence && count0 > high0) {
            livenessWatch = [...model.open.values()].filter((e) => !model.allowed(e.conn) && !model.isProtected(e.peer) && e.openedAt + cfg.grace <= t1 - cfg.silence)
          }
          await clock.advance(op.ms)
          // Only background trims close anything while time passes; replay them batch by batch.
          const state = new Map(before)
          let batch: Array<Extract<Ev, { type: 'closed' }>> = []
          for (const ev of log) {
            if (ev.type === 'refused') { fail('rule', `a refusal while time passed: ${JSON.stringify(ev)}`); continue }
            if (ev.type === 'closed') {
              expect('rule', ev.reason === 'trimmed', `only background trims close while time passes, got '${ev.reason}' for ${ev.peer}`)
              batch.push(ev)
              continue
            }
            expect('rule', ev.reason === 'watermark', `a background trim has reason 'watermark', got '${ev.reason}'`)
            expect('rule', batch.every((b) => b.at === ev.at), 'a trim closes its peers at one instant')
            expect('rule', state.size > model.high, `a background trim ran at t=${ev.at} with ${state.size} connections, not above highWater ${model.high}`)
            const candidates = model.trimmableAt(ev.at, state.values())
            const closed = batch.map((b) => state.get(b.id)).filter((e): e is Entry => e !== undefined)
            expect('rule', closed.length === batch.length, 'a background trim closed a connection that was not open')
            expectLowest(closed, candidates, model.watermarkCount(state.size, candidates.length), `background trim at t=${ev.at}`)
            expect('rule', ev.closed === batch.length, `the trim event says ${ev.closed} closed, ${batch.length} were`)
            for (const b of batch) state.delete(b.id)
            batch = []
          }
          expect('rule', batch.length === 0, 'connections closed outside a trim')
          break
        }
      }

      // ── bring the model of the transport up to date: closed connections are gone ──
      const list = m.listConnections()
      for (const [id, e] of model.open) if (e.conn.closed) model.open.delete(id)

      // (a) the bound: the excess over highWater grows only when an allow-listed or protected newcomer
      // is accepted with nothing trimmable, and a lowered limit leaves only untrimmable excess.
      const excess = Math.max(0, model.open.size - model.high)
      expect('bound', excess <= allowance, `${model.open.size} connections, highWater ${model.high}: excess ${excess}, at most ${allowance} allowed (count before ${count0}, highWater before ${high0}, ${trimmable0.length} trimmable)`)

      // (b) protected and allow-listed peers are never trimmed; in-grace ones only by a lowered limit.
      for (const ev of closedEvents()) {
        if (ev.reason !== 'trimmed') continue
        const e = before.get(ev.id)
        if (e === undefined) { fail('spared', `trimmed ${ev.peer}, which was not an open connection`); continue }
        expect('spared', !model.allowed(e.conn), `trimmed the allow-listed ${e.peer} (${String(e.conn.address)})`)
        expect('spared', !model.isProtected(e.peer), `trimmed the protected ${e.peer}`)
        expect('spared', limitStep || ev.at - e.openedAt >= cfg.grace, `trimmed ${e.peer} at t=${ev.at}, inside its grace period (opened at ${e.openedAt}, grace ${cfg.grace})`)
      }

      // (c) a banned peer is never connected.
      for (const c of list) expect('banned', model.prio(c.peer) !== 'banned', `the banned ${c.peer} is connected (${c.id})`)

      // (d) listConnections() is exactly the set of open connections the manager accepted.
      sameSet('accounting', list.map((c) => c.id), [...model.open.keys()], 'listConnections() ids')
      for (const c of list) expect('accounting', model.open.get(c.id)?.peer === c.peer, `connection ${c.id} listed for ${c.peer}`)
      for (const ev of log) {
        if (ev.type === 'trim') continue
        const conn = seen.find((c) => c.id === ev.id)
        expect('accounting', conn?.closed === true && conn.closeReason === ev.reason, `event says ${ev.id} was closed with '${ev.reason}', the connection says ${String(conn?.closeReason)}`)
      }
      for (const [id, e] of before) {
        if (e.conn.closed && e.conn.closeReason !== 'transport') {
          expect('accounting', log.some((ev) => ev.type === 'closed' && ev.id === id), `${e.peer}'s connection was closed ('${String(e.conn.closeReason)}') without a 'connection:closed' event`)
        }
      }

      // (e) stats agree with the list.
      const s = m.stats()
      expect('stats', s.connections === s.inbound + s.outbound, `stats: ${s.connections} connections != ${s.inbound} inbound + ${s.outbound} outbound`)
      expect('stats', s.connections === list.length, `stats: ${s.connections} connections, listConnections() has ${list.length}`)
      expect('stats', s.inbound === list.filter((c) => c.direction === 'inbound').length, `stats: ${s.inbound} inbound, the list has ${list.filter((c) => c.direction === 'inbound').length}`)

      // (f) liveness: an excess does not outlive a silence period once some peer is trimmable.
      if (livenessWatch !== undefined && livenessWatch.length > 0) {
        const left = livenessWatch.filter((e) => model.open.has(e.conn.id))
        expect('liveness', model.open.size <= model.high || left.length === 0,
          `after ${op.k === 'advance' ? op.ms : 0} ms, ${model.open.size} connections > highWater ${model.high} though ${left.map((e) => e.peer).join(', ')} ${left.length === 1 ? 'was' : 'were'} trimmable for a whole silence period (${cfg.silence} ms)`)
      }
    }
    completed = true
  } finally {
    const open = [...model.open.values()]
    await m.close()
    if (completed && checks.has('accounting')) {
      for (const e of open) assert.equal(e.conn.closeReason, 'stopped', `close() closes ${e.peer} with 'stopped'`)
      assert.equal(m.stats().connections, 0)
    }
  }
}

// ── the properties ─────────────────────────────────────────────────────────

const NUM_RUNS = 200

async function holds (checks: Check[], numRuns = NUM_RUNS): Promise<void> {
  await fc.assert(fc.asyncProperty(arbConfig, arbOps, async (cfg, ops) => { await run(cfg, ops, new Set(checks)) }), { numRuns, includeErrorInReport: true })
}

test('the count exceeds highWater only through allow-listed or protected newcomers admitted with nothing trimmable, or a lowered limit with too few peers that may go', async () => {
  await holds(['bound'])
})

test('a protected or allow-listed peer is never closed with reason trimmed, an in-grace one only by a lowered limit', async () => {
  await holds(['spared'])
})

test('a banned peer is closed at once, refused afterwards, and never listed as connected', async () => {
  await holds(['banned'])
})

test('listConnections() always holds exactly the open connections the manager accepted', async () => {
  await holds(['accounting'])
})

test('stats() counts every connection once, as inbound or outbound', async () => {
  await holds(['stats'])
})

test('admission, trim() and lowered limits close exactly the lowest-ranked trimmable peers the rule selects', async () => {
  await holds(['rule'])
})

test('an excess over highWater is trimmed within a silence period once a peer is trimmable', async () => {
  await holds(['liveness'])
})

// ── a second world: records that merge, hints, hooks that throw, quotas, watermark changes ─────
//
// No model of the rank order here: after every step, the manager is checked against rules that
// hold whatever it chose — the bound, bans, protection, the counts in stats(), and admits() ≡
// connected(). Peers are known by id, by address only (then merged by a connection or addPeers),
// or from hints; the prioritise hook throws for some peers.

const IDS = ['a', 'b', 'c', 'd']
const ADDRS = ['tcp://10.1.0.1:1', 'tcp://10.1.0.2:1', 'tcp://10.1.0.3:1']
const TOPICS = ['t1', 't2']

type Op2 =
  | { k: 'connect'; peer: string; addr: number; dir: 'inbound' | 'outbound' }
  | { k: 'drop'; pick: number }
  | { k: 'addAddress'; addr: number; longTerm: boolean; topic: number }
  | { k: 'addIdAddress'; peer: string; addr: number }
  | { k: 'hint'; peer: string; addr: number; topic: number }
  | { k: 'priority'; target: string; priority: Priority }
  | { k: 'protect'; peer: string }
  | { k: 'unprotect'; peer: string }
  | { k: 'topics'; peer: string; topic: number }
  | { k: 'quota'; topic: number; min: number | undefined }
  | { k: 'watermarks'; low: number; high: number }
  | { k: 'start' }
  | { k: 'advance'; ms: number }

const arbId = fc.constantFrom(...IDS)
const arbAddr = fc.nat(ADDRS.length) // ADDRS.length = no address
const arbOp2: fc.Arbitrary<Op2> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ k: fc.constant('connect' as const), peer: arbId, addr: arbAddr, dir: fc.constantFrom('inbound' as const, 'outbound' as const) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('drop' as const), pick: fc.nat(20) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('addAddress' as const), addr: fc.nat(ADDRS.length - 1), longTerm: fc.boolean(), topic: fc.nat(TOPICS.length) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('addIdAddress' as const), peer: arbId, addr: fc.nat(ADDRS.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('hint' as const), peer: arbId, addr: fc.nat(ADDRS.length - 1), topic: fc.nat(TOPICS.length) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('priority' as const), target: fc.constantFrom(...IDS, ...ADDRS), priority: fc.constantFrom<Priority>('high', 'medium', 'low', 'banned') }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('protect' as const), peer: arbId }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('unprotect' as const), peer: arbId }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('topics' as const), peer: arbId, topic: fc.nat(TOPICS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('quota' as const), topic: fc.nat(TOPICS.length - 1), min: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 5 }).chain((high) => fc.record({ k: fc.constant('watermarks' as const), low: fc.integer({ min: 0, max: high }), high: fc.constant(high) })) },
  { weight: 1, arbitrary: fc.constant({ k: 'start' as const }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('advance' as const), ms: fc.constantFrom(0, 10, 60, 1_000) }) }
)
const arbWorld2 = fc.record({
  high: fc.integer({ min: 1, max: 4 }),
  throwFor: fc.subarray(IDS),
  ops: fc.array(arbOp2, { minLength: 1, maxLength: 60, size: 'max' })
})

const GRACE2 = 50
const SILENCE2 = 100

async function runWorld2 (high: number, throwFor: readonly string[], ops: readonly Op2[]): Promise<void> {
  const clock = new ManualClock()
  const hookErrors: string[] = []
  const m: ConnectionManager = createConnectionManager({
    dial: noDial,
    clock,
    localPeer: 'c5',
    lowWater: 0,
    highWater: high,
    gracePeriod: GRACE2,
    silencePeriod: SILENCE2,
    prioritise: (p) => { if (p.id !== undefined && throwFor.includes(p.id)) throw new Error(`hook fails for ${p.id}`); return undefined }
  })
  m.events.addEventListener('hook:error', (e) => { hookErrors.push(String(e.detail.peer)) })
  const trimmedProtected: string[] = []
  m.events.addEventListener('connection:closed', (e) => {
    if (e.detail.reason === 'trimmed' && m.isProtected(e.detail.connection.peer)) trimmedProtected.push(e.detail.connection.peer)
  })
  /** Ids banned by setPriority(id) and not unbanned since: a ban is never lost. */
  const bannedIds = new Set<string>()
  const open: TestConnection[] = []
  let running = false
  try {
    for (const [step, op] of ops.entries()) {
      const where = (): string => `step ${step} ${JSON.stringify(op)} at t=${clock.now()}\n  ops: ${JSON.stringify(ops.slice(0, step + 1))}`
      const countBefore = m.stats().connections
      const highBefore = m.stats().highWater
      switch (op.k) {
        case 'connect': {
          const address = op.addr < ADDRS.length ? ADDRS[op.addr] : undefined
          const conn = testConnection(op.peer, { direction: op.dir, address })
          const wasConnected = m.getPeer(op.peer)?.connected === true
          const forced = m.isProtected(op.peer)
          const addrRecord = address !== undefined ? m.getPeer(address) : undefined
          const bannedByAddress = addrRecord !== undefined && addrRecord.id === undefined && addrRecord.priority === 'banned'
          const predicted = m.admits(op.peer, address)
          const accepted = m.connected(conn)
          if (!wasConnected) assert.equal(accepted, predicted, `admits() said ${predicted}, connected() ${accepted ? 'accepted' : `refused (${String(conn.closeReason)})`}: ${where()}`)
          if (accepted) open.push(conn)
          if (bannedIds.has(op.peer) || bannedByAddress) assert.equal(accepted, false, `a banned peer was accepted: ${where()}`)
          if (accepted && !forced && !wasConnected) assert.ok(m.stats().connections <= Math.max(highBefore, countBefore), `connected() took the count from ${countBefore} to ${m.stats().connections} over highWater ${highBefore}: ${where()}`)
          break
        }
        case 'drop': {
          const live = open.filter((c) => !c.closed)
          if (live.length === 0) break
          const c = live[op.pick % live.length]
          c.close('transport')
          m.disconnected(c)
          break
        }
        case 'addAddress':
          m.addPeers([{ address: ADDRS[op.addr], longTerm: op.longTerm, ...(op.topic < TOPICS.length ? { topics: [TOPICS[op.topic]] } : {}) }])
          break
        case 'addIdAddress':
          m.addPeers([{ id: op.peer, address: ADDRS[op.addr] }])
          break
        case 'hint':
          m.addPeers([{ id: op.peer, addresses: [ADDRS[op.addr]], hint: true, ...(op.topic < TOPICS.length ? { topics: [TOPICS[op.topic]] } : {}) }])
          break
        case 'priority': {
          // By address, setPriority names the peer that holds the address now (by id, once known).
          const id = IDS.includes(op.target) ? op.target : m.getPeer(op.target)?.id
          m.setPriority([{ peer: op.target, priority: op.priority }])
          if (id !== undefined) {
            if (op.priority === 'banned') bannedIds.add(id)
            else bannedIds.delete(id)
          }
          break
        }
        case 'protect': m.protect(op.peer, 'app'); break
        case 'unprotect': m.unprotect(op.peer, 'app'); break
        case 'topics': m.addPeers([{ id: op.peer, topics: [TOPICS[op.topic]] }]); break
        case 'quota': m.setTopicQuota(TOPICS[op.topic], op.min === undefined ? undefined : { min: op.min }); break
        case 'watermarks': m.setWatermarks(op.low, op.high); break
        case 'start': m.start(); running = true; break
        case 'advance': await clock.advance(op.ms); break
      }

      // ── after every step ──
      const list = m.listConnections()
      const peers = m.listPeers()
      const s = m.stats()
      // bans: a banned peer is never connected; a ban given by id is never lost; stats count each ban once.
      for (const c of list) assert.notEqual(m.getPeer(c.peer)?.priority, 'banned', `the banned ${c.peer} is connected: ${where()}`)
      for (const id of bannedIds) assert.equal(m.getPeer(id)?.priority, 'banned', `the ban of ${id} was lost: ${where()}`)
      assert.equal(s.banned, peers.filter((p) => p.priority === 'banned').length, `stats().banned: ${where()}`)
      // protection: a protected peer is never trimmed; stats count protected peers as getPeer does.
      assert.deepEqual(trimmedProtected, [], `a protected peer was trimmed: ${where()}`)
      assert.equal(s.protected, peers.filter((p) => p.protected).length, `stats().protected: ${where()}`)
      // the bound: once every connection is past grace and a silence period passed, only protected peers exceed it.
      if (op.k === 'advance' && op.ms >= 1_000 && running) {
        const protectedConnected = list.filter((c) => c.protected).length
        assert.ok(s.connections <= Math.max(s.highWater, protectedConnected), `${s.connections} connections > highWater ${s.highWater} with ${protectedConnected} protected, after ${op.ms} ms: ${where()}`)
      }
      // the hook's errors are reported, never thrown; they name only the peers it fails for.
      for (const p of hookErrors) assert.ok(throwFor.includes(p), `hook:error for ${p}: ${where()}`)
      // accounting
      assert.equal(s.connections, open.filter((c) => !c.closed).length, `stats().connections: ${where()}`)
    }
  } finally {
    await m.close()
  }
}

test('with merges, hints, throwing hooks, quotas and watermark changes: bans hold, protected peers stay, the bound holds, and admits() answers what connected() does', async () => {
  await fc.assert(fc.asyncProperty(arbWorld2, async ({ high, throwFor, ops }) => { await runWorld2(high, throwFor, ops) }), { numRuns: 2 * NUM_RUNS, includeErrorInReport: true })
})
