/**
 * Moleculer 0.14 as a request/response peer: a server broker (in the child) with the service
 * 'bench' (action 'echo' returns its params), a client broker (in the bench process) calling
 * `broker.call('bench.echo', payload)`. Built-in TCP transporter, JSON serializer, no UDP discovery:
 * the client is given the server's address (static `urls`), the server learns the client from its
 * gossip hello. Loggers, metrics and tracing off.
 *
 * Moleculer's TCP transporter listens on every interface and has no host option; the subclass below
 * swaps in a reader that listens on 127.0.0.1 only (the rest of the transporter is unchanged).
 */
import { createRequire } from 'node:module'
import net from 'node:net'
import { dirname, join } from 'node:path'
import moleculer from 'moleculer'
import { withTimeout } from './common.js'
import type { MoleculerEncryption, Payload, RpcClient } from './rpc.js'

const { ServiceBroker, Transporters, Middlewares } = moleculer

/** The parts of Moleculer's (untyped) TCP transporter internals the loopback subclass touches. */
interface TcpInternals {
  opts: { port?: number | null }
  writer: { on: (event: string, fn: (...args: any[]) => void) => void }
  reader: { listen: () => Promise<number> }
  nodes: { disconnected: (nodeID: string, unexpected: boolean) => void }
}
interface TcpReaderInternals {
  opts: { port?: number | null }
  server: net.Server | null
  connected: boolean
  onTcpClientConnected: (socket: net.Socket) => void
}
type Ctor<T> = new (...args: any[]) => T

// The reader and writer are not exported (package "exports"); require them by file, as tcp.js does.
const require = createRequire(import.meta.url)
const tcpDir = join(dirname(require.resolve('moleculer')), 'src', 'transporters', 'tcp')
const TcpReader = require(join(tcpDir, 'tcp-reader.js')) as Ctor<TcpReaderInternals>
const TcpWriter = require(join(tcpDir, 'tcp-writer.js')) as Ctor<TcpInternals['writer']>

class LoopbackTcpReader extends TcpReader {
  async listen (): Promise<number> {
    return await new Promise<number>((resolve, reject) => {
      const server = net.createServer((socket) => { this.onTcpClientConnected(socket) })
      server.once('error', reject)
      server.listen({ port: this.opts.port ?? 0, host: '127.0.0.1', exclusive: true }, () => {
        server.off('error', reject)
        this.opts.port = (server.address() as net.AddressInfo).port
        this.connected = true
        resolve(this.opts.port)
      })
      this.server = server
    })
  }
}

const TcpBase = Transporters.TCP as unknown as Ctor<TcpInternals>
/** Moleculer's TCP transporter, listening on 127.0.0.1 only (startTcpServer of tcp.js, with the loopback reader). */
class LoopbackTcpTransporter extends TcpBase {
  startTcpServer (): Promise<number> {
    this.writer = new TcpWriter(this, this.opts)
    this.reader = new LoopbackTcpReader(this, this.opts) as unknown as TcpInternals['reader']
    this.writer.on('error', (_err: unknown, nodeID: string) => { this.nodes.disconnected(nodeID, false) })
    this.writer.on('end', (nodeID: string) => { this.nodes.disconnected(nodeID, false) })
    return this.reader.listen()
  }
}

function transporter (port: number, urls: string[]): moleculer.Transporter {
  return new LoopbackTcpTransporter({ udpDiscovery: false, port, urls, useHostname: false }) as unknown as moleculer.Transporter
}

/**
 * A broker; with `encryption`, Moleculer's own Encryption middleware (Middlewares.Transmit.Encryption:
 * every packet through aes-256-cbc with the given key and IV), what its documentation offers a team
 * that needs the transporter's traffic encrypted.
 */
function broker (nodeID: string, t: moleculer.Transporter, encryption?: MoleculerEncryption): moleculer.ServiceBroker {
  const middlewares = encryption === undefined ? [] : [Middlewares.Transmit.Encryption(Buffer.from(encryption.key, 'hex'), 'aes-256-cbc', Buffer.from(encryption.iv, 'hex'))]
  return new ServiceBroker({ nodeID, namespace: 'peerwarden-bench', transporter: t, logger: false, metrics: false, tracing: false, middlewares })
}

/** The server broker (in the child); `port` is its TCP transporter's port on 127.0.0.1. */
export async function moleculerServer (nodeID: string, encryption?: MoleculerEncryption): Promise<{ port: number; close: () => Promise<void> }> {
  const t = transporter(0, [])
  const b = broker(nodeID, t, encryption)
  b.createService({ name: 'bench', actions: { echo: (ctx: moleculer.Context) => ctx.params } })
  await b.start()
  const port = (t as unknown as TcpInternals).opts.port
  if (typeof port !== 'number' || port === 0) { await b.stop(); throw new Error('moleculer: the TCP transporter did not report its port') }
  return { port, close: async () => { await b.stop() } }
}

/** The client broker (in the bench process); resolves once the server's 'bench' service is visible (gossip, ~2 s). */
export async function moleculerClient (serverPort: number, serverNodeID: string, encryption?: MoleculerEncryption, timeoutMs = 15_000): Promise<RpcClient & { discoveryMs: number }> {
  const b = broker(`${serverNodeID}-client`, transporter(0, [`127.0.0.1:${serverPort}/${serverNodeID}`]), encryption)
  const t0 = performance.now()
  try {
    await withTimeout(b.start(), timeoutMs, 'moleculer client start')
    await withTimeout(b.waitForServices(['bench'], timeoutMs), timeoutMs, 'moleculer service discovery')
  } catch (err) {
    await b.stop().catch(() => {})
    throw err
  }
  return {
    discoveryMs: performance.now() - t0,
    call: async (payload: Payload) => await b.call('bench.echo', payload),
    close: async () => { await b.stop() }
  }
}
