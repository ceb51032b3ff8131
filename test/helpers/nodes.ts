import type { TestContext } from 'node:test'
import { loadIdentity } from '../../src/node/identity.js'
import { createNode, type NodeOptions, type PeerNode } from '../../src/node/index.js'
import { NetworkKey } from '../../src/node/network-key.js'
import { TcpTransport, type TransportOptions } from '../../src/node/transport.js'
import { within } from './wait.js'

/**
 * A real node on 127.0.0.1 (the default listen address), closed when the test ends — within a
 * minute: a close that hangs fails the test (an after hook has no timeout of its own).
 */
export async function testNode (t: TestContext, options: NodeOptions = {}): Promise<PeerNode> {
  const n = await createNode(options)
  t.after(async () => { await within(n.close(), 60_000, 'node.close()') })
  return n
}

/** A bare transport with the identity of `seed` and an empty hello, closed when the test ends. */
export function testTransport (t: TestContext, seed: string, opts: Partial<TransportOptions> = {}): TcpTransport {
  const transport = new TcpTransport({
    keyPair: loadIdentity({ seed }),
    networkKey: new NetworkKey(undefined),
    hello: () => ({ listen: [], rendezvous: false, topics: [], announce: false }),
    gate: () => true,
    onInbound: () => {},
    onMessage: () => {},
    ...opts
  })
  t.after(async () => { await transport.close() })
  return transport
}
