import { randomBytes } from 'node:crypto'
import net from 'node:net'
import type { TestContext } from 'node:test'
import c from 'compact-encoding'
import Protomux, { type Channel, type Message } from 'protomux'
import { CONTROL_PROTOCOL } from '../../src/node/connection.js'
import { discoveryKey } from '../../src/node/discovery-key.js'
import { encodeHello, type Hello } from '../../src/node/hello.js'
import { loadIdentity, peerIdOf } from '../../src/node/identity.js'
import { NetworkKey } from '../../src/node/network-key.js'
import { staticKeys } from '../../src/node/noise.js'
import { SecureStream } from '../../src/node/secure-stream.js'
import { parseTcpAddress } from '../../src/node/transport.js'
import type { PeerNode } from '../../src/node/index.js'
import { testNode } from './nodes.js'

/**
 * A hostile peer for tests: it completes the Noise handshake like any node (with the hello it likes),
 * then writes whatever bytes it wants on any protomux channel, with no decoder of ours on its side.
 */
export interface Attacker {
  readonly id: string
  readonly stream: SecureStream
  readonly mux: Protomux
  /** Opens (once) a channel of `protocol` whose messages are raw bytes; returns a sender per message index. */
  channel(protocol: string): { raw(index: number, bytes: Uint8Array): void; json(index: number, value: unknown): void; readonly opened: boolean }
  /** Raw sends on the control channel, message 0 (the JSON messages). */
  control(value: unknown): void
  /** What the victim sent on the control channel's message 0 (JSON), in order. */
  readonly inbox: unknown[]
  /** Resolves true once the victim answered a lookup sent now (so it processed everything before), false if it closed first. */
  ping(topic: string, timeoutMs?: number): Promise<boolean>
  /** Whether the victim has closed the connection. */
  readonly closed: boolean
  close(): void
}

let pings = 0

/** What the raw channel's messages decode to on our side (we never decode what the victim says). */
const raw = c.raw as never

export async function attack (address: string, opts: { hello?: Partial<Hello>; seed?: string; localAddress?: string; networkKey?: string } = {}): Promise<Attacker> {
  const { host, port } = parseTcpAddress(address.split('#')[0]!)
  const keyPair = loadIdentity({ seed: opts.seed ?? randomBytes(32).toString('hex') })
  const socket = net.connect({ host, port, ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}) })
  const hello: Hello = { listen: [], rendezvous: false, topics: [], announce: false, ...opts.hello }
  const stream = new SecureStream(true, socket, {
    keys: staticKeys(keyPair),
    psk: new NetworkKey(opts.networkKey).psk,
    payload: () => encodeHello(hello)
  })
  stream.on('error', () => {})
  await stream.opened
  const mux = Protomux.from(stream)
  stream.resume() // the secure stream opens paused
  let closed = false
  stream.once('close', () => { closed = true })
  const channels = new Map<string, { channel: Channel; messages: Array<Message<Uint8Array>> }>()
  const inbox: unknown[] = []
  const waiters: Array<() => void> = []
  const heard = (bytes: Uint8Array): void => {
    try { inbox.push((c as unknown as { decode (enc: unknown, b: Uint8Array): unknown }).decode(c.json, bytes)) } catch { inbox.push(undefined) }
    for (const w of waiters.splice(0)) w()
  }
  stream.once('close', () => { for (const w of waiters.splice(0)) w() })
  const open = (protocol: string): { channel: Channel; messages: Array<Message<Uint8Array>> } => {
    let ch = channels.get(protocol)
    if (ch === undefined) {
      const channel = mux.createChannel({ protocol })!
      const messages: Array<Message<Uint8Array>> = []
      for (let i = 0; i < 8; i++) messages.push(channel.addMessage<Uint8Array>({ encoding: raw, onmessage: i === 0 && protocol === CONTROL_PROTOCOL ? heard : () => {} }))
      channel.open()
      ch = { channel, messages }
      channels.set(protocol, ch)
    }
    return ch
  }
  const sender = (protocol: string): ReturnType<Attacker['channel']> => {
    const ch = open(protocol)
    return {
      raw: (index, bytes) => { ch.messages[index]!.send(bytes) },
      json: (index, value) => { ch.messages[index]!.send((c as unknown as { encode (enc: unknown, v: unknown): Uint8Array }).encode(c.json, value)) },
      get opened () { return ch.channel.opened }
    }
  }
  return {
    id: peerIdOf(keyPair.publicKey),
    stream,
    mux,
    channel: sender,
    control: (value) => { sender(CONTROL_PROTOCOL).json(0, value) },
    inbox,
    ping: async (topic, timeoutMs = 5000) => {
      const id = 900_000_000 + pings++
      sender(CONTROL_PROTOCOL).json(0, { t: 'lookup', id, topic })
      const deadline = Date.now() + timeoutMs
      for (;;) {
        if (inbox.some((m) => (m as { t?: string; id?: number } | null)?.t === 'peers' && (m as { id: number }).id === id)) return true
        if (closed || Date.now() > deadline) return false
        await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 50) })
      }
    },
    get closed () { return closed },
    close: () => { stream.destroy() }
  }
}

/**
 * A node (lowWater 8, highWater 32) that joined `name`, and an attacker connected to it that sent, in
 * one go, what one connection's `pexPerMinute` lets it teach: 120 referrals of 32 made-up peers of 8
 * ports each of one host (127.0.0.3), 30,720 addresses in all.
 */
export async function referralFlood (t: TestContext, name: string, connections = 1): Promise<{ victim: PeerNode; a: Attacker; topic: string }> {
  const victim = await testNode(t, { manager: { lowWater: 8, highWater: 32 } })
  await victim.join(name)
  const topic = discoveryKey(name)
  let port = 20_000
  let first: Attacker | undefined
  // Each connection names its own ports (one connection may teach at most 8 ports of a host).
  for (let c = 0; c < connections; c++) {
    const a = await attack(victim.addresses[0]!)
    t.after(() => { a.close() })
    first ??= a
    a.control({ t: 'topics', topics: [] })
    for (let m = 0; m < 120; m++) {
      const peers = Array.from({ length: 32 }, () => ({
        id: randomBytes(32).toString('hex'),
        addresses: Array.from({ length: 8 }, () => `tcp://127.0.0.3:${port++}`)
      }))
      a.control({ t: 'pex', topic, peers })
    }
  }
  return { victim, a: first!, topic }
}
