// Times, or profiles, the trim of reference.bench.ts's "trim() from n + 1 % to n − 1 %" at 10,000 on
// this tree's build, after `npx tsc -p tsconfig.json`:
//   node --expose-gc bench/trim-profile.mjs [--build dir] [--rounds 30] [--profile]
// Each round builds the bench's manager (9,900 connections, tags i % 13, a third busy, reporting
// their streams), then 10 times: 200 newcomers, their grace period passes, a full collection, one
// trim of 200 (timed in CPU time). Prints the median trim of the rounds after the first two.
// `--profile`: a CPU profile of those trims (10 µs sampling) instead, keeping only the samples
// under `TrimScheduler.trim`, by self and by inclusive share (the V8 profiler names inlined frames).
// `--build dir`: another copy of build/ (an A/B: run two copies alternately).
import { Session } from 'node:inspector/promises'

const args = process.argv.slice(2)
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt)
const base = new URL(`${opt('--build', '../build')}/`, new URL('.', import.meta.url)).href
const { filled } = await import(new URL('bench/manager.bench.js', base).href)
const { TestConnection } = await import(new URL('src/testing/index.js', base).href)
const rounds = Number(opt('--rounds', '30'))
const profiling = args.includes('--profile')
const gc = globalThis.gc ?? (() => { throw new Error('run with --expose-gc') })
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }

const n = 10_000
const low = n - n / 100
const total = n + n / 100
const busy = (i) => i % 3 === 0
const session = profiling ? new Session() : undefined
session?.connect()
await session?.post('Profiler.enable')
await session?.post('Profiler.setSamplingInterval', { interval: 10 })
const times = []
for (let round = 0; round < rounds; round++) {
  const { m, conns, clock } = await filled(low, low, total)
  conns.forEach((c, i) => { if (busy(i)) c.streams = 1; m.streamsChanged(c); m.tagPeer(c.peer, 'v', i % 13) })
  if (round === 2) await session?.post('Profiler.start')
  for (let rep = 0; rep < 10; rep++) {
    for (let i = 0; i < total - low; i++) {
      const c = new TestConnection({ peer: `fresh-${round}-${rep}-${i}`, direction: i % 2 === 0 ? 'inbound' : 'outbound', streams: busy(i) ? 1 : 0 })
      m.connected(c)
      m.streamsChanged(c)
      m.tagPeer(c.peer, 'v', i % 13)
    }
    await clock.advance(2000)
    gc()
    const t0 = cpuMs()
    const trimmed = m.trim()
    const dt = cpuMs() - t0
    await trimmed
    if (round >= 2) times.push(dt)
  }
  await m.close()
}
times.sort((a, b) => a - b)
const at = (q) => (times[Math.floor(q * (times.length - 1))] * 1000).toFixed(0)
console.log(`${base}: ${times.length} trims of 200 of 10,100: median ${at(0.5)} µs (p25 ${at(0.25)}, p75 ${at(0.75)})`)

if (session !== undefined) {
  const { profile } = await session.post('Profiler.stop')
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const isTrim = (node) => node.callFrame.functionName === 'trim' && node.callFrame.url.endsWith('trim-scheduler.js')
  const name = (node) => `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').pop()}:${node.callFrame.lineNumber + 1}`
  const self = new Map()
  const inclusive = new Map()
  let inTrim = 0
  for (const id of profile.samples) {
    const chain = []
    let trim = false
    for (let p = id; p !== undefined && !trim; p = parent.get(p)) {
      chain.push(byId.get(p))
      trim = isTrim(byId.get(p))
    }
    if (!trim) continue
    inTrim++
    self.set(name(chain[0]), (self.get(name(chain[0])) ?? 0) + 1)
    for (const key of new Set(chain.map(name))) inclusive.set(key, (inclusive.get(key) ?? 0) + 1)
  }
  const show = (label, map) => {
    for (const [key, count] of [...map].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${(100 * count / inTrim).toFixed(1).padStart(5)} % ${label} ${key}`)
  }
  console.log(`${inTrim} samples under TrimScheduler.trim`)
  show('self', self)
  show('incl', inclusive)
}
