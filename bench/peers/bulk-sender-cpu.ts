/**
 * The sending path alone, this tree against the previous release: `node build/bench/peers/bulk-sender-cpu.js
 * [rounds]` (after `node bench/previous.mjs [ref]`). Each round forks one child per build, in rotated
 * order; a child opens a SecureStream pair on 127.0.0.1 (its own build's, with the node-wide queue
 * budget where the build has one, as its transport would give it), makes the receiving socket
 * discard what arrives undecrypted, and times 64 KiB Protomux messages written with 'drain' waits:
 * its process CPU per MiB is the sender's work (sealing, framing, writing) plus the kernel's receive.
 * It prints one JSON line: the median of the per-round ratios previous / this tree (above 1: this
 * tree's sender spends less). The two-process bulk suite measures the whole node; this isolates the
 * sending path, whose CPU moves less under load than a throughput does.
 */
import { fork } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import c from 'compact-encoding'
import Protomux from 'protomux'
import { median, rotated } from './common.js'
import { previousRef } from './peerwarden-bulk.js'

const MIB_WARMUP = 400
const MIB = 2000

/** One build's SecureStream and what it needs, loaded from its own files. */
async function load (build: string): Promise<Record<string, any>> {
  const base = build === 'previous'
    ? new URL('../../../bench/.previous/node_modules/peerwarden-previous/dist/node/', import.meta.url)
    : new URL('../../../dist/node/', import.meta.url) // as it ships (`npm run build`), like the previous release
  const [ss, noise, identity, key] = await Promise.all(['secure-stream.js', 'noise.js', 'identity.js', 'network-key.js'].map(async (f) => await import(new URL(f, base).href)))
  // The node-wide queue budget, as the transport gives it to each stream, where the build has one.
  const budget = await import(new URL('queue-budget.js', base).href).catch(() => ({}))
  return { ...ss, ...noise, ...identity, ...key, ...budget }
}

/** In the child: CPU µs per MiB sent. */
async function measure (build: string): Promise<number> {
  const m = await load(build)
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const accepted = once(server, 'connection') as Promise<[net.Socket]>
  const aSocket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  const [bSocket] = await accepted
  const psk = new m.NetworkKey().psk
  const queueing = m.QueueBudget === undefined ? undefined : new m.QueueBudget(m.DEFAULT_MAX_QUEUED_BYTES_TOTAL)
  const a = new m.SecureStream(true, aSocket, { keys: m.staticKeys(m.loadIdentity({ seed: 'a' })), psk, payload: () => Buffer.from('a'), queueing })
  const b = new m.SecureStream(false, bSocket, { keys: m.staticKeys(m.loadIdentity({ seed: 'b' })), psk, payload: () => Buffer.from('b') })
  await Promise.all([a.opened, b.opened])
  bSocket.removeAllListeners('data')
  bSocket.on('data', () => {})
  a.resume()
  const mux = new Protomux(a)
  const ch = mux.createChannel({ protocol: 'sender-cpu' })!
  const msg = ch.addMessage({ encoding: c.raw })
  ch.open()
  const buf = Buffer.alloc(65536, 7)
  const run = async (mib: number): Promise<void> => {
    for (let i = 0; i < mib * 16; i++) if (!msg.send(buf)) await once(a, 'drain')
  }
  await run(MIB_WARMUP)
  const c0 = process.cpuUsage()
  await run(MIB)
  const cu = process.cpuUsage(c0)
  return (cu.user + cu.system) / MIB
}

async function child (build: string): Promise<number> {
  const p = fork(fileURLToPath(import.meta.url), [`--child=${build}`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const [m] = await once(p, 'message') as [{ cpu: number }]
  return m.cpu
}

const arg = process.argv[2] ?? ''
if (arg.startsWith('--child=')) {
  process.send!({ cpu: await measure(arg.slice('--child='.length)) })
  process.exit(0)
}
const ref = previousRef()
if (ref === undefined) {
  process.stderr.write('bench: no previous release in bench/.previous: run `node bench/previous.mjs` first\n')
  process.exit(1)
}
const rounds = Number(arg) > 0 ? Number(arg) : 5
const cpu: Record<string, number[]> = { current: [], previous: [] }
for (let r = 0; r < rounds; r++) {
  for (const build of rotated(['current', 'previous'], r)) cpu[build].push(await child(build))
}
const ratios = cpu.previous.map((p, i) => p / cpu.current[i])
console.log(JSON.stringify({
  name: `bulk sending path: CPU per MiB, previous (${ref}) / this tree`,
  value: +median(ratios).toFixed(3),
  unit: 'x',
  runs: rounds,
  note: `this tree ${Math.round(median(cpu.current))} µs/MiB, ${ref} ${Math.round(median(cpu.previous))} µs/MiB (${MIB} MiB of 64 KiB messages per run); per-round ${ratios.map((x) => x.toFixed(2)).join('/')}`
}))
