/**
 * The page's drawing code (page.ts): time charts with axes, units, time and legend, and the network
 * graph (a force layout in plain JS, fitted to its box; fast enough for a few hundred nodes). It runs
 * in the browser; what it draws from the network is set as text or attributes, never as markup.
 */
export const PAGE_CHARTS = `
const SVGNS = 'http://www.w3.org/2000/svg'
function svgEl (tag, attrs) { const e = document.createElementNS(SVGNS, tag); for (const k in attrs || {}) e.setAttribute(k, String(attrs[k])); return e }
const pad2 = (n) => String(n).padStart(2, '0')
const clock = (t) => { const d = new Date(t); return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds()) }
// A decision's time: wall-clock time, or, from a virtual clock (a simulation's, starting at 0), the time since its start.
const when = (t) => t < 1e11 ? 't+' + (t < 60000 ? (t / 1000).toFixed(1) + ' s' : Math.floor(t / 60000) + ' min ' + Math.round((t % 60000) / 1000) + ' s') : clock(t)
function niceStep (max, ticks) {
  const raw = max / ticks
  const p = Math.pow(10, Math.floor(Math.log10(raw)))
  const m = raw / p
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p
}
const fmt = (v) => Math.abs(v) >= 1000 ? (v / 1000).toFixed(v >= 10000 ? 0 : 1) + 'k' : String(+v.toFixed(2))

/** A chart of samples over time: series [{ key, label, color, dash }], the y axis in unit. */
function drawChart (box, samples, series, unit) {
  box.replaceChildren()
  const legend = document.createElement('div'); legend.className = 'legend'
  for (const s of series) {
    const item = document.createElement('span')
    const sw = document.createElement('i'); sw.style.background = s.color; if (s.dash) sw.className = 'dash'
    item.append(sw, document.createTextNode(s.label)); legend.append(item)
  }
  const svg = svgEl('svg', { role: 'img', 'aria-label': series.map((s) => s.label).join(', ') + ' (' + unit + ') over time' })
  box.append(legend, svg)
  const W = Math.max(box.clientWidth || 600, 200), H = 170, L = 44, R = 10, T = 14, B = 22
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H)
  const pts = samples.filter((s) => series.some((x) => typeof s[x.key] === 'number'))
  if (pts.length < 2) { const wait = svgEl('text', { x: L, y: H / 2 }); wait.textContent = 'collecting samples…'; svg.append(wait); return }
  const t0 = pts[0].at, t1 = pts[pts.length - 1].at
  let top = 0
  for (const p of pts) for (const s of series) if (typeof p[s.key] === 'number') top = Math.max(top, p[s.key])
  const step = niceStep(Math.max(top, 1), 4)
  top = Math.max(step, Math.ceil(top / step) * step)
  const x = (t) => L + (W - L - R) * (t1 === t0 ? 0 : (t - t0) / (t1 - t0))
  const y = (v) => H - B - (H - B - T) * v / top
  for (let v = 0; v <= top + 1e-9; v += step) {
    svg.append(svgEl('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }))
    const label = svgEl('text', { x: L - 6, y: y(v) + 3, 'text-anchor': 'end' }); label.textContent = fmt(v); svg.append(label)
  }
  const u = svgEl('text', { x: L, y: 9 }); u.textContent = unit; svg.append(u)
  const ticks = Math.max(2, Math.min(6, Math.floor((W - L - R) / 90)))
  for (let i = 0; i <= ticks; i++) {
    const t = t0 + (t1 - t0) * i / ticks
    const label = svgEl('text', { x: x(t), y: H - 6, 'text-anchor': i === 0 ? 'start' : i === ticks ? 'end' : 'middle' }); label.textContent = clock(t); svg.append(label)
    svg.append(svgEl('line', { x1: x(t), x2: x(t), y1: H - B, y2: H - B + 4, class: 'grid' }))
  }
  svg.append(svgEl('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'grid' }))
  for (const s of series) {
    const line = pts.filter((p) => typeof p[s.key] === 'number').map((p) => x(p.at).toFixed(1) + ',' + y(p[s.key]).toFixed(1))
    if (line.length < 2) continue
    const attrs = { points: line.join(' '), fill: 'none', stroke: s.color, 'stroke-width': 1.6, 'data-key': s.key }
    if (s.dash) attrs['stroke-dasharray'] = '5 4'
    svg.append(svgEl('polyline', attrs))
  }
}

/** The network graph: nodes and edges by id, positions from a force layout that cools down. */
const G = { nodes: new Map(), edges: new Map(), sel: null, alpha: 0, running: false, drawn: false, onSelect: null }
function hashAngle (id) { let h = 0; for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0; return (h % 6283) / 1000 }
function nodeClass (n) {
  if (n.outside) return 'outside'
  return n.connections > n.highWater ? 'above' : n.connections < n.lowWater ? 'below' : 'inside'
}

function graphUpdate (view) {
  const svg = document.getElementById('graph')
  if (!svg.firstChild) { svg.append(svgEl('g', { id: 'g-edges' }), svgEl('g', { id: 'g-nodes' }), svgEl('g', { id: 'g-labels' })) }
  const present = new Set()
  let changed = false
  const many = view.nodes.length > 40
  for (const n of view.nodes) {
    present.add(n.id)
    let g = G.nodes.get(n.id)
    if (!g) {
      const a = hashAngle(n.id), r = 30 + 10 * Math.sqrt(G.nodes.size)
      const near = view.edges.find((e) => e.from === n.id || e.to === n.id)
      const other = near && G.nodes.get(near.from === n.id ? near.to : near.from)
      g = { x: other ? other.x + 10 * Math.cos(a) : r * Math.cos(a), y: other ? other.y + 10 * Math.sin(a) : r * Math.sin(a), vx: 0, vy: 0, el: svgEl('circle'), label: svgEl('text') }
      const id = n.id
      g.el.addEventListener('click', () => { selectNode(id) })
      document.getElementById('g-nodes').append(g.el)
      document.getElementById('g-labels').append(g.label)
      G.nodes.set(n.id, g)
      changed = true
    }
    g.n = n
    g.el.setAttribute('r', String(4 + Math.sqrt(n.connections) * 1.6))
    g.el.setAttribute('class', nodeClass(n) + (n.bootstrap ? ' boot' : '') + (G.sel === n.id ? ' sel' : '') + (g.flash ? ' ' + g.flash : ''))
    g.el.setAttribute('data-id', n.id)
    g.el.replaceChildren(svgEl('title'))
    g.el.firstChild.textContent = n.label + ' ' + n.id + (n.outside ? ' (outside this view)' : ' · ' + n.connections + ' connections (' + n.inbound + ' in, ' + n.outbound + ' out) · lowWater ' + n.lowWater + ', highWater ' + n.highWater)
    g.label.textContent = many ? '' : n.label + (n.outside ? '' : ' ' + n.connections + '/' + n.highWater)
  }
  for (const [id, g] of G.nodes) if (!present.has(id)) { g.el.remove(); g.label.remove(); G.nodes.delete(id); changed = true }
  const edges = new Set()
  for (const e of view.edges) {
    const key = e.from + '>' + e.to
    edges.add(key)
    let g = G.edges.get(key)
    if (!g) {
      g = { el: svgEl('line'), from: e.from, to: e.to, fresh: G.drawn }
      document.getElementById('g-edges').append(g.el)
      G.edges.set(key, g)
      changed = true
      if (g.fresh) setTimeout(() => { g.fresh = false; edgeClass(g) }, 1500)
    }
    g.protected = e.protected
    edgeClass(g)
  }
  // A connection that went away fades out in red for a moment (churn), then goes.
  for (const [key, g] of G.edges) {
    if (edges.has(key)) continue
    G.edges.delete(key)
    g.el.setAttribute('class', 'gone')
    setTimeout(() => { g.el.remove() }, 1200)
    changed = true
  }
  for (const ev of view.activity || []) {
    if (ev.type === 'connection:refused') flash(ev.node, 'flash-refused')
    else if (ev.type === 'trim') flash(ev.node, 'flash-trimmed')
  }
  G.drawn = true
  if (changed) { G.alpha = Math.max(G.alpha, 0.5); if (!G.running) { G.running = true; requestFrame(tickLayout) } }
  else render()
}

function edgeClass (g) {
  const cls = []
  if (g.protected) cls.push('prot')
  if (g.fresh) cls.push('fresh')
  if (G.sel !== null) cls.push(g.from === G.sel ? 'sel-out' : g.to === G.sel ? 'sel-in' : 'faded')
  g.el.setAttribute('class', cls.join(' '))
}

function flash (id, cls) {
  const g = G.nodes.get(id)
  if (!g) return
  g.flash = cls
  g.el.classList.add(cls)
  clearTimeout(g.flashTimer)
  g.flashTimer = setTimeout(() => { g.flash = undefined; g.el.classList.remove(cls) }, 1500)
}

const requestFrame = window.requestAnimationFrame ? (f) => window.requestAnimationFrame(f) : (f) => setTimeout(f, 16)

function tickLayout () {
  const nodes = [...G.nodes.values()]
  const k = nodes.length
  // Repulsion between every pair (a few hundred nodes: tens of thousands of pairs a frame).
  for (let i = 0; i < k; i++) {
    const a = nodes[i]
    for (let j = i + 1; j < k; j++) {
      const b = nodes[j]
      let dx = a.x - b.x, dy = a.y - b.y
      let d2 = dx * dx + dy * dy
      if (d2 < 0.01) { dx = Math.random() - 0.5; dy = Math.random() - 0.5; d2 = 0.5 }
      if (d2 > 40000) continue
      const f = 120 / d2
      a.vx += dx * f; a.vy += dy * f; b.vx -= dx * f; b.vy -= dy * f
    }
  }
  for (const e of G.edges.values()) {
    const a = G.nodes.get(e.from), b = G.nodes.get(e.to)
    if (!a || !b) continue
    const dx = b.x - a.x, dy = b.y - a.y, d = Math.sqrt(dx * dx + dy * dy) || 1
    const f = (d - 28) * 0.04 / d
    a.vx += dx * f; a.vy += dy * f; b.vx -= dx * f; b.vy -= dy * f
  }
  for (const n of nodes) {
    n.vx -= n.x * 0.012; n.vy -= n.y * 0.012
    n.x += Math.max(-8, Math.min(8, n.vx * G.alpha)); n.y += Math.max(-8, Math.min(8, n.vy * G.alpha))
    n.vx *= 0.55; n.vy *= 0.55
  }
  G.alpha *= 0.97
  render()
  if (G.alpha > 0.02) requestFrame(tickLayout)
  else G.running = false
}

function render () {
  const svg = document.getElementById('graph')
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity
  for (const n of G.nodes.values()) {
    x0 = Math.min(x0, n.x); y0 = Math.min(y0, n.y); x1 = Math.max(x1, n.x); y1 = Math.max(y1, n.y)
    n.el.setAttribute('cx', n.x.toFixed(1)); n.el.setAttribute('cy', n.y.toFixed(1))
    n.label.setAttribute('x', (n.x + 7).toFixed(1)); n.label.setAttribute('y', (n.y + 3).toFixed(1))
  }
  for (const e of G.edges.values()) {
    const a = G.nodes.get(e.from), b = G.nodes.get(e.to)
    if (!a || !b) continue
    e.el.setAttribute('x1', a.x.toFixed(1)); e.el.setAttribute('y1', a.y.toFixed(1)); e.el.setAttribute('x2', b.x.toFixed(1)); e.el.setAttribute('y2', b.y.toFixed(1))
  }
  if (x0 === Infinity) return
  // Room on the right for the labels (drawn right of each node when there are few).
  const w = Math.max(x1 - x0, 120), h = Math.max(y1 - y0, 90), m = 24, right = G.nodes.size > 40 ? 0 : 40
  svg.setAttribute('viewBox', [((x0 + x1) / 2 - w / 2 - m).toFixed(1), ((y0 + y1) / 2 - h / 2 - m).toFixed(1), (w + 2 * m + right).toFixed(1), (h + 2 * m).toFixed(1)].join(' '))
}

function selectNode (id) {
  G.sel = id
  for (const [nid, g] of G.nodes) g.el.classList.toggle('sel', nid === id)
  for (const g of G.edges.values()) edgeClass(g)
  if (G.onSelect) G.onSelect(id)
}
`
