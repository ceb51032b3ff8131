import { createNode } from '../../src/node/index.js'

// The victim of all-budgets.test.ts, in a process of its own (started with --expose-gc) so that
// its memory is measured apart from the attackers': it listens on 127.0.0.1, joins the topic, tells
// the parent where it listens, and answers 'measure' with process.memoryUsage() after two full GCs
// and node.stats().

const gc = (globalThis as { gc?: () => void }).gc
const node = await createNode({ manager: { highWater: 256 } })
await node.join('all-budgets')
process.send!({ t: 'ready', address: node.addresses[0], id: node.id })
process.on('message', (m: { t: string }) => {
  if (m.t === 'measure') {
    gc?.()
    gc?.()
    process.send!({ t: 'measured', memory: process.memoryUsage(), stats: node.stats(), connections: node.connections().length })
  } else if (m.t === 'close') {
    void node.close().then(() => { process.exit(0) })
  }
})
