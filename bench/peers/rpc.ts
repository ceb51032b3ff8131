/**
 * Shared by the request/response benchmarks of the mesh (bench/mesh.bench.ts): the payload, what a
 * client looks like, and the parent's side of a server child (bench/peers/rpc-server.js, forked).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { withTimeout } from './common.js'
import type { AeadKeys } from './raw-rpc.js'

/** The same small JSON object for every contestant. */
export const PAYLOAD = { id: 1, text: 'hello', n: [1, 2, 3] }
export type Payload = typeof PAYLOAD

/** One contestant's caller, in the bench process. */
export interface RpcClient {
  call: (payload: Payload) => Promise<unknown>
  close: () => Promise<void>
}

/**
 * What a server child serves:
 * - 'mesh': `count` Worker mesh nodes registered with the registry at `registry`, variants `<prefix>-<i>`;
 * - 'moleculer': a broker with the 'bench' service (TCP transporter, listens on 127.0.0.1), with
 *   `encryption`, Moleculer's Encryption middleware;
 * - 'socketio': a socket.io server answering 'echo' acks, over TLS (wss) with `tls`;
 * - 'raw': a node:net length-prefixed JSON echo, each frame sealed with `aead`'s keys if given.
 */
export type RpcServerConfig =
  | { kind: 'mesh'; registry: string; count: number; prefix: string }
  | { kind: 'moleculer'; nodeID: string; encryption?: MoleculerEncryption }
  | { kind: 'socketio'; tls?: TlsPair }
  | { kind: 'raw'; aead?: AeadKeys }

/** Moleculer's Encryption middleware settings (hex): a 32-byte key and a 16-byte IV, aes-256-cbc. */
export interface MoleculerEncryption { key: string; iv: string }
/** A TLS key and certificate (PEM). */
export interface TlsPair { key: string; cert: string }

/** What a server child says once it serves: its port (all but 'mesh') or its variants ('mesh'). */
export interface RpcServerReady { ready: true; port?: number; variants?: string[] }

export interface RpcServer { child: ChildProcess; ready: RpcServerReady; stop: () => Promise<void> }

/** Forks bench/peers/rpc-server.js serving `config`; resolves once it serves, or rejects after `timeoutMs`. */
export async function startRpcServer (config: RpcServerConfig, timeoutMs = 15_000): Promise<RpcServer> {
  const script = fileURLToPath(new URL('./rpc-server.js', import.meta.url))
  const child = fork(script, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] })
  const exited = once(child, 'exit')
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    if (child.connected) child.send('stop')
    try {
      await withTimeout(exited, 5_000, `${config.kind} server exit`)
    } catch {
      child.kill('SIGKILL')
      await exited
    }
  }
  try {
    const ready = await withTimeout(new Promise<RpcServerReady>((resolve, reject) => {
      child.once('message', (m) => { resolve(m as RpcServerReady) })
      child.once('exit', (code) => { reject(new Error(`${config.kind} server exited with ${String(code)} before it was ready`)) })
    }), timeoutMs, `${config.kind} server start`)
    return { child, ready, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
