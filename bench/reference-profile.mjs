// Profiles the timed loop of "an inbound connection at the bound" on one long-lived manager, this
// tree's or the previous release's (bench/.previous, see previous.mjs), after `npx tsc -p tsconfig.json`:
//   node --expose-gc bench/reference-profile.mjs [this|previous] [--address] [--profile out.cpuprofile]
// 10,000 connections past their grace period (highWater 10,000, tags as in evictionRatio), then 12
// rounds of 4,000 newcomers, each evicting the lowest-ranked peer; prints the CPU time and the heap
// growth per newcomer of each round. `--address`: each newcomer comes from its own public /24 (an
// inbound connection from the internet; the bench's newcomers have no address). `--profile`: a CPU
// profile of the last round only (open it in Chrome's DevTools).
import { Session } from 'node:inspector/promises'
import { writeFileSync } from 'node:fs'

const args = process.argv.slice(2)
const previous = args[0] === 'previous'
const withAddress = args.includes('--address')
const profileAt = args.includes('--profile') ? args[args.indexOf('--profile') + 1] : undefined
const base = new URL(previous ? './.previous/node_modules/peerwarden-previous/dist/' : '../build/src/', import.meta.url)
const api = await import(new URL('index.js', base).href)
const testing = await import(new URL('testing/index.js', base).href)
const gc = globalThis.gc ?? (() => {})
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }

const n = 10_000
const N = 4000
const clock = new testing.ManualClock()
const m = api.createConnectionManager({ dial: async () => { throw new Error('no dial') }, lowWater: n / 2, highWater: n, gracePeriod: 1000, clock })
for (let i = 0; i < n; i++) {
  m.connected(new testing.TestConnection({ peer: `peer-${i}`, direction: i % 2 === 0 ? 'inbound' : 'outbound', address: `tcp://127.0.0.${(i % 250) + 1}:${4000 + (i % 1000)}` }))
}
await clock.advance(2000)
m.start()
for (let i = 0; i < n; i++) m.tagPeer(`peer-${i}`, 'v', i % 97)
await clock.advance(2000)
const session = profileAt === undefined ? undefined : new Session()
session?.connect()
await session?.post('Profiler.enable')
let k = 0
for (let round = 0; round < 12; round++) {
  const incoming = Array.from({ length: N }, () => {
    const i = k++
    return new testing.TestConnection({ peer: `new-${i}`, ...(withAddress ? { address: `tcp://${20 + ((i >> 16) & 127)}.${(i >> 8) & 255}.${i & 255}.7:4001` } : {}) })
  })
  gc()
  const heap = process.memoryUsage().heapUsed
  const last = round === 11
  if (last) await session?.post('Profiler.start')
  const t0 = cpuMs()
  for (const c of incoming) if (!m.connected(c)) throw new Error('refused at the bound')
  const dt = cpuMs() - t0
  if (last && session !== undefined) writeFileSync(profileAt, JSON.stringify((await session.post('Profiler.stop')).profile))
  console.log(`${previous ? 'previous' : 'this tree'} round ${round}: ${(dt * 1000 / N).toFixed(2)} µs, ${((process.memoryUsage().heapUsed - heap) / N).toFixed(0)} B per newcomer`)
  await clock.advance(2000)
}
await m.close()
