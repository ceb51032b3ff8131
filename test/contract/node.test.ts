import { createNode, type PeerNode } from '../../src/node/index.js'
import type { NodeConnection } from '../../src/node/connection.js'
import { until } from '../helpers/wait.js'
import { connectionContract, spyManager, type ConnectedPair } from './connection.js'

// The node's connection (src/node/connection.ts) over real TCP + Noise on 127.0.0.1. The reason
// travels in a close message on the control channel (`remoteCloseReason` at the remote); `streams`
// counts the application channels (protomux), the control channel aside.

const PROTOCOL = 'contract/1'
let nodes: PeerNode[] = []
/** The NodeConnection each node's protocol hook saw, by node. */
const seen = new Map<PeerNode, NodeConnection[]>()

connectionContract({
  name: 'node',
  timeoutMs: 10_000,
  async connect (): Promise<ConnectedPair> {
    const a = await createNode({ manager: { lowWater: 0 } })
    const b = await createNode({ manager: { lowWater: 0 } })
    nodes = [a, b]
    for (const n of nodes) {
      seen.set(n, [])
      n.protocol(PROTOCOL, (conn) => { seen.get(n)!.push(conn) })
    }
    const diallerManager = spyManager(a.manager)
    const listenerManager = spyManager(b.manager)
    const outbound = await a.manager.connectNow(b.addresses[0]!)
    await until(() => b.manager.listConnections().length === 1, 5_000, 'the listener to hold the connection')
    const id = b.manager.listConnections()[0]!.id
    const inbound = listenerManager.connectedOnes.find((c) => c.id === id)!
    return { outbound, inbound, dialler: a.id, listener: b.id, diallerManager, listenerManager }
  },
  remoteReason: (pair, end) => ((end === 'outbound' ? pair.inbound : pair.outbound) as NodeConnection).remoteCloseReason,
  async openStream (pair) {
    const ends = [pair.outbound, pair.inbound] as NodeConnection[]
    const channels = ends.map((conn) => conn.mux.createChannel({ protocol: PROTOCOL }))
    for (const ch of channels) ch?.open()
    await until(() => channels.every((ch) => ch?.opened === true), 5_000, 'the channel open on both ends')
    return () => { channels[0]!.close() }
  },
  async cleanup () {
    await Promise.all(nodes.map(async (n) => { await n.close() }))
    nodes = []
    seen.clear()
  }
})
