import { PAGE_CHARTS } from './page-charts.js'
import { PAGE_SCRIPT } from './page-script.js'
import { PAGE_STYLE } from './page-style.js'

/**
 * The dashboard's one page: plain HTML, CSS and script, no external assets (it works offline and on a
 * machine without a CDN). Three views, chosen by the address' fragment: `#node` (this manager: figures,
 * history, peers, events, explain), `#network` (the graph of every node the dashboard sees, a node's
 * detail on click) and `#mesh` (when a mesh is given). It reads the server's event stream (`/events`)
 * and asks `/api/explain` and `/api/node` on a click. Everything that comes from the network (ids,
 * addresses, reasons) is set as text, never as HTML.
 */
export function dashboardPage (title: string): string {
  return PAGE.replaceAll('__TITLE__', escapeHtml(title))
}

function escapeHtml (s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)
}

const KINDS = '<option value="">all events</option><option>connected</option><option>disconnected</option><option>closed</option><option>refused</option><option>trim</option><option>failed</option><option>priority</option>'

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__ · peerwarden</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<header><span id="live" title="event stream"></span><h1>__TITLE__</h1>
<nav><a href="#node" id="tab-node">Node</a><a href="#network" id="tab-network">Network</a><a href="#mesh" id="tab-mesh" hidden>Mesh</a></nav>
<span id="when">connecting…</span></header>
<div id="stale" role="alert"></div>
<main id="view-node">
  <section class="wide">
    <h2>Connections</h2>
    <div class="cards" id="cards"></div>
    <div class="bar" title="connections against highWater"><div class="fill" id="fill"></div><div class="mark" id="lowmark" title="lowWater"></div></div>
    <div class="chart" id="chart-conn"></div>
  </section>
  <section class="wide"><h2>Churn</h2><div class="chart" id="chart-churn"></div></section>
  <section>
    <h2>Connected peers <span id="npeers" class="empty"></span></h2>
    <div class="tools"><input id="peer-filter" type="search" placeholder="filter: id, address, in, out, protected" aria-label="filter peers"></div>
    <div class="scroll"><table><thead><tr><th>peer</th><th>dir</th><th>value</th><th>protected</th><th>for</th></tr></thead><tbody id="peers"></tbody></table></div>
  </section>
  <section>
    <h2>Events</h2>
    <div class="tools"><input id="event-filter" type="search" placeholder="search: peer, reason, address" aria-label="search events"><select id="event-kind" aria-label="event kind">${KINDS}</select></div>
    <div class="scroll"><table><tbody id="events"></tbody></table></div>
  </section>
  <section class="wide" id="explain"><h2>Why (explain)</h2><div class="empty">Click a peer to see what the manager decided about it, and why.</div></section>
</main>
<main id="view-network" hidden>
  <section class="wide">
    <h2>Network <span id="netsum" class="empty"></span></h2>
    <div class="legend"><span><i style="background:var(--ok)"></i>node inside its watermarks</span><span><i style="background:var(--warn)"></i>below lowWater</span><span><i style="background:var(--bad)"></i>above highWater</span><span><i style="background:var(--violet)"></i>bootstrap (ring)</span><span><i style="background:#3b5068"></i>connection</span><span><i style="background:var(--warn)"></i>protected</span><span><i style="background:var(--ok)"></i>selected node dialled</span><span><i style="background:var(--accent)"></i>selected node was dialled</span><span><i style="background:#9ff0c8"></i>new</span><span><i style="background:var(--bad)"></i>closed</span></div>
    <div class="netlayout"><svg id="graph" role="img" aria-label="the network: nodes and their connections"></svg><div id="nodeinfo" class="empty">Click a node to see its watermarks, its connections and why it holds each, and what the other nodes decided about it. A red flash is a refusal, an amber one a trim.</div></div>
  </section>
  <section><h2>Connections per node</h2><div class="chart" id="chart-net"></div></section>
  <section><h2>Network churn</h2><div class="chart" id="chart-netchurn"></div></section>
  <section class="wide">
    <h2>Network events</h2>
    <div class="tools"><input id="activity-filter" type="search" placeholder="search: node, peer, reason" aria-label="search network events"><select id="activity-kind" aria-label="event kind">${KINDS}</select></div>
    <div class="scroll"><table><tbody id="activity"></tbody></table></div>
  </section>
</main>
<main id="view-mesh" hidden>
  <section class="wide"><h2>Calls</h2><div class="chart" id="chart-mesh"></div></section>
  <section class="wide">
    <h2>Instances <span id="nmesh" class="empty"></span></h2>
    <div class="tools"><input id="mesh-filter" type="search" placeholder="filter: role, instance, id, breaker state" aria-label="filter instances"></div>
    <div class="scroll"><table><thead><tr><th>role</th><th>instance</th><th>id</th><th>in flight</th><th>running</th><th>queued</th><th>calls/s</th><th>errors/s</th><th>breakers</th></tr></thead><tbody id="mesh"></tbody></table></div>
  </section>
</main>
<script>${PAGE_CHARTS}${PAGE_SCRIPT}</script>
</body>
</html>
`
