/**
 * socket.io 4 as a request/response peer: the server (in the child) answers 'echo' with an ack of
 * what it received; the client (in the bench process) calls `socket.emitWithAck('echo', payload)`.
 * WebSocket transport only (no long-polling phase), default parser, 127.0.0.1 only; with `tls`,
 * over HTTPS/WSS (what a team needing encryption runs), Node's default TLS settings.
 */
import { once } from 'node:events'
import { createServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { Server } from 'socket.io'
import { io } from 'socket.io-client'
import { withTimeout } from './common.js'
import type { Payload, RpcClient, TlsPair } from './rpc.js'

export async function socketioServer (tls?: TlsPair): Promise<{ port: number; close: () => Promise<void> }> {
  const http = tls === undefined ? createServer() : createHttpsServer({ key: tls.key, cert: tls.cert })
  const server = new Server(http, { serveClient: false, transports: ['websocket'] })
  server.on('connection', (socket) => {
    socket.on('echo', (msg: unknown, ack: (v: unknown) => void) => { ack(msg) })
  })
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  return {
    port: (http.address() as AddressInfo).port,
    close: async () => { await new Promise<void>((resolve) => { server.close(() => { resolve() }) }) }
  }
}

export async function socketioClient (port: number, tls?: TlsPair, timeoutMs = 10_000): Promise<RpcClient> {
  // The certificate is the one the child serves (self-signed for 127.0.0.1): trusted as the CA.
  const socket = tls === undefined
    ? io(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false })
    : io(`https://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false, ca: tls.cert })
  try {
    await withTimeout(new Promise<void>((resolve, reject) => {
      socket.once('connect', () => { resolve() })
      socket.once('connect_error', (err) => { reject(err) })
    }), timeoutMs, 'socket.io connect')
  } catch (err) {
    socket.close()
    throw err
  }
  return {
    call: async (payload: Payload) => await socket.emitWithAck('echo', payload),
    close: async () => { socket.close() }
  }
}
