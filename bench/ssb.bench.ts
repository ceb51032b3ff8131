/**
 * peerwarden/ssb next to ssb-conn 6 (the connection plugin SSB uses today), on one scenario: twelve
 * secret-stack 8 servers, each told of the other eleven, each aiming at a few connections.
 *
 * - peerwarden: `connections.setMax(4)` with lowWater 3 (so: dial to 3, never hold more than 4).
 * - ssb-conn: its own scheduler (quota 4 for non-room peers, trims only above 2×quota). Without
 *   ssb-friends it dials nobody but rooms, and it never dials a loopback host; so its servers listen
 *   on the machine's first non-loopback IPv4 address, and a stand-in `friends.hopStream` says every
 *   peer is one hop away (a block is hop -1, as ssb-friends says it). ssb-conn reads `config.path`,
 *   which secret-stack 8 does not pass it: each server gets its own directory through its init.
 *
 * Measured per contestant, per run: the peak number of open RPCs on any server (sampled on every
 * 'rpc:connect') against the limit of 4, the time until every server holds at least 3, the dials
 * made (every `sbot.connect`), and what happens when server 0 bans (blocks) a server it is connected
 * to: how long until their RPCs close, and whether the banned server can then connect to server 0. Medians over rotated runs.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pullSource } from '../src/adapters/ssb/pull-source.js'
import { openRpcs, startServers, type Server } from '../test/adapters/ssb-servers.js'
import { median, nowMs, sleep } from './peers/common.js'
import type { Figure } from './manager.bench.js'

const require = createRequire(import.meta.url)
const SERVERS = 12
const LIMIT = 4
const TARGET = 3
const DEADLINE = 40_000

type Contestant = 'peerwarden' | 'ssb-conn'
interface Run { peak: number; reachedMs: number; dials: number; banCloseMs: number; bannedGotIn: boolean }

/** The machine's first non-loopback IPv4 address (ssb-conn never dials loopback hosts). */
function lanAddress (): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  return undefined
}

/** A live pull-stream of hop maps, as ssb-friends' `hopStream({ live: true, old: true })`: everyone at hop 1, then pushes. */
function friendsPlugin (ids: () => string[], pushes: Map<string, (hops: Record<string, number>) => void>): unknown {
  return {
    name: 'friends',
    version: '1.0.0',
    manifest: { hopStream: 'source' },
    init: (sbot: { id: string }) => ({
      hopStream: () => {
        const queue: Array<Record<string, number>> = [Object.fromEntries(ids().filter((id) => id !== sbot.id).map((id) => [id, 1]))]
        let wake: (() => void) | undefined
        pushes.set(sbot.id, (hops) => { queue.push(hops); wake?.() })
        return pullSource<Record<string, number>>({
          next: async () => {
            while (queue.length === 0) await new Promise<void>((resolve) => { wake = resolve })
            return { done: false, value: queue.shift()! }
          }
        })
      }
    })
  }
}

/** ssb-conn's three plugins, CONN's init given a directory of its own (secret-stack 8 passes no `path`). */
function ssbConnPlugins (dirs: string[]): unknown[] {
  const [CONN, Gossip, Scheduler] = require('ssb-conn') as Array<{ manifest: unknown; permissions?: unknown; version: string; init: (api: unknown, cfg: object, ...rest: unknown[]) => unknown }>
  const conn = {
    name: 'conn',
    version: CONN.version,
    manifest: CONN.manifest,
    permissions: CONN.permissions,
    init: (api: unknown, cfg: object, ...rest: unknown[]) => {
      const path = mkdtempSync(join(tmpdir(), 'pw-bench-ssb-conn-'))
      dirs.push(path)
      return CONN.init(api, { ...cfg, path }, ...rest)
    }
  }
  return [conn, { ...Gossip, name: 'gossip' }, { ...Scheduler, name: 'connScheduler' }]
}

async function run (who: Contestant, host: string): Promise<Run> {
  const dirs: string[] = []
  const pushes = new Map<string, (hops: Record<string, number>) => void>()
  let servers: Server[] = []
  const ids = (): string[] => servers.map((s) => s.id)
  servers = who === 'peerwarden'
    ? await startServers(SERVERS, { host, config: { lowWater: TARGET, highWater: LIMIT } })
    : await startServers(SERVERS, { host, bare: true, use: [...ssbConnPlugins(dirs), friendsPlugin(ids, pushes)], extra: { conn: { autostart: false } } })
  let peak = 0
  let dials = 0
  for (const s of servers) {
    s.sbot.on('rpc:connect', () => { peak = Math.max(peak, openRpcs(s.sbot).length) })
    s.sbot.connect.hook(function (this: unknown, original, args) { dials++; return original.apply(this, args) })
  }
  try {
    const start = nowMs()
    for (const s of servers) {
      const others = servers.filter((o) => o !== s)
      if (who === 'peerwarden') {
        s.api.peers.add(others.map((o) => ({ address: o.address })))
        s.api.connections.start()
      } else {
        const conn = (s.sbot as unknown as { conn: { remember(a: string, d: object): void; start(): void } }).conn
        for (const o of others) conn.remember(o.address, { key: o.id, type: 'internet', autoconnect: true })
        conn.start()
      }
    }
    let reachedMs = Infinity
    while (nowMs() - start < DEADLINE) {
      if (servers.every((s) => openRpcs(s.sbot).length >= TARGET)) { reachedMs = nowMs() - start; break }
      await sleep(25)
    }
    // The ban: server 0 bans b (peerwarden) or blocks it (ssb-conn: hop -1, as ssb-friends would).
    // b: a peer server 0 is connected to (as its manager or scheduler chose), else server 1 dialled now.
    const a = servers[0]
    const b = servers.find((s) => openRpcs(a.sbot).some((r) => r.id === s.id)) ?? servers[1]
    const linked = (): boolean => openRpcs(a.sbot).some((r) => r.id === b.id)
    if (!linked()) {
      // For ssb-conn through its hub, with the key (it ignores RPCs opened around it, and blocks by key).
      const conn = (a.sbot as unknown as { conn: { connect: (addr: string, data: object, cb: () => void) => void } }).conn
      await new Promise<void>((resolve) => { if (who === 'peerwarden') a.sbot.connect(b.address, () => { resolve() }); else conn.connect(b.address, { key: b.id }, resolve) })
    }
    const banAt = nowMs()
    if (who === 'peerwarden') a.api.peers.setPriority([{ address: b.address, priority: 'BANNED' }])
    else pushes.get(a.id)?.({ [b.id]: -1 })
    let banCloseMs = Infinity
    while (nowMs() - banAt < 10_000) {
      if (!linked()) { banCloseMs = nowMs() - banAt; break }
      await sleep(10)
    }
    const bannedGotIn = await new Promise<boolean>((resolve) => {
      b.sbot.connect(a.address, (err) => { resolve(err == null && linked()) })
    })
    return { peak, reachedMs, dials, banCloseMs, bannedGotIn }
  } finally {
    await Promise.race([Promise.allSettled(servers.map(async (s) => { await s.close() })), sleep(10_000)])
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  }
}

/** The scenario, `runs` times per contestant, rotated (peerwarden first, then ssb-conn first). */
export async function ssbConnections (runs = 2): Promise<Figure[]> {
  const host = lanAddress()
  const contestants: Contestant[] = host !== undefined ? ['peerwarden', 'ssb-conn'] : ['peerwarden']
  const results = new Map<Contestant, Run[]>(contestants.map((c) => [c, []]))
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? contestants : [...contestants].reverse()
    for (const who of order) results.get(who)!.push(await run(who, host ?? '127.0.0.1'))
  }
  const figures: Figure[] = []
  for (const [who, rs] of results) {
    const m = (f: (r: Run) => number): number => +median(rs.map(f)).toFixed(0)
    const note = `${SERVERS} servers, limit ${LIMIT}, target ${TARGET}: peak ${m((r) => r.peak)} RPCs on a server (runs ${rs.map((r) => r.peak).join('/')}), ` +
      `target reached in ${m((r) => r.reachedMs)} ms, ${m((r) => r.dials)} dials; banned peer closed after ${m((r) => r.banCloseMs)} ms, ` +
      `${rs.some((r) => r.bannedGotIn) ? 'could connect again' : 'refused when it connected again'}`
    figures.push({ name: `ssb ${who}: peak RPCs per server`, value: m((r) => r.peak), unit: 'RPCs', target: `<= ${LIMIT}`, runs: rs.length, note })
    figures.push({ name: `ssb ${who}: time to reach the target`, value: m((r) => r.reachedMs), unit: 'ms', runs: rs.length })
    figures.push({ name: `ssb ${who}: dials made`, value: m((r) => r.dials), unit: 'dials', runs: rs.length })
  }
  if (host === undefined) figures.push({ name: 'ssb ssb-conn: not run', value: 0, unit: '', runs: 0, note: 'no non-loopback IPv4 address: ssb-conn never dials loopback hosts' })
  return figures
}
