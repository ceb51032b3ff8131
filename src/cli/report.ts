/**
 * `peerwarden simulate --report out.html`: one self-contained HTML page (inline CSS and SVG, no
 * script, no external asset) with what a run did over virtual time:
 * - connections per node: the 5th, 50th and 95th percentiles against the watermarks;
 * - the bootstrap nodes' load: dials they received per sample;
 * - dials, failed dials and trimmed connections per sample;
 * - the graph at the end (all nodes up to `GRAPH_NODES`, else the bootstrap nodes and an even sample);
 * - the table of minutes, as the command prints it.
 */
import type { SimNode } from '../testing/simulation.js'
import { escapeXml, graphChart, lineChart, type GraphDrawing } from './report-svg.js'

/** The run's settings the page states (a `SimulateOptions` has them). */
export interface ReportSetup { nodes: number; bootstrap: number; lowWater: number; highWater: number; latency: number; exchange: number; referrals: number; seed: number }

/** One row of the table (a `MinuteReport`). */
export interface ReportMinute { minute: number; min: number; avg: number; max: number; peak: number; oneNetwork: boolean; dials: number; failed: number; trimmed: number; bootstrapDials: number }

/** One sample of the run, every `sampleMs` of virtual time; counts are for the interval ending at `at`. */
export interface ReportSample {
  /** Virtual ms since the start. */
  at: number
  p5: number
  p50: number
  p95: number
  dials: number
  failed: number
  trimmed: number
  bootstrapDials: number
}

/** Everything the page shows. */
export interface ReportData {
  options: ReportSetup
  sampleMs: number
  samples: ReportSample[]
  minutes: ReportMinute[]
  /** After a restart: the nodes restarted, how many were back at lowWater, their dials and those to a bootstrap node. */
  restart: { nodes: number; dials: number; toBootstrap: number; atLowWater: number } | undefined
  graph: GraphDrawing & { totalNodes: number; totalEdges: number }
  wallMs: number
}

/** The most nodes the graph draws. */
export const GRAPH_NODES = 300

/** The `p`-th percentile (0–100) of `sorted` (ascending), nearest rank. */
export function percentile (sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0
  const rank = Math.ceil(p / 100 * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

/** The connections among the online nodes at the end, drawn for at most `max` nodes: the bootstrap ones, then an even sample. */
export function graphAtEnd (nodes: readonly SimNode[], max = GRAPH_NODES): ReportData['graph'] {
  const online = nodes.filter((n) => n.transport.online)
  const boot = online.filter((n) => n.bootstrap)
  const rest = online.filter((n) => !n.bootstrap)
  const room = Math.max(0, max - boot.length)
  const picked = rest.length <= room ? rest : Array.from({ length: room }, (_, k) => rest[Math.floor(k * rest.length / room)])
  const shown = [...boot, ...picked]
  const index = new Map(shown.map((n, k) => [n.id, k]))
  const edges: Array<[number, number]> = []
  let totalEdges = 0
  for (const n of online) {
    for (const c of n.transport.connections()) {
      // Each connection is seen from both ends: count and draw it from the smaller id's side.
      if (n.id > c.peer) continue
      totalEdges++
      const a = index.get(n.id)
      const b = index.get(c.peer)
      if (a !== undefined && b !== undefined) edges.push([a, b])
    }
  }
  const title = shown.length === online.length
    ? `The network at the end: ${online.length} nodes, ${totalEdges} connections`
    : `The network at the end: ${shown.length} of ${online.length} nodes, ${edges.length} of ${totalEdges} connections`
  return { title, nodes: shown.map((n) => ({ id: n.id, bootstrap: n.bootstrap })), edges, totalNodes: online.length, totalEdges }
}

const COLORS = { p5: '#d95f02', p50: '#1b9e77', p95: '#7570b3', low: '#888', high: '#c00', dials: '#1f77b4', failed: '#d62728', trimmed: '#9467bd', boot: '#e6550d' }

/** The page. */
export function reportHtml (d: ReportData): string {
  const o = d.options
  const min = (ms: number): number => ms / 60_000
  const series = (name: string, color: string, pick: (s: ReportSample) => number, dash?: string): { name: string; color: string; points: Array<[number, number]>; dash?: string } =>
    ({ name, color, points: [[0, 0], ...d.samples.map((s): [number, number] => [min(s.at), pick(s)])], ...(dash !== undefined ? { dash } : {}) })
  const per = `per ${d.sampleMs / 1000} s`
  const charts = [
    lineChart({
      title: 'Connections per node: percentiles against the watermarks',
      xLabel: 'virtual minutes',
      yLabel: 'connections',
      series: [series('p5', COLORS.p5, (s) => s.p5), series('p50 (median)', COLORS.p50, (s) => s.p50), series('p95', COLORS.p95, (s) => s.p95)],
      references: [{ value: o.lowWater, label: `lowWater ${o.lowWater}`, color: COLORS.low }, { value: o.highWater, label: `highWater ${o.highWater}`, color: COLORS.high }]
    }),
    lineChart({ title: `Bootstrap load: dials the ${o.bootstrap} bootstrap node${o.bootstrap === 1 ? '' : 's'} received, ${per}`, xLabel: 'virtual minutes', yLabel: `dials ${per}`, series: [series('dials to bootstrap nodes', COLORS.boot, (s) => s.bootstrapDials)] }),
    lineChart({
      title: `Dials, failures and trims, ${per}`,
      xLabel: 'virtual minutes',
      yLabel: per,
      series: [series('dials', COLORS.dials, (s) => s.dials), series('failed dials', COLORS.failed, (s) => s.failed), series('trimmed connections', COLORS.trimmed, (s) => s.trimmed, '5 3')]
    })
  ]
  const rows = d.minutes.map((m) => `<tr><td>${m.minute}</td><td>${m.min}</td><td>${m.avg}</td><td>${m.max}</td><td>${m.peak}</td><td>${m.oneNetwork ? 'yes' : 'no'}</td><td>${m.dials}</td><td>${m.failed}</td><td>${m.trimmed}</td><td>${m.bootstrapDials}</td></tr>`).join('\n')
  const restart = d.restart === undefined
    ? ''
    : `<p class="restart">Restarted ${d.restart.nodes} nodes with their peer stores: ${d.restart.atLowWater} of them back at lowWater within a minute; they dialled ${d.restart.dials} times, ${d.restart.toBootstrap} of them a bootstrap node.</p>`
  const setup = `${o.nodes} nodes (${o.bootstrap} bootstrap), lowWater ${o.lowWater}, highWater ${o.highWater}, dial latency ${o.latency} ms, peer exchange ${o.exchange}, referrals ${o.referrals}, seed ${o.seed}`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>peerwarden simulate: ${escapeXml(`${o.nodes} nodes, ${d.minutes.length} virtual minutes`)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1320px; padding: 0 16px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; }
.setup { color: #555; margin: 0 0 16px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure { margin: 0; max-width: 620px; }
figcaption { color: #555; font-size: 12px; margin-top: 4px; }
svg { background: #fff; border: 1px solid #ddd; border-radius: 6px; max-width: 100%; height: auto; }
svg .title { font-weight: 600; font-size: 13px; }
svg .tick, svg .legend { font-size: 11px; fill: #444; }
svg .label { font-size: 11px; fill: #666; }
svg .grid { stroke: #eee; }
svg .axis { stroke: #999; }
svg .edge { stroke: #1b9e77; stroke-opacity: 0.25; }
svg .edge.hub { stroke: #e6550d; stroke-opacity: 0.35; }
svg .node { fill: #1b9e77; }
svg .node.bootstrap { fill: #e6550d; }
table { border-collapse: collapse; margin: 16px 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #eee; padding: 4px 10px; text-align: right; }
th { font-weight: 600; }
</style>
</head>
<body>
<h1>peerwarden simulate</h1>
<p class="setup">${escapeXml(setup)}. ${d.minutes.length} virtual minute${d.minutes.length === 1 ? '' : 's'} in ${(d.wallMs / 1000).toFixed(1)} s; a sample every ${d.sampleMs / 1000} virtual seconds.</p>
<div class="charts">
${charts.join('\n')}
<figure>${graphChart(d.graph)}<figcaption>Bootstrap nodes in the middle (orange), the others on the circle${d.graph.nodes.length < d.graph.totalNodes ? `; drawn: the bootstrap nodes and an even sample of the others, with the connections among them` : ''}.</figcaption></figure>
</div>
<table>
<thead><tr><th>minute</th><th>min</th><th>avg</th><th>max</th><th>peak</th><th>one network</th><th>dials</th><th>failed</th><th>trimmed</th><th>bootstrap dials</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
${restart}
</body>
</html>
`
}
