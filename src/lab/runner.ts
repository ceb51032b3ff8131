#!/usr/bin/env node
/**
 * One lab node: a real peerwarden node (`createNode`) in the host namespace it was started in
 * (`ip netns exec <ns> node runner.js '<json>'`), reporting on stdout, one JSON object a line:
 *
 *   {"type":"ready","id":…,"addresses":[…],"advertised":[…]}      once listening
 *   {"type":"sample","at":<ms since epoch>,"connections":…,…}      every `sampleEvery` ms
 *
 * SIGTERM closes the node cleanly; the controller kills it with SIGKILL to emulate a crash. What the
 * controller sends is trusted (it made the process); the node itself treats peers as it always does.
 * The other stacks' runners (runner-hyperswarm.ts, runner-libp2p.ts) print the same lines.
 */
import { createNode } from '../node/index.js'
import { failed, print, runnerConfig, sampleLoop } from './runner-common.js'

async function main (): Promise<void> {
  const config = runnerConfig()
  const node = await createNode({
    listen: [config.listen],
    bootstrap: config.bootstrap,
    dataDir: config.dataDir,
    ...(config.announce !== undefined ? { announce: config.announce } : {}),
    ...config.nodeOptions,
    // The scenario's watermarks win over any it gave in `node.manager`; its other manager options stay.
    manager: { ...(config.nodeOptions.manager as object | undefined), lowWater: config.lowWater, highWater: config.highWater }
  })
  print({ type: 'ready', id: node.id, addresses: node.addresses, advertised: node.advertised })
  for (const t of config.topics) void node.join(t).catch(() => undefined)
  sampleLoop(config, () => {
    const s = node.stats()
    return {
      connections: s.connections,
      inbound: s.inbound,
      outbound: s.outbound,
      known: s.known,
      dials: s.dials,
      dialsFailed: s.dialsFailed,
      refusedEarly: s.refusedEarly,
      refusedRate: s.refusedRate,
      refusedPerIp: s.refusedPerIp,
      failedHandshakes: s.failedHandshakes,
      peers: [...new Set(node.connections().map((c) => c.peer))],
      inboundPeers: [...new Set(node.connections().filter((c) => c.direction === 'inbound').map((c) => c.peer))],
      advertised: node.advertised,
      reach: {
        reachability: s.reachability,
        relaysHeld: s.relaysHeld,
        relayReservations: s.relayReservations,
        relayCircuits: s.relayCircuits,
        relayCut: s.relayCut,
        relayBytes: s.relayBytes,
        dialBacksServed: s.dialBacksServed,
        dialBackAnswers: s.dialBackAnswers,
        punches: s.punches,
        punchesDirect: s.punchesDirect,
        relayedPeers: [...new Set(node.connections().filter((c) => c.address?.includes('/relay/') === true).map((c) => c.peer))]
      }
    }
  }, async () => { await node.close() })
}

main().catch(failed)
