/**
 * `npm start`: a real local network — 20 peerwarden nodes on 127.0.0.1 (TCP + Noise), one of them
 * the bootstrap, all joining one topic, with tight watermarks so that dialing, trimming and duplicate
 * resolution are visible. It serves a dashboard of the whole network (127.0.0.1, a free port) and
 * prints its address, prints how the network converges, then stops by itself (or on Ctrl-C), leaving
 * nothing running.
 *
 * Environment: PEERWARDEN_NODES (20), PEERWARDEN_SECONDS (30, the longest wait for convergence),
 * PEERWARDEN_DASHBOARD ('host:port' to choose where the dashboard listens, '0' for none). On a
 * terminal the network and its dashboard keep running after the demo until Ctrl-C; elsewhere (a pipe,
 * CI, a test) it exits by itself.
 */
import { serveDashboard, type Dashboard } from '../dashboard/index.js'
import { createNode, discoveryKey, type PeerNode } from '../node/index.js'

const NODES = Number(process.env.PEERWARDEN_NODES ?? 20)
const LOW = 3
const HIGH = 5
const TOPIC = 'peerwarden-demo'
const MAX_SECONDS = Number(process.env.PEERWARDEN_SECONDS ?? 30)
const DASHBOARD = process.env.PEERWARDEN_DASHBOARD ?? '127.0.0.1:0'
/** Kept running after the demo, until Ctrl-C: only on a terminal. */
const HOLD = process.stdout.isTTY && process.stdin.isTTY

const out = (line = ''): void => { process.stdout.write(line + '\n') }

interface Tally { dials: number; failed: number; trimmed: number; refused: number; duplicates: number; peak: number }

function watch (node: PeerNode, t: Tally): void {
  node.events.addEventListener('dial:started', () => { t.dials++ })
  node.events.addEventListener('dial:failed', () => { t.failed++ })
  node.events.addEventListener('connection:refused', (e) => {
    if (e.detail.reason === 'duplicate') t.duplicates++
    else t.refused++
  })
  node.events.addEventListener('connection:closed', (e) => {
    const reason = e.detail.reason
    if (reason === 'trimmed') t.trimmed++
    if (reason === 'duplicate') t.duplicates++
  })
  node.events.addEventListener('peer:connected', () => { t.peak = Math.max(t.peak, node.manager.stats().connections) })
}

/** Nodes reachable from the first one over live connections. */
function components (nodes: PeerNode[]): number {
  const byId = new Map(nodes.map((n) => [n.id, n]))
  const seen = new Set<string>()
  let count = 0
  for (const start of nodes) {
    if (seen.has(start.id)) continue
    count++
    const stack = [start]
    seen.add(start.id)
    while (stack.length > 0) {
      const n = stack.pop()!
      for (const c of n.connections()) {
        const m = byId.get(c.peer)
        if (m !== undefined && !seen.has(m.id)) { seen.add(m.id); stack.push(m) }
      }
    }
  }
  return count
}

async function main (): Promise<void> {
  const tally: Tally = { dials: 0, failed: 0, trimmed: 0, refused: 0, duplicates: 0, peak: 0 }
  const manager = { lowWater: LOW, highWater: HIGH, gracePeriod: 2_000, silencePeriod: 2_000 }
  const t0 = Date.now()
  const bootstrap = await createNode({ manager: { ...manager, highWater: HIGH + 3 }, refreshInterval: 3_000 })
  watch(bootstrap, tally)
  const nodes: PeerNode[] = [bootstrap]
  let stopping = false
  let dashboard: Dashboard | undefined
  const stop = async (why: string): Promise<void> => {
    if (stopping) return
    stopping = true
    out(why)
    await dashboard?.close()
    await Promise.all(nodes.map(async (n) => await n.close()))
    out(`all ${nodes.length} nodes closed; nothing left running`)
  }
  process.once('SIGINT', () => { void stop('\nCtrl-C: closing every node…').then(() => process.exit(130)) })

  out(`peerwarden — a local network of ${NODES} nodes on 127.0.0.1 (TCP + Noise XX), topic "${TOPIC}", lowWater ${LOW}, highWater ${HIGH} (bootstrap ${HIGH + 3})`)
  out(`bootstrap ${bootstrap.id.slice(0, 16)}… at ${bootstrap.addresses[0]}`)
  if (DASHBOARD !== '0') {
    // The page reads `nodes` at every interval: it shows the network forming, and the newcomers.
    dashboard = await serveDashboard(bootstrap.manager, {
      listen: DASHBOARD,
      title: `local network of ${NODES} nodes`,
      network: {
        nodes: () => nodes.map((n) => ({ id: n.id, manager: n.manager, bootstrap: n === bootstrap })),
        topicNames: () => ({ [discoveryKey(TOPIC)]: TOPIC })
      }
    })
    out(`dashboard at ${dashboard.url}#network`)
  }
  for (let i = 1; i < NODES; i++) {
    const n = await createNode({ bootstrap: [`${bootstrap.addresses[0]}#${bootstrap.id}`], manager, refreshInterval: 3_000 })
    watch(n, tally)
    nodes.push(n)
  }
  // Everybody joins at the same moment.
  await Promise.all(nodes.map(async (n) => await n.join(TOPIC)))
  out(`${NODES} nodes joined "${TOPIC}" together in ${Date.now() - t0} ms`)
  out('  time  connections min/avg/max  components  dials (failed)  trimmed  refused  duplicates')

  const row = (label: string): { counts: number[]; comps: number } => {
    const counts = nodes.map((n) => n.connections().length)
    const min = Math.min(...counts)
    const max = Math.max(...counts)
    const avg = counts.reduce((a, b) => a + b, 0) / counts.length
    const comps = components(nodes)
    out(`${label.padStart(6)}  ${String(min).padStart(11)}/${avg.toFixed(1)}/${max}  ${String(comps).padStart(10)}  ${String(tally.dials).padStart(6)} (${tally.failed})  ${String(tally.trimmed).padStart(7)}  ${String(tally.refused).padStart(7)}  ${String(tally.duplicates).padStart(10)}`)
    return { counts, comps }
  }
  /** Prints a line a second until the network is one component with every node inside the watermarks. */
  const converge = async (seconds: number): Promise<boolean> => {
    let stable = 0
    for (let s = 1; s <= seconds && !stopping; s++) {
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const { counts, comps } = row(`${Math.round((Date.now() - t0) / 1000)}s`)
      stable = comps === 1 && counts.slice(1).every((c) => c >= LOW && c <= HIGH) ? stable + 1 : 0
      if (stable >= 2) return true
    }
    return false
  }

  let ok = await converge(MAX_SECONDS)
  out(ok ? '        converged: one network, every node inside its watermarks' : '        not converged yet')

  if (!stopping) {
    out(`        + 5 newcomers join at once: full nodes evict their lowest-ranked peer for each (trimmed), or refuse while all are in grace`)
    const newcomers: PeerNode[] = []
    for (let i = 0; i < 5; i++) {
      const n = await createNode({ bootstrap: [`${bootstrap.addresses[0]}#${bootstrap.id}`], manager, refreshInterval: 3_000 })
      watch(n, tally)
      newcomers.push(n)
      nodes.push(n)
    }
    await Promise.all(newcomers.map(async (n) => await n.join(TOPIC)))
    ok = await converge(MAX_SECONDS) && ok
  }
  if (!stopping) {
    // Two nodes that are not connected dial each other at the same instant: both keep the same connection.
    const a = nodes[1]
    const b = nodes.find((n, i) => i > 1 && !a.connections().some((c) => c.peer === n.id))
    if (b !== undefined) {
      const before = tally.duplicates
      await Promise.allSettled([a.manager.connectNow(b.id), b.manager.connectNow(a.id)])
      await new Promise((resolve) => setTimeout(resolve, 200))
      const ab = a.connections().filter((c) => c.peer === b.id)
      const ba = b.connections().filter((c) => c.peer === a.id)
      out(`        two nodes dial each other at the same instant: the duplicate is closed on both sides (${tally.duplicates - before} closes), leaving ${ab.length} connection on one side (${ab[0]?.direction ?? '-'}) and ${ba.length} on the other (${ba[0]?.direction ?? '-'}): the same one`)
    }
    const squeezed = nodes[2]
    const had = squeezed.connections().length
    squeezed.manager.setWatermarks(1, 2)
    out(`        one node lowers its limits to 1/2: ${had} → ${squeezed.connections().length} connections at once (trimmed: the bound wins over its topic quota, whose min of ${Math.min(3, LOW)} now counts as 2)`)
    row(`${Math.round((Date.now() - t0) / 1000)}s`)
  }
  const counts = nodes.map((n) => n.connections().length)
  out(ok
    ? `converged: ${nodes.length} nodes, one connected network, peak connection count ${tally.peak} (bootstrap highWater ${HIGH + 3}); counts ${counts.join(' ')}`
    : `did not converge within ${MAX_SECONDS} s (counts ${counts.join(' ')})`)
  if (!ok) process.exitCode = 1
  if (HOLD && dashboard !== undefined && !stopping) {
    out(`the network and its dashboard (${dashboard.url}#network) keep running: Ctrl-C to stop`)
    return
  }
  await stop('closing every node…')
}

main().catch((err) => {
  process.stderr.write(`peerwarden network failed: ${(err as Error).message}\n`)
  process.exit(1)
})
