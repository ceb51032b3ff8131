/**
 * The raw baseline: @hyperswarm/secret-stream (Noise XX + libsodium secretstream) directly over a
 * node:net socket on 127.0.0.1, with no multiplexer, no hello and no manager.
 */
import net from 'node:net'
import { once } from 'node:events'
import SecretStream from '@hyperswarm/secret-stream'

export type SecretStreamT = InstanceType<typeof SecretStream>

function secure (initiator: boolean, socket: net.Socket, keyPair: ReturnType<typeof SecretStream.keyPair>): SecretStreamT {
  socket.setNoDelay(true)
  const s = new SecretStream(initiator, socket, { keyPair })
  s.on('error', () => { /* a destroyed peer: the benchmark notices through its own awaits */ })
  return s
}

async function listen (server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return (server.address() as net.AddressInfo).port
}

/**
 * An in-process echo server: every message a client sends comes back unchanged. `roundTrip()` is
 * one sequential new connection: TCP connect, Noise XX, one echoed message, both ends destroyed.
 */
export class SecretStreamEcho {
  private readonly serverKeys = SecretStream.keyPair()
  private readonly clientKeys = SecretStream.keyPair()
  private readonly accepted: SecretStreamT[] = []
  private constructor (private readonly server: net.Server, readonly port: number) {}

  static async start (): Promise<SecretStreamEcho> {
    let self: SecretStreamEcho | undefined
    const server = net.createServer((socket) => {
      const s = secure(false, socket, self!.serverKeys)
      s.on('data', (d: Buffer) => { s.write(d) })
      self!.accepted.push(s)
    })
    const port = await listen(server)
    self = new SecretStreamEcho(server, port)
    return self
  }

  async roundTrip (payload: Buffer): Promise<void> {
    const c = secure(true, net.connect(this.port, '127.0.0.1'), this.clientKeys)
    try {
      if (!await c.opened) throw new Error('secret-stream handshake failed')
      const echoed = once(c, 'data')
      c.write(payload)
      const [d] = await echoed as [Buffer]
      if (d.length !== payload.length) throw new Error('echo mismatch')
    } finally {
      c.destroy()
      for (const s of this.accepted.splice(0)) s.destroy()
    }
  }

  async close (): Promise<void> {
    for (const s of this.accepted.splice(0)) s.destroy()
    await new Promise<void>((resolve) => { this.server.close(() => { resolve() }) })
  }
}

/**
 * The bulk receiver (runs in the child): the first message of a run is its length (8 bytes, LE),
 * then payload; once every byte arrived it answers one byte.
 */
export async function secretStreamBulkReceiver (): Promise<{ port: number; close: () => Promise<void> }> {
  const keyPair = SecretStream.keyPair()
  const streams = new Set<SecretStreamT>()
  const server = net.createServer((socket) => {
    const s = secure(false, socket, keyPair)
    streams.add(s)
    s.once('close', () => { streams.delete(s) })
    let expect = -1
    let got = 0
    s.on('data', (d: Buffer) => {
      // secret-stream keeps message boundaries: the header is a message of its own.
      if (expect < 0) { expect = Number(d.readBigUInt64LE(0)); got = 0; return }
      got += d.length
      if (got >= expect) { s.write(Buffer.from([1])); expect = -1 }
    })
  })
  const port = await listen(server)
  return {
    port,
    close: async () => {
      for (const s of streams) s.destroy()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    }
  }
}

/** The bulk sender: one secret stream to the receiver; `send(total)` times one run. */
export async function secretStreamBulkSender (port: number, chunk: number): Promise<{ send: (total: number) => Promise<number>; close: () => void }> {
  const c = secure(true, net.connect(port, '127.0.0.1'), SecretStream.keyPair())
  if (!await c.opened) throw new Error('secret-stream handshake failed')
  const buf = Buffer.alloc(chunk, 7)
  return {
    send: async (total) => {
      const header = Buffer.alloc(8)
      header.writeBigUInt64LE(BigInt(total))
      const acked = once(c, 'data')
      const t0 = performance.now()
      c.write(header)
      for (let sent = 0; sent < total;) {
        const n = Math.min(chunk, total - sent)
        sent += n
        if (!c.write(n === chunk ? buf : buf.subarray(0, n))) await once(c, 'drain')
      }
      await acked
      return performance.now() - t0
    },
    close: () => { c.destroy() }
  }
}
