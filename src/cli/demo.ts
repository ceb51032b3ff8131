/**
 * `npm start` (until the real node lands): one connection manager under pressure from a few hundred
 * virtual peers on the in-memory network, in virtual time. It prints, burst by burst, how the
 * connection count stays inside the watermarks, what was evicted or refused, and why (`explain`).
 */
import { bump, createConnectionManager, decay, type ConnectionManager } from '../index.js'
import { ManualClock, MemoryNetwork, type MemoryNode } from '../testing/index.js'

const PEERS = 300
const BURST = 60
const LOW = 20
const HIGH = 40

const out = (line = ''): void => { process.stdout.write(line + '\n') }

async function main (): Promise<void> {
  const clock = new ManualClock(Date.UTC(2026, 0, 1))
  const net = new MemoryNetwork({ clock, latency: 5 })
  const hubNode = net.addNode('warden')
  const manager: ConnectionManager = createConnectionManager({
    dial: hubNode.dial,
    localPeer: 'warden',
    lowWater: LOW,
    highWater: HIGH,
    gracePeriod: 5_000,
    silencePeriod: 10_000,
    allow: ['peer-007'],
    clock,
    // The application's own policy: peers whose id ends in 9 are light clients, served last.
    prioritise: (p) => (p.id?.endsWith('9') === true ? 'low' : undefined)
  })
  hubNode.bind(manager)
  manager.start()

  // A decaying "useful" score: bumped when a peer serves us data, halved every 10 s.
  const useful = manager.registerDecayingTag('useful', 10_000, decay.linear(0.5), bump.sumBounded(0, 1000))

  let peak = 0
  let accepted = 0
  let refused = 0
  let evicted = 0
  const refusedBy = new Map<string, number>()
  manager.events.addEventListener('peer:connected', () => { accepted++; peak = Math.max(peak, manager.stats().connections) })
  manager.events.addEventListener('connection:refused', (e) => {
    refused++
    const reason = e.detail.reason
    refusedBy.set(reason, (refusedBy.get(reason) ?? 0) + 1)
  })
  manager.events.addEventListener('connection:closed', (e) => {
    if (e.detail.reason === 'trimmed') evicted++
  })

  const nodes: MemoryNode[] = []
  for (let i = 0; i < PEERS; i++) nodes.push(net.addNode(`peer-${String(i).padStart(3, '0')}`))
  // Some peers matter more: a bootstrap relay we protect, and DHT neighbours with a tag value.
  manager.protect('peer-001', 'relay')
  for (let i = 0; i < PEERS; i += 10) manager.tagPeer(nodes[i].id, 'kad', 20)

  out(`peerwarden demo — one manager, ${PEERS} virtual peers dialling in bursts of ${BURST}, lowWater ${LOW}, highWater ${HIGH}`)
  out('virtual time  connections  accepted  refused  evicted  peak')
  const row = (label: string): void => {
    const s = manager.stats()
    out(`${label.padEnd(12)}  ${String(s.connections).padStart(11)}  ${String(accepted).padStart(8)}  ${String(refused).padStart(7)}  ${String(evicted).padStart(7)}  ${String(peak).padStart(4)}`)
  }

  const start = clock.now()
  for (let b = 0; b * BURST < PEERS; b++) {
    const burst = nodes.slice(b * BURST, (b + 1) * BURST)
    // Dials take 5 ms of virtual time: start them, then let the clock run.
    const dials = Promise.allSettled(burst.map(async (n) => await n.dial(hubNode.address, { signal: new AbortController().signal })))
    await clock.advance(10)
    await dials
    // While connected, some peers are useful to us.
    for (const c of manager.listConnections()) if (c.peer.endsWith('3')) useful.bump(c.peer, 50)
    await clock.advance(8_000)
    row(`t+${Math.round((clock.now() - start) / 1000)}s`)
    if (b === 2) {
      manager.setPriority([{ peer: burst[5].id, priority: 'banned' }])
      out(`              banned ${burst[5].id}: closed at once, refused from now on`)
    }
  }
  await clock.advance(20_000)
  await manager.trim()
  row(`t+${Math.round((clock.now() - start) / 1000)}s trim()`)

  out()
  out(`The count never went above highWater: peak ${peak} <= ${HIGH}. Refusals: ${[...refusedBy].map(([r, n]) => `${n} ${r}`).join(', ')}.`)
  const kept = manager.listConnections().map((c) => c.peer)
  // "down to lowWater (22)" read as if lowWater were 22: the protected and in-grace connections are kept on top of it.
  out(`Kept after trim(): ${kept.length} connections, lowWater (${LOW}) trimmable ones plus the protected and those still in their grace period: ${kept.slice(0, 12).join(', ')}${kept.length > 12 ? ', …' : ''}`)

  const show = (peer: string, why: string): void => {
    out()
    out(`explain('${peer}') — ${why}:`)
    for (const d of manager.explain(peer).slice(-4)) out(`  t+${String(Math.round((d.at - start) / 1000)).padStart(3)}s  ${d.action.padEnd(12)} ${d.reason}`)
  }
  const trimmed = nodes.find((n) => manager.explain(n.id).some((d) => d.action === 'trim'))
  if (trimmed !== undefined) show(trimmed.id, 'evicted to make room')
  const overLimit = nodes.find((n) => manager.explain(n.id).some((d) => d.reason.startsWith('over-limit')))
  if (overLimit !== undefined) show(overLimit.id, 'refused at the bound')
  show('peer-001', 'protected under "relay"')
  show(nodes[2 * BURST + 5].id, 'banned')
  await manager.close()
  useful.close()
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
