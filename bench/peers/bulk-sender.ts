/**
 * The sending end of the bulk benchmark, one process per contestant (child_process.fork):
 * `node bulk-sender.js <peerwarden|previous|secretstream|libp2p> <address> <chunk>`. It connects to its
 * receiver, says { ready } over IPC, then times each { run: bytes } it is asked for and answers
 * { ms, cpuMs, majorGcs } (the wall-clock time of the run, this process's CPU time and Mark-Compacts in it). Each contestant has a process of its own, so no contestant's heap, JIT state or garbage
 * touches another's runs (in one shared process, whoever ran before decided how fast the next one went).
 */
import './polyfill.js'
import type { ReceiverRole } from './common.js'
import { countMajorGcs } from './gc-count.js'
import { holdBallast } from './heap-ballast.js'

const [role, address, chunkArg] = process.argv.slice(2) as [ReceiverRole, string, string]
const chunk = Number(chunkArg)
// An application's heap, the same for every contestant (heap-ballast.ts: a bare child's V8 cliff).
holdBallast()
const majorGcs = countMajorGcs()
let sender: { send: (total: number) => Promise<number>; close: () => Promise<void> | void }

if (role === 'peerwarden' || role === 'previous') {
  const { bulkSender } = await import('./peerwarden-bulk.js')
  sender = await bulkSender(role, address, chunk)
} else if (role === 'secretstream') {
  const { secretStreamBulkSender } = await import('./secret-stream.js')
  sender = await secretStreamBulkSender(Number(address.split(':').at(-1)), chunk)
} else if (role === 'libp2p') {
  const { libp2pBulkSender } = await import('./libp2p.js')
  sender = await libp2pBulkSender(address, chunk)
} else {
  throw new Error(`unknown sender role ${String(role)}`)
}

process.on('message', (m: { run?: number; stop?: true }) => {
  if (m.stop === true) {
    const force = setTimeout(() => { process.exit(1) }, 3_000)
    force.unref()
    void Promise.resolve(sender.close()).finally(() => { process.exit(0) })
    return
  }
  if (typeof m.run === 'number') {
    // The sender's CPU time too: on a loaded machine it moves less than the wall-clock time does.
    const cpu0 = process.cpuUsage()
    const gcs0 = majorGcs()
    sender.send(m.run).then((ms) => {
      const cpu = process.cpuUsage(cpu0)
      process.send!({ ms, cpuMs: (cpu.user + cpu.system) / 1000, majorGcs: majorGcs() - gcs0 })
    }, (err: Error) => { process.send!({ error: err.message }) })
  }
})
process.on('disconnect', () => { process.exit(0) })
process.send!({ ready: true })
