/**
 * `npm run bench`: prints one JSON line per figure (medians of several runs).
 * Run a subset with `npm run bench -- churn heap`.
 */
import { hyperswarmLimits, libp2pLimits } from './adapters.bench.js'
import { candidateSelection, simulationSpeed } from './dialing.bench.js'
import { admissionAtBound, churn, heap, tagging, trimLarge, type Figure } from './manager.bench.js'
import { meshBroadcast, meshRequestResponse } from './mesh.bench.js'
import { bulkThroughput, newConnections, topicJoin } from './node.bench.js'
import { againstPrevious } from './previous.bench.js'
import { naiveRatios } from './reference.bench.js'

const suites: Record<string, () => Promise<Figure | Figure[]>> = {
  churn: async () => await churn(),
  tagging: async () => await tagging(),
  admission: async () => await admissionAtBound(),
  trim: async () => await trimLarge(),
  heap: async () => await heap(),
  reference: async () => await naiveRatios(),
  previous: async () => await againstPrevious(),
  candidates: async () => await candidateSelection(),
  simulation: async () => await simulationSpeed(),
  connections: async () => await newConnections(),
  bulk: async () => await bulkThroughput(),
  join: async () => await topicJoin(),
  mesh: async () => await meshRequestResponse(),
  broadcast: async () => await meshBroadcast(),
  'libp2p-limits': async () => await libp2pLimits(),
  'hyperswarm-limits': async () => await hyperswarmLimits()
}

const wanted = process.argv.slice(2)
for (const [name, run] of Object.entries(suites)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue
  const out = await run()
  for (const f of Array.isArray(out) ? out : [out]) console.log(JSON.stringify({ suite: name, node: process.version, ...f }))
}
// Peers (libp2p, Hyperswarm) may leave handles behind; everything was closed, so end here.
process.exit(0)
