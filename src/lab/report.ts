import { natKinds } from './scenario.js'
import type { LabEvent, LabResult, NodeSample } from './types.js'

/**
 * The report of a run: one self-contained HTML page (inline SVG, no script, no external asset)
 * drawn from the result, which it also carries as JSON.
 *
 * Charts: connections per node over time against the watermarks (bootstrap nodes drawn apart), the
 * connections crossing a partition, dials and failures, bootstrap load, bytes per host. Every chart
 * marks the timeline's events.
 */
export function renderReport (r: LabResult): string {
  const m = r.measures
  const end = r.events.find((e) => e.kind === 'end')?.t ?? Math.max(0, ...r.samples.map((s) => s.t))
  const byNode = new Map<number, NodeSample[]>()
  for (const s of r.samples) byNode.set(s.node, [...(byNode.get(s.node) ?? []), s])
  const bootstrap = new Set(r.nodes.filter((n) => n.bootstrap).map((n) => n.index))
  const seconds = (ms: number | null): string => ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`

  const connections = chart({
    title: 'Connections per node',
    end,
    events: r.events,
    yMax: Math.max(r.scenario.highWater + 1, m.maxConnections),
    rules: [{ y: r.scenario.lowWater, label: `lowWater ${r.scenario.lowWater}` }, { y: r.scenario.highWater, label: `highWater ${r.scenario.highWater}` }],
    marks: m.convergedAt === null ? [] : [{ t: m.convergedAt, label: 'converged' }],
    series: [...byNode].map(([node, list]) => ({
      label: `node ${node}`,
      color: bootstrap.has(node) ? '#d62728' : palette(node),
      width: bootstrap.has(node) ? 2 : 1,
      points: lives(list).map((life) => life.map((s) => [s.t, s.connections] as [number, number]))
    }))
  })
  const dialSeries = cumulative(byNode)
  const dials = chart({
    title: 'Dials and failed dials (all nodes)',
    end,
    events: r.events,
    yMax: Math.max(1, ...dialSeries.dials.map((p) => p[1])),
    rules: [],
    series: [
      { label: 'dials', color: '#1f77b4', width: 2, points: [dialSeries.dials] },
      { label: 'failed', color: '#d62728', width: 2, points: [dialSeries.failed] }
    ]
  })
  const boot = chart({
    title: 'Bootstrap load (connections of each bootstrap node)',
    end,
    events: r.events,
    yMax: Math.max(1, m.bootstrapPeak),
    rules: [],
    series: [...byNode].filter(([n]) => bootstrap.has(n)).map(([node, list]) => ({
      label: `node ${node}`, color: palette(node), width: 2, points: lives(list).map((l) => l.map((s) => [s.t, s.connections] as [number, number]))
    }))
  })
  const cross = crossingSeries(r)
  const partition = cross === undefined
    ? ''
    : chart({
        title: 'Connections across the partition',
        end,
        events: r.events,
        yMax: Math.max(1, ...cross.map((p) => p[1])),
        rules: [],
        series: [{ label: 'across', color: '#9467bd', width: 2, points: [cross] }],
        marks: m.partitions.flatMap((p) => [
          ...(p.detectedAfter !== null ? [{ t: p.at + p.detectedAfter, label: 'detected' }] : []),
          ...(p.healedAt !== null && p.healedAfter !== null ? [{ t: p.healedAt + p.healedAfter, label: 'whole' }] : [])
        ])
      })
  const maxBytes = Math.max(1, ...m.bytes.map((b) => Math.max(b.rx, b.tx)))
  const bytes = bars('Bytes per host (interface counters: received in blue, sent in orange)', m.bytes.map((b) => ({ label: `host ${b.host}${r.hosts[b.host]?.nat !== undefined ? ' (NAT)' : ''}`, values: [b.rx, b.tx] })), maxBytes, ['#1f77b4', '#ff7f0e'])
  const reachMax = Math.max(1, m.nat.connections.relayed, m.nat.connections.direct, ...m.nat.kinds.map((k) => k.punches))
  const reach = m.nat.nodes === 0
    ? ''
    : bars('Behind NAT: connections at the end (direct in blue, through a relay in orange), and hole punches per NAT kind (begun in blue, direct in orange)', [
        { label: 'connections', values: [m.nat.connections.direct, m.nat.connections.relayed] },
        ...m.nat.kinds.map((k) => ({ label: `punches, ${k.kind}`, values: [k.punches, k.punchesDirect] }))
      ], reachMax, ['#1f77b4', '#ff7f0e'])

  const rows: Array<[string, string]> = [
    ['Hosts', `${r.hosts.length} (${r.hosts.filter((h) => h.nat !== undefined).length} behind NAT${r.scenario.nat !== undefined ? `, ${natKinds(r.scenario.nat).join(' and ')}` : ''})`],
    ['Nodes', `${r.nodes.length} (${bootstrap.size} bootstrap)`],
    ['Watermarks', `${r.scenario.lowWater} / ${r.scenario.highWater}; target ${m.target} connections per node`],
    ['Every node started after', seconds(m.readyAt)],
    ['Converged (all at target) after the start', seconds(m.convergedAfter)],
    ['Most connections of a node', `${m.maxConnections} (${m.aboveHighWater} samples above highWater)`],
    ['Dials', `${m.dials} (${m.dialsFailed} failed)`],
    ['Refused for a per-IP budget', String(m.refusedPerIp)],
    ['Bootstrap peak', `${m.bootstrapPeak} connections`],
    ...(m.nat.nodes > 0 ? [['Nodes behind NAT', `${m.nat.nodes}: ${m.nat.reached} reached from another host, ${m.nat.dialledOut} connected out, ${m.nat.relayed} held a relayed connection, ${m.nat.natPeers} connected to a node behind another NAT (${m.nat.natDirect} directly)`] as [string, string]] : []),
    ...(m.nat.nodes > 0 ? [['Connections of the NATed nodes at the end', `${m.nat.connections.direct} direct, ${m.nat.connections.relayed} through a relay`] as [string, string]] : []),
    ...m.nat.kinds.map((k): [string, string] => [`Hole punches (${k.kind} NAT)`, `${k.punchesDirect} of ${k.punches} gave a direct connection${k.punches > 0 ? ` (${Math.round(100 * k.punchesDirect / k.punches)} %)` : ''}, ${k.nodes} nodes`]),
    ...m.partitions.map((p, i): [string, string] => [`Partition ${i + 1} (hosts ${p.hosts.join(', ')})`, `detected after ${seconds(p.detectedAfter)}; healed ${seconds(p.healedAfter)} after the link returned`]),
    ...m.restarts.map((x): [string, string] => [`Restart of node ${x.node}`, `${x.returned} of ${x.before.length} previous peers back within 10 s; first peers ${x.first.join(', ') || 'none'} (${x.firstBootstrap} bootstrap)`])
  ]
  const json = JSON.stringify(r).replace(/</g, '\\u003c')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>peerwarden lab: ${esc(r.scenario.name)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1000px;color:#222}table{border-collapse:collapse}td{padding:2px 12px 2px 0;vertical-align:top}td:first-child{color:#555}svg{display:block;margin:1em 0}h2{font-size:16px;margin-top:2em}</style>
</head><body>
<h1>peerwarden lab: ${esc(r.scenario.name)}</h1>
<p>${esc(r.scenario.description)}</p>
<p>Run ${esc(r.run)}, ${esc(new Date(r.startedAt).toISOString())}. Times are seconds since the first node process started; dashed lines mark the timeline's events.</p>
<table>${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</table>
${connections}${partition}${dials}${boot}${reach}${bytes}
<h2>Data</h2><p>The JSON this page was drawn from (also result.json beside it):</p>
<script type="application/json" id="lab-result">${json}</script>
</body></html>
`
}

interface Series { label: string; color: string; width: number; points: Array<Array<[number, number]>> }

const W = 900
const H = 260
const PAD = { l: 50, r: 130, t: 30, b: 30 }

function chart (c: { title: string; end: number; events: LabEvent[]; yMax: number; rules: Array<{ y: number; label: string }>; series: Series[]; marks?: Array<{ t: number; label: string }> }): string {
  const x = (t: number): number => PAD.l + (W - PAD.l - PAD.r) * Math.max(0, t) / Math.max(1, c.end)
  const y = (v: number): number => H - PAD.b - (H - PAD.t - PAD.b) * v / Math.max(1, c.yMax)
  const out: string[] = [`<h2>${esc(c.title)}</h2><svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(c.title)}">`]
  out.push(`<line x1="${PAD.l}" y1="${y(0)}" x2="${W - PAD.r}" y2="${y(0)}" stroke="#888"/><line x1="${PAD.l}" y1="${PAD.t}" x2="${PAD.l}" y2="${y(0)}" stroke="#888"/>`)
  for (const v of ticks(c.yMax)) out.push(`<text x="${PAD.l - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${v}</text>`)
  for (const s of ticks(c.end / 1000)) out.push(`<text x="${x(s * 1000)}" y="${H - PAD.b + 16}" text-anchor="middle" font-size="11">${s}s</text>`)
  for (const e of c.events) {
    if (e.kind === 'started' || e.kind === 'converged') continue // convergence has its own mark
    out.push(`<line x1="${x(e.t)}" y1="${PAD.t}" x2="${x(e.t)}" y2="${y(0)}" stroke="#999" stroke-dasharray="4 3"/><text x="${x(e.t) + 2}" y="${PAD.t - 4}" font-size="10" fill="#555">${esc(e.kind)}</text>`)
  }
  for (const k of c.marks ?? []) out.push(`<line x1="${x(k.t)}" y1="${PAD.t}" x2="${x(k.t)}" y2="${y(0)}" stroke="#2ca02c" stroke-width="2"/><text x="${x(k.t) + 3}" y="${PAD.t + 12}" font-size="10" fill="#2ca02c">${esc(k.label)}</text>`)
  for (const r of c.rules) out.push(`<line x1="${PAD.l}" y1="${y(r.y)}" x2="${W - PAD.r}" y2="${y(r.y)}" stroke="#2ca02c" stroke-dasharray="6 3"/><text x="${W - PAD.r + 4}" y="${y(r.y) + 4}" font-size="11" fill="#2ca02c">${esc(r.label)}</text>`)
  for (const s of c.series) {
    for (const pts of s.points) {
      if (pts.length === 0) continue
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="${s.width}" stroke-opacity="0.8" points="${pts.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"><title>${esc(s.label)}</title></polyline>`)
    }
  }
  if (c.series.length <= 8) c.series.forEach((s, i) => out.push(`<text x="${W - PAD.r + 4}" y="${PAD.t + 40 + 14 * i}" font-size="11" fill="${s.color}">${esc(s.label)}</text>`))
  out.push('</svg>')
  return out.join('')
}

function bars (title: string, items: Array<{ label: string; values: number[] }>, max: number, colors: string[]): string {
  const row = 16
  const height = PAD.t + items.length * row * 1.5 + 10
  const w = (v: number): number => (W - 300) * v / max
  const out = [`<h2>${esc(title)}</h2><svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" role="img" aria-label="${esc(title)}">`]
  items.forEach((it, i) => {
    const top = PAD.t + i * row * 1.5
    out.push(`<text x="90" y="${top + 12}" text-anchor="end" font-size="11">${esc(it.label)}</text>`)
    it.values.forEach((v, k) => out.push(`<rect x="100" y="${top + k * (row / 2)}" width="${w(v).toFixed(1)}" height="${row / 2 - 1}" fill="${colors[k]}"><title>${v} bytes</title></rect>`))
    out.push(`<text x="${104 + w(Math.max(...it.values))}" y="${top + 12}" font-size="11">${it.values.map(kb).join(' / ')}</text>`)
  })
  out.push('</svg>')
  return out.join('')
}

/** A node's samples split at each restart (its counters go back to 0 and it leaves a gap). */
function lives (list: NodeSample[]): NodeSample[][] {
  const out: NodeSample[][] = [[]]
  for (const s of list) {
    const cur = out[out.length - 1]
    const prev = cur[cur.length - 1]
    if (prev !== undefined && (s.dials < prev.dials || s.t - prev.t > 3000)) out.push([])
    out[out.length - 1].push(s)
  }
  return out
}

/** Dials and failures of all nodes over time (each node's latest count, its lives summed). */
function cumulative (byNode: Map<number, NodeSample[]>): { dials: Array<[number, number]>; failed: Array<[number, number]> } {
  const all = [...byNode.values()].flat().sort((a, b) => a.t - b.t)
  const node = new Map<number, { base: [number, number]; now: [number, number] }>()
  const dials: Array<[number, number]> = []
  const failed: Array<[number, number]> = []
  for (const s of all) {
    const n = node.get(s.node) ?? { base: [0, 0], now: [0, 0] }
    // A new life counts from 0 again: keep what the last one reached.
    if (s.dials < n.now[0]) n.base = [n.base[0] + n.now[0], n.base[1] + n.now[1]]
    n.now = [s.dials, s.dialsFailed]
    node.set(s.node, n)
    let d = 0
    let f = 0
    for (const x of node.values()) { d += x.base[0] + x.now[0]; f += x.base[1] + x.now[1] }
    dials.push([s.t, d])
    failed.push([s.t, f])
  }
  return { dials, failed }
}

/** Connections crossing the partition over time (each side's count, from each node's latest sample), or undefined without a partition. */
function crossingSeries (r: LabResult): Array<[number, number]> | undefined {
  const parts = r.events.filter((e) => e.kind === 'partition')
  if (parts.length === 0) return undefined
  const members = new Set(parts[0].nodes ?? [])
  const idToNode = new Map(r.nodes.map((n) => [n.id, n.index]))
  const latest = new Map<number, number>()
  const out: Array<[number, number]> = []
  for (const s of [...r.samples].sort((a, b) => a.t - b.t)) {
    latest.set(s.node, s.peers.filter((p) => { const o = idToNode.get(p); return o !== undefined && members.has(o) !== members.has(s.node) }).length)
    let sum = 0
    for (const v of latest.values()) sum += v
    out.push([s.t, sum / 2])
  }
  return out
}

function ticks (max: number): number[] {
  const step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000].find((s) => max / s <= 8) ?? Math.ceil(max / 8)
  const out: number[] = []
  for (let v = 0; v <= max; v += step) out.push(v)
  return out
}

function kb (n: number): string { return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB` }

function palette (i: number): string { return `hsl(${(i * 137) % 360} 55% 45%)` }

function esc (s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)
}

/** What every node (bootstrap nodes aside) held at each second after `readyAt`: the fewest and the mean connections, from each node's latest sample. */
function spread (r: LabResult): { min: Array<[number, number]>; mean: Array<[number, number]> } {
  const boot = new Set(r.nodes.filter((n) => n.bootstrap).map((n) => n.index))
  const end = r.events.find((e) => e.kind === 'end')?.t ?? Math.max(0, ...r.samples.map((s) => s.t))
  const sorted = r.samples.filter((s) => !boot.has(s.node)).sort((a, b) => a.t - b.t)
  const latest = new Map<number, NodeSample>()
  const min: Array<[number, number]> = []
  const mean: Array<[number, number]> = []
  let i = 0
  for (let t = r.measures.readyAt; t <= end; t += 1000) {
    while (i < sorted.length && sorted[i].t <= t) { latest.set(sorted[i].node, sorted[i]); i++ }
    // A node silent for three sample periods is down (killed): it does not count.
    const live = [...latest.values()].filter((s) => t - s.t <= 3 * r.scenario.sampleEvery).map((s) => s.connections)
    if (live.length === 0) continue
    min.push([t - r.measures.readyAt, Math.min(...live)])
    mean.push([t - r.measures.readyAt, live.reduce((a, b) => a + b, 0) / live.length])
  }
  return { min, mean }
}

/**
 * One page putting runs of the same scenario on different stacks side by side: a table of their
 * figures (time to converge, connections against the watermarks, dials, bytes, partition
 * detection) and charts of the fewest and mean connections per node and of dials, each run's time
 * counted from the moment every one of its nodes had started (so a stack that starts slower is not
 * charged for it twice).
 */
export function renderComparison (results: readonly LabResult[]): string {
  const seconds = (ms: number | null): string => ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd']
  const s0 = results[0]?.scenario
  const end = Math.max(1, ...results.map((r) => (r.events.find((e) => e.kind === 'end')?.t ?? 0) - r.measures.readyAt))
  const spreads = results.map(spread)
  const conns = chart({
    title: 'Connections of the nodes (bootstrap aside) after every node started: fewest (thick) and mean (thin)',
    end,
    events: [],
    yMax: Math.max(s0?.highWater ?? 1, ...results.map((r) => r.measures.maxConnections)) + 1,
    rules: s0 === undefined ? [] : [{ y: s0.lowWater, label: `lowWater ${s0.lowWater}` }, { y: s0.highWater, label: `highWater ${s0.highWater}` }],
    series: results.flatMap((r, i) => [
      { label: `${r.scenario.stack} fewest`, color: colors[i % 4], width: 3, points: [spreads[i].min] },
      { label: `${r.scenario.stack} mean`, color: colors[i % 4], width: 1, points: [spreads[i].mean] }
    ])
  })
  const dials = chart({
    title: 'Dials of all nodes together, after every node started',
    end,
    events: [],
    yMax: Math.max(1, ...results.map((r) => r.measures.dials)),
    rules: [],
    series: results.map((r, i) => {
      const byNode = new Map<number, NodeSample[]>()
      for (const s of r.samples) byNode.set(s.node, [...(byNode.get(s.node) ?? []), s])
      const d = cumulative(byNode).dials.filter(([t]) => t >= r.measures.readyAt).map(([t, v]): [number, number] => [t - r.measures.readyAt, v])
      return { label: r.scenario.stack, color: colors[i % 4], width: 2, points: [d] }
    })
  })
  const bytes = (r: LabResult): string => kb(r.measures.bytes.reduce((a, b) => a + b.rx + b.tx, 0) / 2)
  const rows: Array<[string, (r: LabResult) => string]> = [
    ['Every node started after', (r) => seconds(r.measures.readyAt)],
    ['Converged (all at target) after the start', (r) => seconds(r.measures.convergedAfter)],
    ['Most connections of a node', (r) => `${r.measures.maxConnections} (${r.measures.aboveHighWater} samples above highWater)`],
    ['Dials', (r) => `${r.measures.dials} (${r.measures.dialsFailed} failed)`],
    ['Bootstrap peak', (r) => `${r.measures.bootstrapPeak} connections`],
    ['Bytes between hosts', bytes],
    ...Array.from({ length: Math.max(0, ...results.map((r) => r.measures.partitions.length)) }, (_, k): [string, (r: LabResult) => string] => [
      `Partition ${k + 1}: detected after; whole again after the heal`,
      (r) => { const p = r.measures.partitions[k]; return p === undefined ? '' : `${seconds(p.detectedAfter)}; ${seconds(p.healedAfter)}` }
    ])
  ]
  const json = JSON.stringify(results).replace(/</g, '\\u003c')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>peerwarden lab: ${esc(s0?.name ?? '')} side by side</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1000px;color:#222}table{border-collapse:collapse}td,th{padding:2px 12px 2px 0;vertical-align:top;text-align:left}td:first-child{color:#555}svg{display:block;margin:1em 0}h2{font-size:16px;margin-top:2em}</style>
</head><body>
<h1>peerwarden lab: ${esc(s0?.name ?? '')}, side by side</h1>
<p>${esc(s0?.description ?? '')} ${s0 === undefined ? '' : `${s0.nodes} nodes on ${s0.hosts} hosts, watermarks ${s0.lowWater} / ${s0.highWater}.`} Each stack's own report is in its folder beside this page.</p>
<table><tr><th></th>${results.map((r) => `<th>${esc(r.scenario.stack)}</th>`).join('')}</tr>
${rows.map(([k, f]) => `<tr><td>${esc(k)}</td>${results.map((r) => `<td>${esc(f(r))}</td>`).join('')}</tr>`).join('\n')}</table>
${conns}${dials}
<h2>Data</h2>
<script type="application/json" id="lab-results">${json}</script>
</body></html>
`
}
