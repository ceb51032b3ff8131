/**
 * The serving end of the mesh benchmarks, run with child_process.fork (see startRpcServer in
 * bench/peers/rpc.ts): `node rpc-server.js '<RpcServerConfig as JSON>'`. It serves on 127.0.0.1,
 * tells the parent over IPC ({ ready, port? , variants? }), and exits on 'stop' or when the parent
 * goes away.
 */
import { exitWhenStopped } from './common.js'
import type { RpcServerConfig, RpcServerReady } from './rpc.js'

const config = JSON.parse(process.argv[2] ?? '{}') as RpcServerConfig
let close: (() => Promise<void>) | undefined
let ready: RpcServerReady

// Registered first: a parent that goes away while we start still takes us with it.
exitWhenStopped(async () => { await close?.() })

if (config.kind === 'mesh') {
  const { meshWorkers } = await import('./mesh-worker.js')
  const w = await meshWorkers(config.registry, config.count, config.prefix)
  close = w.close
  ready = { ready: true, variants: w.variants }
} else if (config.kind === 'moleculer') {
  const { moleculerServer } = await import('./moleculer.js')
  const s = await moleculerServer(config.nodeID, config.encryption)
  close = s.close
  ready = { ready: true, port: s.port }
} else if (config.kind === 'socketio') {
  const { socketioServer } = await import('./socketio.js')
  const s = await socketioServer(config.tls)
  close = s.close
  ready = { ready: true, port: s.port }
} else if (config.kind === 'raw') {
  const { rawServer } = await import('./raw-rpc.js')
  const s = await rawServer(config.aead)
  close = s.close
  ready = { ready: true, port: s.port }
} else {
  throw new Error(`unknown server kind ${JSON.stringify((config as { kind?: unknown }).kind)}`)
}

process.send!(ready)
