import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { test, type TestContext } from 'node:test'
import { loadIdentity } from '../../src/node/identity.js'
import { createNode, type NodeOptions, type PeerNode } from '../../src/node/index.js'
import { NetworkKey } from '../../src/node/network-key.js'
import { TcpTransport } from '../../src/node/transport.js'
import { sleep, until } from '../helpers/wait.js'

// Hostile peers against a real node on loopback. The attacker's sockets come from 127.0.0.2 (Linux
// routes all of 127/8 to lo); the honest peer dials from 127.0.0.1, which is exempt from the per-IP
// rules. Every node, transport and socket is closed when its test ends, pass or fail.

const ATTACKER = '127.0.0.2'

async function node (t: TestContext, options: NodeOptions = {}): Promise<PeerNode> {
  const n = await createNode({ refreshInterval: 1000, ...options, manager: { gracePeriod: 1000, ...options.manager } })
  t.after(async () => { await n.close() })
  return n
}

/** A bare transport that dials (the honest peer, or an attacker that completes the handshake). */
function dialer (t: TestContext, seed: string, opts: Partial<ConstructorParameters<typeof TcpTransport>[0]> = {}): TcpTransport {
  const transport = new TcpTransport({
    keyPair: loadIdentity({ seed }),
    networkKey: new NetworkKey(undefined),
    hello: () => ({ listen: [], rendezvous: false, topics: [], announce: false }),
    gate: () => true,
    onInbound: () => {},
    onMessage: () => {},
    ...opts
  })
  t.after(async () => { await transport.close() })
  return transport
}

const portOf = (n: PeerNode): number => Number(new URL(n.addresses[0].replace('tcp://', 'http://')).port)

type Idle = 'silent' | 'partial-frame' | 'garbage'

/**
 * One IP opening sockets that never complete a handshake: `perSecond` of them a second (in one burst
 * when `burst`), each `silent`, sending a 64 KiB frame's header and a few bytes of it
 * (`partial-frame`), or 2 KiB of random bytes (`garbage`). Returns a stop function.
 */
function attack (t: TestContext, port: number, opts: { perSecond: number; burst?: boolean; idle: Idle }): () => void {
  const sockets = new Set<net.Socket>()
  const open = (): void => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: ATTACKER }, () => {
      if (opts.idle === 'garbage') s.write(randomBytes(2048))
      if (opts.idle === 'partial-frame') {
        const head = Buffer.alloc(4 + 10)
        head.writeUInt32LE(65535, 0)
        s.write(head)
      }
    })
    s.on('error', () => {})
    s.once('close', () => { sockets.delete(s) })
    sockets.add(s)
  }
  let timer: NodeJS.Timeout
  if (opts.burst === true) {
    const burst = (): void => { for (let i = 0; i < opts.perSecond; i++) open() }
    burst()
    timer = setInterval(burst, 1000)
  } else {
    timer = setInterval(open, 1000 / opts.perSecond)
  }
  const stop = (): void => {
    clearInterval(timer)
    for (const s of sockets) s.destroy()
  }
  t.after(stop)
  return stop
}

/** `n` honest dials from 127.0.0.1, one every 50 ms, each closed once it succeeded: how many succeeded. */
async function honestDials (t: TestContext, target: PeerNode, n: number): Promise<number> {
  const honest = dialer(t, 'honest')
  let ok = 0
  for (let i = 0; i < n; i++) {
    try {
      const conn = await honest.dial(target.addresses[0], { signal: AbortSignal.timeout(5000) })
      ok++
      conn.close('stopped')
    } catch { /* counted as a failure */ }
    await sleep(50)
  }
  return ok
}

/**
 * The attack runs for `fillMs` (long enough to fill the global cap of 32 without a per-IP budget),
 * then 40 honest dials while it goes on.
 */
async function underAttack (t: TestContext, opts: { perSecond: number; burst?: boolean; idle: Idle; fillMs: number }): Promise<{ ok: number; target: PeerNode }> {
  const target = await node(t)
  const stop = attack(t, portOf(target), opts)
  await sleep(opts.fillMs)
  const ok = await honestDials(t, target, 40)
  stop()
  const s = target.stats()
  t.diagnostic(`${ok}/40 honest dials succeeded; attacker refused: ${s.refusedRate} by rate, ${s.refusedPerIp} by the per-IP budget, ${s.refusedPending} by the global cap; ${s.failedHandshakes} failed handshakes`)
  return { ok, target }
}

const ATTACK = { timeout: 40_000 }

test('one IP opening 4 idle sockets a second (under the per-IP rate) no longer fills the handshake cap: at least 90 % of honest dials succeed', ATTACK, async (t) => {
  const { ok, target } = await underAttack(t, { perSecond: 4, idle: 'silent', fillMs: 9000 })
  assert.ok(ok >= 36, `${ok} of 40 honest dials succeeded`)
  const s = target.stats()
  assert.ok(s.refusedPerIp > 0, 'the attacker was refused by its per-IP budget')
  assert.ok(s.pendingHandshakes <= 4 + 1, `${s.pendingHandshakes} handshakes in progress`)
})

test('one IP opening 50 idle sockets a second: at least 90 % of honest dials succeed', ATTACK, async (t) => {
  const { ok, target } = await underAttack(t, { perSecond: 50, idle: 'silent', fillMs: 4000 })
  assert.ok(ok >= 36, `${ok} of 40 honest dials succeeded`)
  const s = target.stats()
  assert.ok(s.refusedRate > 0, 'the per-IP rate refused most of them')
  assert.ok(s.refusedPerIp > 0, 'the per-IP budget refused the rest')
})

test('one IP opening bursts of 500 idle sockets every second: at least 90 % of honest dials succeed', ATTACK, async (t) => {
  const { ok, target } = await underAttack(t, { perSecond: 500, burst: true, idle: 'silent', fillMs: 4000 })
  assert.ok(ok >= 36, `${ok} of 40 honest dials succeeded`)
})

test('one IP holding handshakes open with a partial first frame (50 a second): at least 90 % of honest dials succeed', ATTACK, async (t) => {
  const { ok } = await underAttack(t, { perSecond: 50, idle: 'partial-frame', fillMs: 4000 })
  assert.ok(ok >= 36, `${ok} of 40 honest dials succeeded`)
})

test('one IP sending garbage (50 sockets a second) holds no handshake slot: each fails at once and is counted', ATTACK, async (t) => {
  // Not a regression test: garbage never held a slot for long (a first frame over 64 KiB or that does
  // not authenticate ends the handshake at once). Kept to show the difference from silent sockets.
  const { ok, target } = await underAttack(t, { perSecond: 50, idle: 'garbage', fillMs: 2000 })
  assert.ok(ok >= 36, `${ok} of 40 honest dials succeeded`)
  await until(() => target.stats().pendingHandshakes === 0, 5000, 'no handshake left in progress')
  assert.ok(target.stats().failedHandshakes > 0)
})
