/**
 * `npm run bench`: prints one JSON line per figure (medians of several runs).
 * Run a subset with `npm run bench -- churn heap`; `--report out.html` also draws every figure and
 * the spread of its rounds in one HTML page (bench/report.ts).
 */
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import { hyperswarmLimits, libp2pLimits } from './adapters.bench.js'
import { corestoreReplication } from './corestore.bench.js'
import { candidateSelection, simulationSpeed } from './dialing.bench.js'
import { admissionAtBound, churn, heap, tagging, trimLarge, type Figure } from './manager.bench.js'
import { idleConnections } from './idle.bench.js'
import { meshBroadcast, meshRequestResponse } from './mesh.bench.js'
import { meshFeatures } from './mesh-features.bench.js'
import { bulkThroughput, newConnections, topicJoin } from './node.bench.js'
import { ssbConnections } from './ssb.bench.js'
import { againstPrevious } from './previous.bench.js'
import { naiveRatios } from './reference.bench.js'
import { libp2pConnmgrRatios } from './libp2p-connmgr.bench.js'
import { renderReport, type Reported } from './report.js'

const suites: Record<string, () => Promise<Figure | Figure[]>> = {
  churn: async () => await churn(),
  tagging: async () => await tagging(),
  admission: async () => await admissionAtBound(),
  trim: async () => await trimLarge(),
  heap: async () => await heap(),
  reference: async () => await naiveRatios(),
  previous: async () => await againstPrevious(),
  'previous-gc': async () => await againstPrevious(9, true),
  'libp2p-connmgr': async () => await libp2pConnmgrRatios(),
  candidates: async () => await candidateSelection(),
  simulation: async () => await simulationSpeed(),
  connections: async () => await newConnections(),
  bulk: async () => await bulkThroughput(),
  join: async () => await topicJoin(),
  mesh: async () => await meshRequestResponse(),
  broadcast: async () => await meshBroadcast(),
  'mesh-features': async () => await meshFeatures(),
  'libp2p-limits': async () => await libp2pLimits(),
  'hyperswarm-limits': async () => await hyperswarmLimits(),
  corestore: async () => await corestoreReplication(),
  ssb: async () => await ssbConnections(),
  idle: async () => await idleConnections()
}

const args = process.argv.slice(2)
const at = args.indexOf('--report')
const reportPath = at === -1 ? undefined : args.splice(at, 2)[1]
const wanted = args
const reported: Reported[] = []
for (const [name, run] of Object.entries(suites)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue
  const out = await run()
  for (const f of Array.isArray(out) ? out : [out]) {
    console.log(JSON.stringify({ suite: name, node: process.version, ...f }))
    reported.push({ suite: name, ...f })
  }
}
if (reportPath !== undefined) {
  writeFileSync(reportPath, renderReport(reported, `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GB, ${os.platform()} ${os.release()}`))
  process.stderr.write(`bench: report written to ${reportPath}\n`)
}
// Peers (libp2p, Hyperswarm) may leave handles behind; everything was closed, so end here.
process.exit(0)
