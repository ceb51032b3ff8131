/**
 * SVG charts for the simulation report (report.ts): a line chart with axes, ticks, units, a legend and
 * reference lines, and a drawing of a graph. Strings in, strings out; no DOM, no dependency.
 *
 * Rules:
 * - Every text is escaped (`escapeXml`); numbers are written with at most two decimals.
 * - Axes start at 0; ticks are a "nice" step (1, 2 or 5 × 10^k) giving at most about six of them, and
 *   an axis ends at the first tick at or above its largest value.
 */

/** One line of a chart. */
export interface Series {
  name: string
  color: string
  /** [x, y] points, x ascending. */
  points: Array<[number, number]>
  /** Dashed (a stroke-dasharray). */
  dash?: string
}

/** A horizontal reference line (a watermark). */
export interface Reference { value: number; label: string; color: string }

/** What `lineChart` draws. */
export interface LineChart {
  title: string
  xLabel: string
  yLabel: string
  series: Series[]
  references?: Reference[]
  width?: number
  height?: number
}

const M = { left: 56, right: 16, top: 44, bottom: 44 }

/** `&`, `<`, `>`, `"` and `'` as entities. */
export function escapeXml (text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** The smallest 1, 2 or 5 × 10^k at or above `value` (1 for 0 or less). */
export function niceStep (value: number): number {
  if (!(value > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(value))
  for (const m of [1, 2, 5, 10]) if (m * p >= value) return m * p
  return 10 * p
}

/** An axis for values up to `max`: its tick step and its end (a multiple of the step). */
export function axis (max: number): { step: number; end: number } {
  const step = niceStep(max / 5)
  return { step, end: Math.max(step, Math.ceil(max / step - 1e-9) * step) }
}

const num = (n: number): string => String(Math.round(n * 100) / 100)

/** A line chart as one `<svg>` element (role="img", its title as `<title>`). */
export function lineChart (c: LineChart): string {
  const width = c.width ?? 620
  const height = c.height ?? 260
  const w = width - M.left - M.right
  const h = height - M.top - M.bottom
  const xs = c.series.flatMap((s) => s.points.map((p) => p[0]))
  const ys = [...c.series.flatMap((s) => s.points.map((p) => p[1])), ...(c.references ?? []).map((r) => r.value)]
  const xAxis = axis(xs.reduce((a, b) => Math.max(a, b), 0))
  const yAxis = axis(ys.reduce((a, b) => Math.max(a, b), 0))
  const xMax = xAxis.end
  const yMax = yAxis.end
  const X = (x: number): number => M.left + x / xMax * w
  const Y = (y: number): number => M.top + h - y / yMax * h
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}"><title>${escapeXml(c.title)}</title>`)
  out.push(`<text x="${M.left}" y="18" class="title">${escapeXml(c.title)}</text>`)
  for (let yv = 0; yv <= yMax + 1e-9; yv += yAxis.step) {
    out.push(`<line x1="${M.left}" x2="${M.left + w}" y1="${num(Y(yv))}" y2="${num(Y(yv))}" class="grid"/>`)
    out.push(`<text x="${M.left - 6}" y="${num(Y(yv) + 4)}" class="tick" text-anchor="end">${num(yv)}</text>`)
  }
  for (let xv = 0; xv <= xMax + 1e-9; xv += xAxis.step) {
    out.push(`<text x="${num(X(xv))}" y="${M.top + h + 16}" class="tick" text-anchor="middle">${num(xv)}</text>`)
  }
  out.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + h}" class="axis"/><line x1="${M.left}" x2="${M.left + w}" y1="${M.top + h}" y2="${M.top + h}" class="axis"/>`)
  out.push(`<text x="${M.left + w / 2}" y="${height - 6}" class="label" text-anchor="middle">${escapeXml(c.xLabel)}</text>`)
  out.push(`<text transform="translate(14 ${M.top + h / 2}) rotate(-90)" class="label" text-anchor="middle">${escapeXml(c.yLabel)}</text>`)
  for (const r of c.references ?? []) {
    out.push(`<line x1="${M.left}" x2="${M.left + w}" y1="${num(Y(r.value))}" y2="${num(Y(r.value))}" stroke="${r.color}" stroke-dasharray="6 4" class="reference"/>`)
    out.push(`<text x="${M.left + w - 4}" y="${num(Y(r.value) - 4)}" class="tick" text-anchor="end" fill="${r.color}">${escapeXml(r.label)}</text>`)
  }
  for (const s of c.series) {
    const pts = s.points.map(([x, y]) => `${num(X(x))},${num(Y(y))}`).join(' ')
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.8"${s.dash !== undefined ? ` stroke-dasharray="${s.dash}"` : ''} points="${pts}" data-series="${escapeXml(s.name)}"/>`)
  }
  // The legend, in a row above the plot.
  let lx = M.left
  for (const s of c.series) {
    out.push(`<line x1="${lx}" x2="${lx + 18}" y1="32" y2="32" stroke="${s.color}" stroke-width="2.5"${s.dash !== undefined ? ` stroke-dasharray="${s.dash}"` : ''}/><text x="${lx + 22}" y="36" class="legend">${escapeXml(s.name)}</text>`)
    lx += 30 + s.name.length * 7
  }
  out.push('</svg>')
  return out.join('')
}

/** A graph to draw: nodes (bootstrap ones apart) and edges between their indexes. */
export interface GraphDrawing {
  title: string
  nodes: Array<{ id: string; bootstrap: boolean }>
  edges: Array<[number, number]>
  size?: number
}

/**
 * The graph on a circle, bootstrap nodes on a small circle in the middle, so edges to them read as
 * spokes; each node carries its id as a `<title>` (shown on hover).
 */
export function graphChart (g: GraphDrawing): string {
  const size = g.size ?? 560
  const c = size / 2
  const ring = g.nodes.filter((n) => !n.bootstrap).length
  const hub = g.nodes.length - ring
  const at: Array<[number, number]> = []
  let i = 0
  let j = 0
  for (const n of g.nodes) {
    const [r, k, of] = n.bootstrap ? [hub === 1 ? 0 : size * 0.08, j++, hub] : [size * 0.44, i++, ring]
    const a = 2 * Math.PI * k / Math.max(1, of) - Math.PI / 2
    at.push([c + r * Math.cos(a), c + 14 + r * Math.sin(a)])
  }
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" class="graph" role="img" viewBox="0 0 ${size} ${size + 28}" width="${size}" height="${size + 28}"><title>${escapeXml(g.title)}</title>`]
  out.push(`<text x="8" y="18" class="title">${escapeXml(g.title)}</text>`)
  for (const [a, b] of g.edges) {
    const toHub = g.nodes[a].bootstrap || g.nodes[b].bootstrap
    out.push(`<line x1="${num(at[a][0])}" y1="${num(at[a][1])}" x2="${num(at[b][0])}" y2="${num(at[b][1])}" class="${toHub ? 'edge hub' : 'edge'}"/>`)
  }
  g.nodes.forEach((n, k) => {
    out.push(`<circle cx="${num(at[k][0])}" cy="${num(at[k][1])}" r="${n.bootstrap ? 6 : 3}" class="${n.bootstrap ? 'node bootstrap' : 'node'}"><title>${escapeXml(n.id)}</title></circle>`)
  })
  out.push('</svg>')
  return out.join('')
}
