import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { within } from '../helpers/wait.js'

// `npm start` (src/cli/network.ts) with 6 nodes: it prints its dashboard's address, the dashboard
// shows every node of the network, and, not on a terminal, it exits by itself, leaving nothing running.

const here = dirname(fileURLToPath(import.meta.url))
const script = join(here, '..', '..', 'src', 'cli', 'network.js')

test('npm start serves a dashboard of its whole network, prints the address, and exits by itself off a terminal', { timeout: 90_000 }, async (t) => {
  const child = spawn(process.execPath, [script], { env: { ...process.env, PEERWARDEN_NODES: '6', PEERWARDEN_SECONDS: '15' }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => { child.kill('SIGKILL') })
  const lines: string[] = []
  const exited = new Promise<number | null>((resolve) => { child.once('exit', (code) => { resolve(code) }) })
  const url = await within(new Promise<string>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line)
      const m = /^dashboard at (http:\/\/127\.0\.0\.1:\d+\/)#network$/.exec(line)
      if (m !== null) resolve(m[1])
    })
  }), 20_000, 'the dashboard\'s address')
  // The dashboard sees the nodes as they come: every one of the six, and their connections.
  let nodes = 0
  let edges = 0
  let topics: Record<string, string> = {}
  await within((async () => {
    while (nodes < 6 || edges < 5) {
      const h = await (await fetch(new URL('/api/history', url))).json() as { samples: Array<{ netNodes?: number; netEdges?: number }>; topicNames: Record<string, string> }
      const last = h.samples.at(-1)
      nodes = last?.netNodes ?? 0
      edges = last?.netEdges ?? 0
      topics = h.topicNames
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })(), 30_000, 'six nodes and their connections on the dashboard')
  assert.deepEqual(Object.values(topics), ['peerwarden-demo'], 'the topic by name')
  assert.match(Object.keys(topics)[0], /^[0-9a-f]{64}$/)
  assert.equal(await within(exited, 60_000, 'npm start to exit by itself'), 0, lines.join('\n'))
  assert.match(lines.join('\n'), /nothing left running/)
  await assert.rejects(fetch(new URL('/api/history', url)), 'the dashboard closed with the network')
})
