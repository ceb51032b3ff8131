import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { after, before, test } from 'node:test'
import { LabNetwork, listNamespaces } from '../../src/lab/network.js'
import { run } from '../../src/lab/shell.js'
import { labSkip } from './lab-skip.js'

// The conditions themselves, without peerwarden nodes: plain TCP between the lab's hosts.
const skip = labSkip()

/** A TCP server in host `ns` on ip:port that writes each client's address back, then closes. */
function serve (ns: string, ip: string, port: number): { child: ChildProcess; listening: Promise<void> } {
  const code = `require('net').createServer((s) => s.end(s.remoteAddress)).listen(${port}, '${ip}', () => console.log('listening'))`
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  const listening = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', () => { resolve() })
    child.once('exit', (c) => { reject(new Error(`server exited (${c})`)) })
  })
  return { child, listening }
}

/** Connects from host `ns` to ip:port: what the server saw as our address, or 'failed' (refused, unreachable, or nothing within 1 s: the links answer in microseconds). */
async function dial (ns: string, ip: string, port: number): Promise<string> {
  const code = `const s = require('net').connect(${port}, '${ip}'); let d = ''; s.setTimeout(1000, () => { console.log('failed'); process.exit() }); s.on('data', (b) => { d += b }); s.on('end', () => { console.log(d); process.exit() }); s.on('error', () => { console.log('failed'); process.exit() })`
  return (await run('ip', ['netns', 'exec', ns, process.execPath, '-e', code])).trim()
}

let lab: LabNetwork
const servers: ChildProcess[] = []

before(async () => {
  if (skip !== undefined) return
  lab = new LabNetwork(`${process.pid}n`, [{}, {}, { nat: 'port-restricted' }, { nat: 'symmetric' }])
  await lab.create()
  for (const h of lab.hosts) {
    const s = serve(h.ns, h.ip, 5000)
    servers.push(s.child)
    await s.listening
  }
})

after(async () => {
  for (const s of servers) s.kill('SIGKILL')
  await lab?.destroy()
})

test('public hosts reach each other; a NATed host reaches out, seen at its router, and cannot be reached', { skip, timeout: 30_000 }, async () => {
  const [a, b, c, d] = lab.hosts
  assert.equal(await dial(a.ns, b.ip, 5000), a.ip)
  assert.equal(await dial(c.ns, a.ip, 5000), c.publicIp, 'the public host sees the router\'s outside address')
  assert.equal(await dial(d.ns, a.ip, 5000), d.publicIp)
  assert.equal(await dial(a.ns, c.publicIp, 5000), 'failed', 'nothing unsolicited comes through the router')
  assert.equal(await dial(a.ns, c.ip, 5000), 'failed', 'the inside address is not routed')
  assert.equal(await dial(c.ns, d.publicIp, 5000), 'failed', 'NAT to NAT: neither is reachable')
})

test('a partition cuts its hosts off both ways, silently, and heals', { skip, timeout: 30_000 }, async () => {
  const [a, b, c] = lab.hosts
  const allow = [b.ip, c.ip, c.publicIp, c.nat!.lanIp]
  for (const h of [1, 2]) await lab.setFilter(h, { loss: 0, allow })
  assert.equal(await dial(a.ns, b.ip, 5000), 'failed')
  assert.equal(await dial(b.ns, a.ip, 5000), 'failed')
  assert.equal(await dial(c.ns, b.ip, 5000), c.publicIp, 'hosts on the same side still reach each other')
  for (const h of [1, 2]) await lab.setFilter(h, { loss: 0 })
  assert.equal(await dial(a.ns, b.ip, 5000), a.ip)
})

test('loss drops packets (all of them at 100 %) and a rate cap puts a tbf on both ends of the link', { skip, timeout: 30_000 }, async () => {
  const [a, b] = lab.hosts
  await lab.setFilter(1, { loss: 100 })
  assert.equal(await dial(a.ns, b.ip, 5000), 'failed')
  await lab.setFilter(1, { loss: 0 })
  assert.equal(await dial(a.ns, b.ip, 5000), a.ip)
  await lab.setRate(1, '1mbit')
  assert.match(await run('tc', ['-n', b.ns, 'qdisc', 'show', 'dev', b.dev]), /tbf .*rate 1Mbit/)
  assert.match(await run('tc', ['-n', b.peerNs, 'qdisc', 'show', 'dev', b.peerDev]), /tbf .*rate 1Mbit/)
  assert.equal(await dial(a.ns, b.ip, 5000), a.ip)
  await lab.setRate(1, undefined)
  assert.doesNotMatch(await run('tc', ['-n', b.ns, 'qdisc', 'show', 'dev', b.dev]), /tbf/)
})

test('destroy removes every namespace of the network', { skip, timeout: 30_000 }, async () => {
  for (const s of servers) s.kill('SIGKILL')
  await lab.destroy()
  assert.deepEqual((await listNamespaces()).filter((ns) => ns.startsWith(`pwlab-${process.pid}n-`)), [])
})
