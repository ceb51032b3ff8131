/**
 * The floors of the request/response benchmarks: plain node:net on 127.0.0.1, one connection,
 * frames of a 4-byte length (little endian) and a JSON body `{ id, p }`, no timers. The server
 * parses each request and answers with the same body re-serialized, one write per frame.
 *
 * Unencrypted, or (`aead`) each frame's body sealed with the AEAD the node's Noise transport uses
 * per message (ChaCha20-Poly1305 through src/node/transport-cipher.ts: the same code, a key and a
 * nonce counter per direction, a 16-byte tag), keys given to both ends: the encrypted floor, what
 * authenticated encryption costs per message without any handshake, framing or RPC layer.
 */
import net from 'node:net'
import { once } from 'node:events'
import { TAG, TransportCipher } from '../../src/node/transport-cipher.js'
import type { Payload, RpcClient } from './rpc.js'

/** Keys of the encrypted floor (hex, 32 bytes each), as the client sees them; the server swaps them. */
export interface AeadKeys { tx: string; rx: string }

/** A frame writer and a frame reader for one side: plain, or sealed with `keys`. */
function codec (keys: AeadKeys | undefined): { encode: (body: Frame) => Buffer; decoder: (onFrame: (body: Frame) => void) => (chunk: Buffer) => void } {
  if (keys === undefined) return { encode: encodeFrame, decoder: frameDecoder }
  const cipher = new TransportCipher(Buffer.from(keys.tx, 'hex'), Buffer.from(keys.rx, 'hex'))
  return {
    encode: (body) => {
      const json = JSON.stringify(body)
      const len = Buffer.byteLength(json)
      const out = Buffer.allocUnsafe(4 + len + TAG)
      out.writeUInt32LE(len + TAG, 0)
      out.write(json, 4)
      cipher.sealInPlace(out, 4, len)
      return out
    },
    decoder: (onFrame) => rawFrames((frame) => {
      const plain = cipher.open(frame)
      onFrame(JSON.parse(plain.toString('utf8')) as Frame)
    })
  }
}

/** A 'data' listener that calls `onFrame` with each complete frame's bytes (a copy), whatever the chunking. */
function rawFrames (onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let rest: Buffer | undefined
  return (chunk) => {
    const b = rest === undefined ? chunk : Buffer.concat([rest, chunk])
    let off = 0
    while (b.length - off >= 4) {
      const len = b.readUInt32LE(off)
      if (b.length - off - 4 < len) break
      onFrame(Buffer.from(b.subarray(off + 4, off + 4 + len)))
      off += 4 + len
    }
    rest = off === b.length ? undefined : b.subarray(off)
  }
}

interface Frame { id: number; p: unknown }

export function encodeFrame (body: Frame): Buffer {
  const json = JSON.stringify(body)
  const len = Buffer.byteLength(json)
  const out = Buffer.allocUnsafe(4 + len)
  out.writeUInt32LE(len, 0)
  out.write(json, 4)
  return out
}

/** A 'data' listener that calls `onFrame` for each complete frame, whatever the chunking. */
export function frameDecoder (onFrame: (body: Frame) => void): (chunk: Buffer) => void {
  let rest: Buffer | undefined
  return (chunk) => {
    const b = rest === undefined ? chunk : Buffer.concat([rest, chunk])
    let off = 0
    while (b.length - off >= 4) {
      const len = b.readUInt32LE(off)
      if (b.length - off - 4 < len) break
      onFrame(JSON.parse(b.toString('utf8', off + 4, off + 4 + len)) as Frame)
      off += 4 + len
    }
    rest = off === b.length ? undefined : b.subarray(off)
  }
}

/** The echo server (in the child). */
export async function rawServer (aead?: AeadKeys): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.once('close', () => { sockets.delete(socket) })
    socket.on('error', () => { /* the client went away */ })
    socket.setNoDelay(true)
    const { encode, decoder } = codec(aead === undefined ? undefined : { tx: aead.rx, rx: aead.tx })
    socket.on('data', decoder((m) => { socket.write(encode({ id: m.id, p: m.p })) }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    }
  }
}

/** The caller (in the bench process): one connection, calls matched to answers by id. */
export async function rawClient (port: number, aead?: AeadKeys): Promise<RpcClient> {
  const { encode, decoder } = codec(aead)
  const socket = net.connect({ host: '127.0.0.1', port })
  socket.setNoDelay(true)
  await once(socket, 'connect')
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  let nextId = 1
  socket.on('data', decoder((m) => {
    const p = pending.get(m.id)
    if (p === undefined) return
    pending.delete(m.id)
    p.resolve(m.p)
  }))
  socket.once('close', () => {
    for (const p of pending.values()) p.reject(new Error('raw: connection closed'))
    pending.clear()
  })
  socket.on('error', () => { /* surfaces as 'close' */ })
  return {
    call: async (payload: Payload) => await new Promise((resolve, reject) => {
      if (socket.destroyed) { reject(new Error('raw: connection closed')); return }
      const id = nextId++
      pending.set(id, { resolve, reject })
      socket.write(encode({ id, p: payload }))
    }),
    close: async () => { socket.destroy() }
  }
}
