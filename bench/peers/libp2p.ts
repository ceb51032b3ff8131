/**
 * js-libp2p 3.x peer for the side-by-side benchmarks: TCP + Noise + Yamux on 127.0.0.1, no identify
 * or other services (its leanest configuration). The polyfill must be evaluated before libp2p.
 */
import './polyfill.js'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { BULK_PROTOCOL, ECHO_PROTOCOL } from './common.js'

export type Libp2pNode = Awaited<ReturnType<typeof createLibp2p>>
type Libp2pConnection = Awaited<ReturnType<Libp2pNode['dial']>>
type Libp2pStream = Awaited<ReturnType<Libp2pConnection['newStream']>>
/** What a 'message' event carries: a Uint8Array or a Uint8ArrayList (both have byteLength and subarray). */
interface Bytes { byteLength: number; subarray: (start?: number, end?: number) => Uint8Array }

/**
 * Every dial on loopback comes from 127.0.0.1: the defaults (5 inbound connections per second per
 * host, 10 pending) would refuse most of a sequential-dial benchmark, so both are raised.
 */
const LOOPBACK_CONNECTION_MANAGER = { inboundConnectionThreshold: 1_000_000, maxIncomingPendingConnections: 1_000 }

export async function libp2pNode (): Promise<Libp2pNode> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: LOOPBACK_CONNECTION_MANAGER
  })
}

export function listenAddress (node: Libp2pNode): string {
  const ma = node.getMultiaddrs().find((a) => a.toString().startsWith('/ip4/127.0.0.1/tcp/'))
  if (ma === undefined) throw new Error('libp2p node does not listen on 127.0.0.1')
  return ma.toString()
}

/** Echoes every message on the echo protocol. */
export async function handleEcho (node: Libp2pNode): Promise<void> {
  await node.handle(ECHO_PROTOCOL, (stream) => {
    stream.addEventListener('message', (e) => { stream.send(e.data) })
  })
}

/**
 * One sequential new connection: dial (TCP + multistream-select + Noise XX + Yamux), open a stream
 * (multistream-select), one echoed message, close the connection.
 */
export async function libp2pRoundTrip (node: Libp2pNode, target: string, payload: Uint8Array): Promise<void> {
  const conn = await node.dial(multiaddr(target))
  try {
    const stream = await conn.newStream(ECHO_PROTOCOL)
    const echoed = new Promise<number>((resolve, reject) => {
      stream.addEventListener('message', (e) => { resolve((e.data as Bytes).byteLength) }, { once: true })
      stream.addEventListener('close', (e) => { reject((e as Event & { error?: Error }).error ?? new Error('stream closed before the echo')) }, { once: true })
    })
    stream.send(payload)
    if (await echoed !== payload.byteLength) throw new Error('echo mismatch (split message)')
  } finally {
    await conn.close()
  }
}

/**
 * The bulk receiver: a run starts with its length (8 bytes, LE) then payload, on a byte stream;
 * once every byte arrived it answers one byte.
 */
export async function handleBulk (node: Libp2pNode): Promise<void> {
  await node.handle(BULK_PROTOCOL, (stream) => {
    const header = Buffer.alloc(8)
    let headerGot = 0
    let expect = -1
    let got = 0
    stream.addEventListener('message', (e) => {
      const data = e.data as Bytes
      let offset = 0
      if (expect < 0) {
        const take = Math.min(8 - headerGot, data.byteLength)
        header.set(data.subarray(0, take), headerGot)
        headerGot += take
        offset = take
        if (headerGot < 8) return
        expect = Number(header.readBigUInt64LE(0))
        got = 0
      }
      got += data.byteLength - offset
      if (got >= expect) {
        stream.send(new Uint8Array([1]))
        expect = -1
        headerGot = 0
      }
    })
  }, { maxInboundStreams: 4 })
}

/** The bulk sender: one connection and one Yamux stream to the receiver; `send(total)` times one run. */
export async function libp2pBulkSender (target: string, chunk: number): Promise<{ send: (total: number) => Promise<number>; close: () => Promise<void> }> {
  const node = await libp2pNode()
  const conn = await node.dial(multiaddr(target))
  const stream: Libp2pStream = await conn.newStream(BULK_PROTOCOL)
  const buf = new Uint8Array(chunk).fill(7)
  let onAck: (() => void) | undefined
  stream.addEventListener('message', () => { onAck?.() })
  return {
    send: async (total) => {
      const acked = new Promise<void>((resolve) => { onAck = resolve })
      const header = Buffer.alloc(8)
      header.writeBigUInt64LE(BigInt(total))
      const t0 = performance.now()
      if (!stream.send(header)) await stream.onDrain()
      for (let sent = 0; sent < total;) {
        const n = Math.min(chunk, total - sent)
        sent += n
        if (!stream.send(n === chunk ? buf : buf.subarray(0, n))) await stream.onDrain()
      }
      await acked
      return performance.now() - t0
    },
    close: async () => {
      await stream.close().catch(() => {})
      await node.stop()
    }
  }
}
