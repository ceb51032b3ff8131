/**
 * `npm run bench -- --report out.html`: every figure of the run in one self-contained HTML page (no
 * script, no external file): a table row per figure with its value, unit and target, and an SVG strip
 * of its rounds (each round a dot, the median a bar) where the figure has them, so the spread shows.
 */
import type { Figure } from './manager.bench.js'

export interface Reported extends Figure { suite: string }

const W = 240
const H = 28

/** The page, with the date, node and machine it ran on. */
export function renderReport (figures: Reported[], machine: string, date = new Date()): string {
  const rows = figures.map((f) => {
    const status = f.met === false ? '<td class="bad">missed</td>' : f.met === true ? '<td class="ok">met</td>' : '<td></td>'
    return `<tr><td>${esc(f.suite)}</td><td>${esc(f.name)}${f.note !== undefined ? `<div class="note">${esc(f.note)}</div>` : ''}</td>` +
      `<td class="num">${esc(String(f.value))}</td><td>${esc(f.unit)}</td><td>${esc(f.target ?? '')}</td>${status}<td>${strip(f)}</td></tr>`
  }).join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>peerwarden benchmarks ${esc(date.toISOString().slice(0, 10))}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 2em; color: #222 }
table { border-collapse: collapse } td, th { padding: 4px 8px; border-bottom: 1px solid #ddd; vertical-align: top; text-align: left }
.num { text-align: right; font-variant-numeric: tabular-nums } .note { color: #666; font-size: 12px; max-width: 46em }
.ok { color: #176f2c } .bad { color: #b00020; font-weight: bold }
</style></head><body>
<h1>peerwarden benchmarks</h1>
<p>${esc(date.toISOString())} · node ${esc(process.version)} · ${esc(machine)}</p>
<p>Ratios are measured in the same run, in rotated rounds; the strip shows each round (dots) and the median (bar).</p>
<table><thead><tr><th>suite</th><th>figure</th><th>value</th><th>unit</th><th>target</th><th></th><th>rounds</th></tr></thead>
<tbody>
${rows}
</tbody></table></body></html>
`
}

/** An SVG strip of the figure's rounds on a scale from 0 to the largest (a ratio's 1 marked). */
function strip (f: Figure): string {
  const xs = f.rounds ?? []
  if (xs.length === 0) return ''
  const max = Math.max(...xs, f.value, f.unit.startsWith('x ') ? 1 : 0) * 1.05 || 1
  const x = (v: number): number => 4 + (W - 8) * (v / max)
  const dots = xs.map((v) => `<circle cx="${x(v).toFixed(1)}" cy="${H / 2}" r="3" fill="#3366cc" fill-opacity="0.6"><title>${v}</title></circle>`).join('')
  const one = f.unit.startsWith('x ') ? `<line x1="${x(1).toFixed(1)}" x2="${x(1).toFixed(1)}" y1="2" y2="${H - 2}" stroke="#999" stroke-dasharray="2,2"/>` : ''
  const med = `<line x1="${x(f.value).toFixed(1)}" x2="${x(f.value).toFixed(1)}" y1="4" y2="${H - 4}" stroke="#d62728" stroke-width="2"/>`
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="rounds of ${esc(f.name)}">` +
    `<line x1="4" x2="${W - 4}" y1="${H / 2}" y2="${H / 2}" stroke="#ccc"/>${one}${dots}${med}</svg>`
}

function esc (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}
