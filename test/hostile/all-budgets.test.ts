import assert from 'node:assert/strict'
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { test } from 'node:test'
import { CONTROL_PROTOCOL } from '../../src/node/connection.js'
import { discoveryKey } from '../../src/node/index.js'
import type { NodeStats } from '../../src/node/types.js'
import { attack, type Attacker } from '../helpers/attacker.js'

// What one attacker can make a node hold using every budget at once: handshakes in flight, partial
// frames, rendezvous registrations (64 topics per identity), hints (referrals of 32 peers of 8
// addresses), lookup answers it does not read, from one IP (40 connections tried), then from 7 more
// IPs of its /24 (24 tried each: the node's highWater is 256); the manager keeps 8 of each IP
// (connectionLimits.perIp)
// (127.0.0.x: loopback ranges are exempt from the per-range rules, so this is the worst case of a
// /24 whose per-range budgets do not apply). The victim runs in a child process (--expose-gc): its
// heap and RSS are measured after two full GCs, apart from the attackers'.

const T = { timeout: 180_000 }
const KEY = discoveryKey('all-budgets')
const MiB = 1024 * 1024
/** Connections per attacking IP: 10 a second is the per-IP rate. */
const PER_IP = 40

interface Measured { memory: NodeJS.MemoryUsage; stats: NodeStats; connections: number }

function ask (child: ChildProcess, t: string): Promise<Measured> {
  return new Promise((resolve) => {
    const on = (m: { t: string } & Measured): void => { if (m.t === 'measured') { child.off('message', on); resolve(m) } }
    child.on('message', on)
    child.send({ t })
  })
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** Every budget at once from `ip`: idle sockets, then `PER_IP` connections, each spending what it may. */
let failed = 0

async function fromIp (address: string, ip: string, held: Array<Attacker | net.Socket>, connections = PER_IP): Promise<void> {
  const [host, port] = address.replace('tcp://', '').split(':')
  // Handshakes in flight: sockets that say nothing (half of maxPendingPerIp, 4: the other half lets
  // its connections through).
  for (let i = 0; i < 2; i++) {
    const s = net.connect({ host: host!, port: Number(port), localAddress: ip })
    s.on('error', () => {})
    held.push(s)
  }
  await sleep(500)
  for (let n = 0; n < connections; n++) {
    let a: Attacker
    try {
      a = await attack(address, { localAddress: ip, hello: { listen: Array.from({ length: 8 }, (_, k) => `tcp://${ip}:${4000 + k}`), topics: [KEY], announce: true } })
    } catch { failed++; await sleep(150); continue }
    held.push(a)
    a.channel(CONTROL_PROTOCOL)
    // Rendezvous: 64 topics (perPeer) of 8 addresses.
    for (let i = 0; i < 64; i++) a.control({ t: 'announce', topic: discoveryKey(`${ip}-${n}-${i}`), addresses: Array.from({ length: 8 }, (_, k) => `tcp://10.${n}.${i}.${k + 1}:4000`), ttl: 600_000 })
    // Hints: what pexPerMinute lets one connection teach.
    for (let m = 0; m < 120; m++) {
      a.control({ t: 'pex', topic: KEY, peers: Array.from({ length: 32 }, () => ({ id: randomBytes(32).toString('hex'), addresses: Array.from({ length: 8 }, (_, k) => `tcp://10.${200 + (n & 15)}.${m}.${k + 1}:${5000 + k}`) })) })
    }
    // Lookup answers it never reads.
    a.stream.socket.pause()
    for (let i = 0; i < 512; i++) a.control({ t: 'lookup', id: i, topic: KEY })
    // A frame announced as 16 MiB, 1 MiB of it sent, never finished.
    const header = Buffer.alloc(4)
    header.writeUInt32LE(16 * MiB - 64, 0)
    a.stream.socket.write(Buffer.concat([header, Buffer.alloc(MiB, 1)]))
    await sleep(110)
  }
}

function figures (label: string, base: Measured, m: Measured): string {
  const d = (k: keyof NodeJS.MemoryUsage): string => `${((m.memory[k] - base.memory[k]) / MiB).toFixed(1)}`
  const s = m.stats
  return `${label}: heap +${d('heapUsed')} MiB, external+buffers +${d('external')} MiB, rss +${d('rss')} MiB; ` +
    `connections ${m.connections}, pendingHandshakes ${s.pendingHandshakes}, receivingBytes ${(s.receivingBytes / MiB).toFixed(1)} MiB, ` +
    `queueHoldingBytes ${(s.queueHoldingBytes / MiB).toFixed(1)} MiB, rendezvousBytes ${(s.rendezvousBytes / MiB).toFixed(2)} MiB (${s.rendezvousRegistrations} registrations), ` +
    `hintsDropped ${s.hintsDropped}, pexDropped ${s.pexDropped}, lookupAnswersRefused ${s.lookupAnswersRefused}`
}

test('one IP, then 8 IPs of one /24, using every budget at once make the node hold what its budgets promise, and it still serves an honest peer', T, async (t) => {
  const child = fork(new URL('./all-budgets-victim.js', import.meta.url), { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  t.after(() => { child.kill() })
  const ready = await new Promise<{ address: string }>((resolve) => { child.once('message', (m) => { resolve(m as { address: string }) }) })
  const held: Array<Attacker | net.Socket> = []
  t.after(() => { for (const h of held) if (h instanceof net.Socket) h.destroy(); else h.close() })
  const base = await ask(child, 'measure')
  await fromIp(ready.address, '127.0.0.2', held)
  await sleep(1000)
  const one = await ask(child, 'measure')
  console.log(figures('one IP', base, one))
  // One IP holds 8 connections (connectionLimits.perIp; 40 before), so 8 partial frames of 1 MiB
  // (40 MiB before any per-source rule, 32 MiB with the receive budget's per-source share alone).
  assert.ok(one.connections <= 8, `${one.connections} connections held for one IP`)
  assert.ok(one.stats.receivingBytes <= 8 * MiB + 64 * 1024, `${one.stats.receivingBytes} bytes of partial frames held for one IP`)
  await Promise.all(Array.from({ length: 7 }, async (_, i) => { await fromIp(ready.address, `127.0.0.${3 + i}`, held, 24) }))
  await sleep(1000)
  const range = await ask(child, 'measure')
  console.log(figures('8 IPs of one /24', base, range), `; ${failed} attacker dials failed`)
  // The budgets hold.
  assert.ok(range.stats.rendezvousBytes <= 4 * MiB)
  assert.ok(range.stats.receivingBytes <= 256 * MiB)
  assert.ok(range.stats.pendingHandshakes <= 32)
  assert.ok(range.connections <= 8 * 8, `${range.connections} connections held for 8 IPs`)
  // An honest peer from another IP still connects and gets an answer.
  const honest = await attack(ready.address, { localAddress: '127.0.0.200' })
  t.after(() => { honest.close() })
  assert.equal(await honest.ping(KEY, 20_000), true, 'the victim answers an honest peer')
  child.send({ t: 'close' })
})
