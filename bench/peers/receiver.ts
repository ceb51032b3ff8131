/**
 * The receiving end of the two-process bulk benchmarks, run with child_process.fork:
 * `node receiver.js <peerwarden|previous|secretstream|libp2p>` (previous: the previous release, bench/previous.mjs). It listens on 127.0.0.1, tells the parent its
 * address over IPC ({ ready, address, peer? }), answers { cpu: true } with its CPU time and Mark-Compacts so far ({ cpuMs, majorGcs }),
 * and exits on 'stop' or when the parent goes away.
 */
import { exitWhenStopped, type ReceiverReady, type ReceiverRole } from './common.js'
import { countMajorGcs } from './gc-count.js'
import { holdBallast } from './heap-ballast.js'

const role = process.argv[2] as ReceiverRole
let close: (() => Promise<void>) | undefined
let ready: ReceiverReady
exitWhenStopped(async () => { await close?.() })
// An application's heap, the same for every contestant (heap-ballast.ts: a bare child's V8 cliff).
holdBallast()
const majorGcs = countMajorGcs()

if (role === 'peerwarden' || role === 'previous') {
  const { bulkReceiver } = await import('./peerwarden-bulk.js')
  const r = await bulkReceiver(role)
  close = r.close
  ready = { ready: true, address: r.address, peer: r.peer }
} else if (role === 'secretstream') {
  const { secretStreamBulkReceiver } = await import('./secret-stream.js')
  const r = await secretStreamBulkReceiver()
  close = r.close
  ready = { ready: true, address: `127.0.0.1:${r.port}` }
} else if (role === 'libp2p') {
  const { libp2pNode, handleBulk, listenAddress } = await import('./libp2p.js')
  const node = await libp2pNode()
  await handleBulk(node)
  close = async () => { await node.stop() }
  ready = { ready: true, address: listenAddress(node) }
} else {
  throw new Error(`unknown receiver role ${String(role)}`)
}

// { cpu: true } asks for this process's CPU time (ms) and Mark-Compacts so far: the coordinator's receiver figures per run.
process.on('message', (m: unknown) => {
  if ((m as { cpu?: boolean } | null)?.cpu === true) {
    const u = process.cpuUsage()
    process.send!({ cpuMs: (u.user + u.system) / 1000, majorGcs: majorGcs() })
  }
})
process.send!(ready)
