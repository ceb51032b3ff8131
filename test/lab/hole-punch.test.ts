import assert from 'node:assert/strict'
import { test } from 'node:test'
import { listNamespaces } from '../../src/lab/network.js'
import { formatPair, punchMatrix, type PunchPairResult, type PunchSide } from '../../src/lab/punch.js'
import { labSkip } from './lab-skip.js'

// TCP simultaneous open (src/node/hole-punch.ts) between emulated hosts, per kind of NAT the lab
// makes. The routers drop what comes in unsolicited; a public host answers RST.
const skip = labSkip()

test('a TCP hole punch connects two hosts behind port-restricted NATs (and a public host to one), never a host behind a symmetric NAT', { skip, timeout: 60_000 }, async (t) => {
  const tries = 10
  const pairs: Array<[PunchSide, PunchSide]> = [
    ['port-restricted', 'port-restricted'],
    ['public', 'port-restricted'],
    ['port-restricted', 'symmetric'],
    ['public', 'symmetric'],
    ['symmetric', 'symmetric']
  ]
  // A punch through routers that drop connects within milliseconds once both sides dialled; an
  // attempt waits a second for the other side (a loaded machine may start it that much later, and
  // an attempt abandoned too early leaves a reset in its place). All tries run at once.
  const results = await punchMatrix({ tries, pairs, attempts: 3, interval: 200, attemptTimeout: 1000 })
  for (const r of results) t.diagnostic(formatPair(r))
  const of = (a: PunchSide, b: PunchSide): PunchPairResult => results.find((r) => r.a === a && r.b === b)!
  const pr = of('port-restricted', 'port-restricted')
  assert.ok(pr.portKept, 'a port-restricted NAT keeps the port: the reflector saw the local port')
  assert.equal(pr.succeeded, tries, formatPair(pr))
  // Both routers drop the first SYN to arrive and let the other side's in: no reset, one attempt.
  assert.deepEqual(new Set(pr.attempts), new Set([1]), formatPair(pr))
  // The public host resets the NATed side's first SYN if it arrives before the public side dialled;
  // the NATed side's router drops the public side's, which then waits for the retry: two attempts at most.
  const pub = of('public', 'port-restricted')
  assert.equal(pub.succeeded, tries, formatPair(pub))
  assert.ok(Math.max(...pub.attempts) <= 2, formatPair(pub))
  // A symmetric NAT gives the punch socket another port than the one the reflector saw.
  assert.equal(of('symmetric', 'symmetric').portKept, false)
  for (const [a, b] of pairs.filter(([a, b]) => a === 'symmetric' || b === 'symmetric')) {
    const r = of(a, b)
    assert.equal(r.succeeded, 0, formatPair(r))
    assert.equal(r.failures.ERR_DIAL_FAILED, tries, formatPair(r))
  }
  assert.deepEqual((await listNamespaces()).filter((ns) => ns.startsWith(`pwlab-${process.pid % 10_000_000}p-`)), [], 'every namespace is gone')
})
