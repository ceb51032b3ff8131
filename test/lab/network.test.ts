import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { HostAgent } from '../../src/lab/host-agent.js'
import { LabNetwork, listNamespaces } from '../../src/lab/network.js'
import { run } from '../../src/lab/shell.js'
import { labSkip } from './lab-skip.js'

// The conditions themselves, without peerwarden nodes: plain TCP between the lab's hosts.
const skip = labSkip()

/** One agent per host (src/lab/agent.ts): it serves and dials for the host, so no probe starts a process. */
const agents = new Map<string, HostAgent>()

/**
 * Connects from host `ns` to ip:port: what the server saw as our address, or 'failed' (refused,
 * unreachable, or nothing within 1 s: the links answer in microseconds).
 */
async function dial (ns: string, ip: string, port: number): Promise<string> {
  const r = await agents.get(ns)!.send({ cmd: 'dial', host: ip, port, timeout: 1000 })
  return r.ok === true ? String(r.text) : 'failed'
}

let lab: LabNetwork

before(async () => {
  if (skip !== undefined) return
  lab = new LabNetwork(`${process.pid}n`, [{}, {}, { nat: 'port-restricted' }, { nat: 'symmetric' }])
  await lab.create()
  for (const h of lab.hosts) agents.set(h.ns, HostAgent.start(h))
  await Promise.all([...agents.values()].map(async (a) => { await a.ready }))
  // Every host serves on its own address, port 5000: each client is told its address, then the connection ends.
  for (const h of lab.hosts) assert.equal((await agents.get(h.ns)!.send({ cmd: 'reflect', host: h.ip, port: 5000, end: true })).ok, true)
})

after(async () => {
  for (const a of agents.values()) a.stop()
  await lab?.destroy()
})

test('public hosts reach each other; a NATed host reaches out, seen at its router, and cannot be reached', { skip, timeout: 30_000 }, async () => {
  const [a, b, c, d] = lab.hosts
  // The probes are independent: all at once (the failed ones each wait out their second together).
  const [ab, ca, da, aPublic, aInside, cd] = await Promise.all([
    dial(a.ns, b.ip, 5000), dial(c.ns, a.ip, 5000), dial(d.ns, a.ip, 5000),
    dial(a.ns, c.publicIp, 5000), dial(a.ns, c.ip, 5000), dial(c.ns, d.publicIp, 5000)
  ])
  assert.equal(ab, a.ip)
  assert.equal(ca, c.publicIp, 'the public host sees the router\'s outside address')
  assert.equal(da, d.publicIp)
  assert.equal(aPublic, 'failed', 'nothing unsolicited comes through the router')
  assert.equal(aInside, 'failed', 'the inside address is not routed')
  assert.equal(cd, 'failed', 'NAT to NAT: neither is reachable')
})

test('a partition cuts its hosts off both ways, silently, and heals', { skip, timeout: 30_000 }, async () => {
  const [a, b, c] = lab.hosts
  const allow = [b.ip, c.ip, c.publicIp, c.nat!.lanIp]
  for (const h of [1, 2]) await lab.setFilter(h, { loss: 0, allow })
  const [ab, ba, cb] = await Promise.all([dial(a.ns, b.ip, 5000), dial(b.ns, a.ip, 5000), dial(c.ns, b.ip, 5000)])
  assert.equal(ab, 'failed')
  assert.equal(ba, 'failed')
  assert.equal(cb, c.publicIp, 'hosts on the same side still reach each other')
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
  for (const a of agents.values()) a.stop()
  await lab.destroy()
  assert.deepEqual((await listNamespaces()).filter((ns) => ns.startsWith(`pwlab-${process.pid}n-`)), [])
})
