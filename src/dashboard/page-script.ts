/**
 * The page's main script (page.ts): the event stream, the history, the three views, filters, the
 * stale banner. It runs in the browser; everything from the network is set as text.
 */
export const PAGE_SCRIPT = `
const $ = (id) => document.getElementById(id)
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e }
const short = (id) => id === undefined || id === null ? '—' : (id.length > 16 ? id.slice(0, 8) + '…' + id.slice(-4) : id)
const ago = (ms) => ms < 1000 ? Math.round(ms) + ' ms' : ms < 60000 ? Math.round(ms / 1000) + ' s' : ms < 3600000 ? Math.round(ms / 60000) + ' min' : Math.round(ms / 3600000) + ' h'
const S = { interval: 1000, samples: [], events: [], activity: [], topicNames: {}, connections: [], at: 0, lastSeen: Date.now(), stale: false, views: { network: true, mesh: false }, mesh: null }
const topicName = (k) => S.topicNames[k] || short(k)

// A dashboard that needs a token was opened with ?token=…: its own requests carry it on.
const token = new URLSearchParams(location.search).get('token')
function withToken (path) {
  return token === null ? path : path + (path.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token)
}

function showView () {
  const want = (location.hash || '#node').slice(1)
  const view = (want === 'mesh' && !S.views.mesh) || !['node', 'network', 'mesh'].includes(want) ? 'node' : want
  for (const v of ['node', 'network', 'mesh']) { $('view-' + v).hidden = v !== view; $('tab-' + v).classList.toggle('on', v === view) }
  $('tab-mesh').hidden = !S.views.mesh
  charts()
}
window.addEventListener('hashchange', showView)
window.addEventListener('resize', () => { charts() })

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

function charts () {
  if (!$('view-node').hidden) {
    drawChart($('chart-conn'), S.samples, [{ key: 'connections', label: 'connections', color: 'var(--accent)' }, { key: 'highWater', label: 'highWater', color: 'var(--warn)', dash: true }, { key: 'lowWater', label: 'lowWater', color: 'var(--dim)', dash: true }], 'connections')
    drawChart($('chart-churn'), S.samples, [{ key: 'connected', label: 'connected', color: 'var(--ok)' }, { key: 'closed', label: 'closed', color: 'var(--warn)' }, { key: 'refused', label: 'refused', color: 'var(--violet)' }, { key: 'failed', label: 'dials failed', color: 'var(--bad)' }], 'events per ' + ago(S.interval))
  }
  if (!$('view-network').hidden) {
    drawChart($('chart-net'), S.samples, [{ key: 'netMax', label: 'max', color: 'var(--bad)' }, { key: 'netAvg', label: 'average', color: 'var(--accent)' }, { key: 'netMin', label: 'min', color: 'var(--warn)' }], 'connections per node')
    drawChart($('chart-netchurn'), S.samples, [{ key: 'netConnected', label: 'connected', color: 'var(--ok)' }, { key: 'netDisconnected', label: 'disconnected', color: 'var(--dim)' }, { key: 'netRefused', label: 'refused', color: 'var(--violet)' }, { key: 'netTrimmed', label: 'trimmed', color: 'var(--warn)' }], 'events per ' + ago(S.interval))
  }
  if (!$('view-mesh').hidden) {
    drawChart($('chart-mesh'), S.samples, [{ key: 'meshCallsPerSecond', label: 'calls', color: 'var(--accent)' }, { key: 'meshErrorsPerSecond', label: 'errors', color: 'var(--bad)' }, { key: 'meshInFlight', label: 'in flight', color: 'var(--dim)', dash: true }], 'per second')
  }
}

function peers () {
  const body = $('peers'); body.replaceChildren()
  const q = $('peer-filter').value.trim().toLowerCase()
  const list = [...S.connections].sort((a, b) => b.value - a.value)
  const shown = list.filter((c) => q === '' || [c.peer, c.address || '', c.direction === 'inbound' ? 'in' : 'out', c.protected ? 'protected' : ''].some((f) => f.toLowerCase().includes(q)))
  $('npeers').textContent = '(' + (shown.length === list.length ? list.length : shown.length + ' of ' + list.length) + ')'
  for (const c of shown) {
    const tr = el('tr')
    tr.append(el('td', short(c.peer), 'mono'), el('td', c.direction === 'inbound' ? 'in' : 'out', c.direction === 'inbound' ? 'in' : 'out'), el('td', c.value), el('td', c.protected ? 'yes' : ''), el('td', c.openedAt < 1e11 ? 'since ' + when(c.openedAt) : ago(S.at - c.openedAt)))
    tr.title = c.peer + (c.address ? ' at ' + c.address : '')
    tr.onclick = () => explain(c.peer)
    body.append(tr)
  }
}

const KIND = { 'peer:connected': 'connected', 'peer:disconnected': 'disconnected', 'connection:refused': 'refused', 'connection:closed': 'closed', 'dial:failed': 'failed', 'dial:started': 'dial', trim: 'trim', 'peer:priority': 'priority', 'store:error': 'failed' }
const describe = (m) => m.type === 'trim' ? 'trim: ' + m.closed + ' closed (' + m.reason + ')' : (KIND[m.type] || m.type) + (m.reason ? ' (' + m.reason + ')' : '') + (m.error ? ': ' + m.error : '') + (m.priority ? ': ' + m.priority : '')
function matches (m, q, kind) {
  if (kind !== '' && (KIND[m.type] || m.type) !== kind) return false
  return q === '' || [describe(m), m.peer || '', m.node || '', m.address || ''].some((f) => f.toLowerCase().includes(q))
}
function logRows (body, list, q, kind, withNode) {
  body.replaceChildren()
  let n = 0
  for (let i = list.length - 1; i >= 0 && n < 200; i--) {
    const m = list[i]
    if (!matches(m, q, kind)) continue
    n++
    const tr = el('tr')
    tr.append(el('td', clock(m.at), 'empty'))
    if (withNode) tr.append(el('td', short(m.node), 'mono'))
    tr.append(el('td', describe(m), 'ev-' + (KIND[m.type] || m.type)), el('td', short(m.peer), 'mono'))
    if (m.peer) { tr.title = (m.node ? m.node + ' about ' : '') + m.peer; tr.onclick = () => { if (withNode) { location.hash = '#network'; selectNode(m.node) } else explain(m.peer) } }
    body.append(tr)
  }
  if (n === 0) { const tr = el('tr'); tr.append(el('td', q || kind ? 'nothing matches' : 'no events yet', 'empty')); body.append(tr) }
}
const events = () => { logRows($('events'), S.events, $('event-filter').value.trim().toLowerCase(), $('event-kind').value, false) }
const activity = () => { logRows($('activity'), S.activity, $('activity-filter').value.trim().toLowerCase(), $('activity-kind').value, true) }

/** A section heading naming an id: the heading's capitals never apply to the id (ids are lowercase hex). */
function heading (text, id, after) {
  const h = el('h2', text)
  h.append(el('span', id, 'id'))
  if (after) h.append(document.createTextNode(after))
  return h
}

function kv (box, pairs) {
  const d = el('div', undefined, 'kv')
  for (const [k, v] of pairs) d.append(el('b', k), el('span', v))
  box.append(d)
}

async function explain (peer) {
  const box = $('explain')
  box.replaceChildren(heading('Why (explain): ', peer))
  try {
    const r = await fetch(withToken('/api/explain?peer=' + encodeURIComponent(peer)))
    const x = await r.json()
    if (!r.ok) { box.append(el('div', x.error || r.statusText, 'empty')); return }
    if (x.info) box.append(el('div', 'priority ' + x.info.priority + (x.info.longTerm ? ', long-term' : '') + (x.info.protected ? ', protected' : '') + ', value ' + x.info.value + (x.info.topics.length ? ', topics ' + x.info.topics.map(topicName).join(', ') : '') + (x.info.addresses.length ? ' · ' + x.info.addresses.join(' ') : '')))
    if (x.tags && Object.keys(x.tags.tags).length) box.append(el('div', 'tags: ' + Object.entries(x.tags.tags).map(([k, v]) => k + ' ' + v).join(', '), 'mono'))
    const ol = el('ol')
    for (const d of x.decisions) ol.append(el('li', when(d.at) + ' · ' + d.action + ' · ' + d.reason))
    box.append(x.decisions.length ? ol : el('div', 'no decision recorded', 'empty'))
  } catch (err) { box.append(el('div', String(err), 'empty')) }
}

async function nodeInfo (id) {
  const box = $('nodeinfo')
  box.className = ''
  box.replaceChildren(heading('Node ', short(id)))
  try {
    const r = await fetch(withToken('/api/node?id=' + encodeURIComponent(id)))
    const x = await r.json()
    if (!r.ok) { box.append(el('div', x.error || r.statusText, 'empty')); return }
    box.firstChild.replaceWith(heading('Node ', x.label, (x.bootstrap ? ' (bootstrap)' : '') + (x.outside ? ' (outside this view)' : '')))
    const pairs = [['id', x.id]]
    if (x.stats) pairs.push(['connections', x.stats.connections + ' (' + x.stats.inbound + ' in, ' + x.stats.outbound + ' out)'], ['watermarks', 'lowWater ' + x.stats.lowWater + ', highWater ' + x.stats.highWater], ['known peers', String(x.stats.known)])
    if (x.topics.length) pairs.push(['topics', x.topics.map(topicName).join(', ')])
    kv(box, pairs)
    box.lastChild.children[1].className = 'mono'
    if (x.connections.length) {
      box.append(el('h2', 'Its connections: why'))
      const ol = el('ol')
      for (const c of x.connections) {
        const li = el('li')
        const who = el('a', short(c.peer), 'mono'); who.href = '#network'; who.onclick = (e) => { e.preventDefault(); selectNode(c.peer) }
        li.append(who, el('span', ' ' + (c.direction === 'inbound' ? 'in' : 'out') + (c.protected ? ', protected' : '') + (c.last ? ' · ' + c.last.action + ' · ' + c.last.reason : '')))
        ol.append(li)
      }
      box.append(ol)
    }
    if (x.about.length) {
      box.append(el('h2', 'What others decided about it'))
      const ol = el('ol')
      for (const a of x.about) for (const d of a.decisions) ol.append(el('li', short(a.node) + ' · ' + when(d.at) + ' · ' + d.action + ' · ' + d.reason))
      box.append(ol)
    }
  } catch (err) { box.append(el('div', String(err), 'empty')) }
}
G.onSelect = (id) => { void nodeInfo(id) }

function network (m) {
  const inside = m.nodes.filter((n) => !n.outside)
  $('netsum').textContent = '(' + inside.length + ' nodes' + (inside.length < m.nodes.length ? ' + ' + (m.nodes.length - inside.length) + ' outside' : '') + ', ' + m.edges.length + ' connections' + (m.dropped ? ', ' + m.dropped + ' left out' : '') + ')'
  graphUpdate(m)
}

function mesh (m) {
  S.mesh = m
  const body = $('mesh'); body.replaceChildren()
  const q = $('mesh-filter').value.trim().toLowerCase()
  const rows = [...m.instances].sort((a, b) => a.role.localeCompare(b.role) || a.variant.localeCompare(b.variant))
  const shown = rows.filter((r) => q === '' || [r.role, r.variant, r.id, ...Object.keys(r.breakers)].some((f) => f.toLowerCase().includes(q)))
  const roles = new Set(rows.map((r) => r.role))
  $('nmesh').textContent = '(' + roles.size + ' roles, ' + rows.length + ' instances)'
  for (const r of shown) {
    const tr = el('tr')
    const f = (k) => r.figures[k] === undefined ? '—' : String(r.figures[k])
    const rate = (k) => r.rates[k] === undefined ? '—' : r.rates[k].toFixed(1)
    const br = el('td')
    for (const [state, n] of Object.entries(r.breakers)) br.append(el('span', n + ' ' + state, 'pill ' + state))
    if (!br.firstChild) br.append(el('span', '—', 'empty'))
    tr.append(el('td', r.role), el('td', r.variant), el('td', short(r.id), 'mono'), el('td', f('calls')), el('td', f('running')), el('td', f('queued')), el('td', rate('calls')), el('td', rate('errors')), br)
    tr.title = r.id + (Object.keys(r.commands).length ? ' · ' + Object.entries(r.commands).map(([c, x]) => c + ': ' + Object.entries(x).map(([k, v]) => k + ' ' + v.toFixed(1) + '/s').join(', ')).join('; ') : '')
    body.append(tr)
  }
}

function setStale (on) {
  S.stale = on
  document.body.classList.toggle('stale', on)
  $('live').className = on ? '' : 'on'
  if (on) $('stale').textContent = 'No data since ' + (S.at ? clock(S.at) : 'the page opened') + ' (' + ago(Date.now() - S.lastSeen) + ' ago): the event stream dropped — the node stopped or cannot be reached. The figures below are as they were then; reconnecting…'
}
setInterval(() => { if (S.stale || Date.now() - S.lastSeen > Math.max(3 * S.interval, 3000)) setStale(true) }, 1000)

function connect () {
  const es = new EventSource(withToken('/events'))
  const seen = () => { S.lastSeen = Date.now(); if (S.stale) setStale(false) }
  es.onopen = () => { $('live').className = 'on' }
  es.onerror = () => { setStale(true) }
  es.addEventListener('hello', (e) => {
    const h = JSON.parse(e.data)
    seen()
    S.interval = h.interval; S.views = h.views; S.topicNames = h.topicNames || {}
    S.samples = h.samples || []; S.events = h.events || []; S.activity = h.activity || []
    if (h.network) network(h.network)
    if (h.mesh) mesh(h.mesh)
    events(); activity(); showView()
  })
  es.addEventListener('snapshot', (e) => {
    const s = JSON.parse(e.data)
    seen()
    S.at = s.at; S.connections = s.connections
    cards(s.stats); peers()
    $('when').textContent = 'updated ' + clock(s.at)
  })
  es.addEventListener('sample', (e) => {
    seen()
    S.samples.push(JSON.parse(e.data))
    if (S.samples.length > 600) S.samples.shift()
    charts()
  })
  es.addEventListener('network', (e) => {
    const m = JSON.parse(e.data)
    seen()
    for (const a of m.activity) S.activity.push(a)
    if (S.activity.length > 500) S.activity.splice(0, S.activity.length - 500)
    network(m)
    if (!$('view-network').hidden) activity()
  })
  es.addEventListener('mesh', (e) => { seen(); mesh(JSON.parse(e.data)) })
  es.addEventListener('manager', (e) => {
    seen()
    S.events.push(JSON.parse(e.data))
    if (S.events.length > 500) S.events.shift()
    events()
  })
}
for (const id of ['peer-filter']) $(id).addEventListener('input', peers)
for (const id of ['event-filter', 'event-kind']) $(id).addEventListener('input', events)
for (const id of ['activity-filter', 'activity-kind']) $(id).addEventListener('input', activity)
$('mesh-filter').addEventListener('input', () => { if (S.mesh) mesh(S.mesh) })
showView()
connect()
`
