/**
 * The dashboard's one page: plain HTML, CSS and script, no external assets (it works offline and on a
 * machine without a CDN). It reads the server's event stream (`/events`: a 'snapshot' every interval,
 * a 'manager' message per manager event) and asks `/api/explain?peer=…` when a peer is clicked.
 * Everything that comes from the network (ids, addresses, reasons) is set as text, never as HTML.
 */
export function dashboardPage (title: string): string {
  return PAGE.replaceAll('__TITLE__', escapeHtml(title))
}

function escapeHtml (s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__ · peerwarden</title>
<style>
  :root { --bg: #0f1419; --panel: #171d24; --line: #263040; --text: #d6dde6; --dim: #7d8a9a; --ok: #4cc38a; --warn: #e5b454; --bad: #e5636b; --accent: #5aa9e6; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, Segoe UI, sans-serif; background: var(--bg); color: var(--text); }
  header { display: flex; align-items: center; gap: 12px; padding: 14px 20px; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 16px; margin: 0; font-weight: 600; }
  #live { width: 10px; height: 10px; border-radius: 50%; background: var(--bad); }
  #live.on { background: var(--ok); }
  #when { color: var(--dim); margin-left: auto; font-variant-numeric: tabular-nums; }
  main { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; padding: 16px 20px; }
  section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; min-width: 0; }
  section h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: var(--dim); margin: 0 0 10px; font-weight: 600; }
  .wide { grid-column: 1 / -1; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(120px, 1fr)); gap: 10px; }
  .card { padding: 8px 10px; border: 1px solid var(--line); border-radius: 6px; }
  .card .v { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
  .card .k { color: var(--dim); font-size: 12px; }
  .bar { position: relative; height: 8px; background: var(--line); border-radius: 4px; margin-top: 10px; }
  .bar .fill { position: absolute; left: 0; top: 0; bottom: 0; background: var(--accent); border-radius: 4px; }
  .bar .mark { position: absolute; top: -3px; bottom: -3px; width: 2px; background: var(--warn); }
  svg { width: 100%; height: 90px; display: block; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 260px; }
  th { color: var(--dim); font-weight: 500; font-size: 12px; }
  tbody tr { cursor: pointer; }
  tbody tr:hover { background: #1e2631; }
  .scroll { max-height: 360px; overflow: auto; }
  .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
  .in { color: var(--accent); } .out { color: var(--ok); }
  .ev-trim, .ev-refused, .ev-closed { color: var(--warn); } .ev-failed { color: var(--bad); } .ev-connected { color: var(--ok); }
  #explain .empty, .empty { color: var(--dim); }
  ol { margin: 0; padding-left: 18px; }
</style>
</head>
<body>
<header><span id="live" title="event stream"></span><h1>__TITLE__</h1><span id="when">connecting…</span></header>
<main>
  <section class="wide">
    <h2>Connections</h2>
    <div class="cards" id="cards"></div>
    <div class="bar" title="connections against highWater"><div class="fill" id="fill"></div><div class="mark" id="lowmark" title="lowWater"></div></div>
    <svg id="spark" viewBox="0 0 300 90" preserveAspectRatio="none"></svg>
  </section>
  <section>
    <h2>Connected peers <span id="npeers" class="empty"></span></h2>
    <div class="scroll"><table><thead><tr><th>peer</th><th>dir</th><th>value</th><th>protected</th><th>for</th></tr></thead><tbody id="peers"></tbody></table></div>
  </section>
  <section>
    <h2>Events</h2>
    <div class="scroll"><table><tbody id="events"></tbody></table></div>
  </section>
  <section class="wide" id="explain"><h2>Why (explain)</h2><div class="empty">Click a peer to see what the manager decided about it, and why.</div></section>
</main>
<script>
const $ = (id) => document.getElementById(id)
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e }
const short = (id) => id === undefined || id === null ? '—' : (id.length > 16 ? id.slice(0, 8) + '…' + id.slice(-4) : id)
const ago = (ms) => ms < 1000 ? Math.round(ms) + ' ms' : ms < 60000 ? Math.round(ms / 1000) + ' s' : ms < 3600000 ? Math.round(ms / 60000) + ' min' : Math.round(ms / 3600000) + ' h'
const history = []
let lastAt = 0

function cards (s) {
  const box = $('cards'); box.replaceChildren()
  for (const [k, v] of [['connections', s.connections], ['inbound', s.inbound], ['outbound', s.outbound], ['lowWater / highWater', s.lowWater + ' / ' + s.highWater], ['known peers', s.known], ['dialing', s.dialing], ['protected', s.protected], ['banned', s.banned]]) {
    const c = el('div', undefined, 'card'); c.append(el('div', v, 'v'), el('div', k, 'k')); box.append(c)
  }
  const top = Math.max(s.highWater, s.connections, 1)
  $('fill').style.width = (100 * s.connections / top) + '%'
  $('fill').style.background = s.connections > s.highWater ? 'var(--bad)' : 'var(--accent)'
  $('lowmark').style.left = (100 * s.lowWater / top) + '%'
}

function spark () {
  const svg = $('spark'); svg.replaceChildren()
  if (history.length < 2) return
  const t0 = history[0].at, t1 = history[history.length - 1].at
  const top = Math.max(...history.map((h) => Math.max(h.c, h.high)), 1)
  const x = (t) => t1 === t0 ? 0 : 300 * (t - t0) / (t1 - t0)
  const y = (v) => 86 - 80 * v / top
  const line = (pts, color, dash) => {
    const p = document.createElementNS('http://www.w3.org/2000/svg', 'polyline')
    p.setAttribute('points', pts.map(([a, b]) => a.toFixed(1) + ',' + b.toFixed(1)).join(' '))
    p.setAttribute('fill', 'none'); p.setAttribute('stroke', color); p.setAttribute('stroke-width', '1.5'); p.setAttribute('vector-effect', 'non-scaling-stroke')
    if (dash) p.setAttribute('stroke-dasharray', '4 3')
    svg.append(p)
  }
  line(history.map((h) => [x(h.at), y(h.high)]), 'var(--warn)', true)
  line(history.map((h) => [x(h.at), y(h.low)]), 'var(--dim)', true)
  line(history.map((h) => [x(h.at), y(h.c)]), 'var(--accent)')
}

function peers (list, at) {
  const body = $('peers'); body.replaceChildren()
  $('npeers').textContent = '(' + list.length + ')'
  for (const c of [...list].sort((a, b) => b.value - a.value)) {
    const tr = el('tr')
    tr.append(el('td', short(c.peer), 'mono'), el('td', c.direction === 'inbound' ? 'in' : 'out', c.direction === 'inbound' ? 'in' : 'out'), el('td', c.value), el('td', c.protected ? 'yes' : ''), el('td', ago(at - c.openedAt)))
    tr.title = c.peer + (c.address ? ' at ' + c.address : '')
    tr.onclick = () => explain(c.peer)
    body.append(tr)
  }
}

const KIND = { 'peer:connected': 'connected', 'peer:disconnected': 'disconnected', 'connection:refused': 'refused', 'connection:closed': 'closed', 'dial:failed': 'failed', 'dial:started': 'dial', trim: 'trim', 'peer:priority': 'priority', 'store:error': 'failed' }
function event (m) {
  const body = $('events')
  const kind = KIND[m.type] || m.type
  const tr = el('tr')
  const what = m.type === 'trim' ? 'trim: ' + m.closed + ' closed (' + m.reason + ')' : kind + (m.reason ? ' (' + m.reason + ')' : '') + (m.error ? ': ' + m.error : '') + (m.priority ? ': ' + m.priority : '')
  tr.append(el('td', new Date(m.at).toLocaleTimeString(), 'empty'), el('td', what, 'ev-' + kind), el('td', short(m.peer), 'mono'))
  if (m.peer) { tr.title = m.peer; tr.onclick = () => explain(m.peer) }
  body.prepend(tr)
  while (body.children.length > 200) body.lastChild.remove()
}

// A dashboard that needs a token was opened with ?token=…: its own requests carry it on.
const token = new URLSearchParams(location.search).get('token')
function withToken (path) {
  return token === null ? path : path + (path.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token)
}

async function explain (peer) {
  const box = $('explain')
  box.replaceChildren(el('h2', 'Why (explain): ' + peer))
  try {
    const r = await fetch(withToken('/api/explain?peer=' + encodeURIComponent(peer)))
    const x = await r.json()
    if (!r.ok) { box.append(el('div', x.error || r.statusText, 'empty')); return }
    if (x.info) box.append(el('div', 'priority ' + x.info.priority + (x.info.longTerm ? ', long-term' : '') + (x.info.protected ? ', protected' : '') + ', value ' + x.info.value + (x.info.topics.length ? ', topics ' + x.info.topics.join(', ') : '') + (x.info.addresses.length ? ' · ' + x.info.addresses.join(' ') : '')))
    if (x.tags && Object.keys(x.tags.tags).length) box.append(el('div', 'tags: ' + Object.entries(x.tags.tags).map(([k, v]) => k + ' ' + v).join(', '), 'mono'))
    const ol = el('ol')
    for (const d of x.decisions) ol.append(el('li', new Date(d.at).toLocaleTimeString() + ' · ' + d.action + ' · ' + d.reason))
    box.append(x.decisions.length ? ol : el('div', 'no decision recorded', 'empty'))
  } catch (err) { box.append(el('div', String(err), 'empty')) }
}

function connect () {
  const es = new EventSource(withToken('/events'))
  es.onopen = () => { $('live').className = 'on' }
  es.onerror = () => { $('live').className = '' }
  es.addEventListener('snapshot', (e) => {
    const s = JSON.parse(e.data)
    lastAt = s.at
    cards(s.stats); peers(s.connections, s.at)
    history.push({ at: s.at, c: s.stats.connections, low: s.stats.lowWater, high: s.stats.highWater })
    while (history.length > 300) history.shift()
    spark()
    $('when').textContent = new Date(s.at).toLocaleTimeString()
  })
  es.addEventListener('manager', (e) => { event(JSON.parse(e.data)) })
}
connect()
</script>
</body>
</html>
`
