// Real secret-stack 8 servers on 127.0.0.1 for the SSB tests and the benchmark. secret-stack has only
// a `require` export, so it is loaded with createRequire; the types here are the part the tests use.
import { createRequire } from 'node:module'
import { createServer, type AddressInfo } from 'node:net'
import { createPlugin, type SbotLike, type SsbConnectionManager, type SsbPluginOptions } from '../../src/adapters/ssb.js'

const require = createRequire(import.meta.url)

/** An SSB key pair as ssb-keys makes it. */
export interface Keys { id: string; public: string; private: string; curve: string }
/** The part of an RPC the tests read. */
export interface Rpc { id: string; closed: boolean; close(err: unknown, cb?: () => void): void }
/** The part of a secret-stack server the tests use. */
export interface Sbot extends SbotLike {
  readonly id: string
  readonly peers: Record<string, Rpc[] | undefined>
  getAddress(scope?: string): string
  connect: SbotLike['connect']
  on(event: 'rpc:connect', listener: (rpc: Rpc, isClient: boolean) => void): this
  on(event: 'multiserver:listening', listener: () => void): this
  once(event: 'multiserver:listening', listener: () => void): this
  close: SbotLike['close']
  peerwarden: SsbConnectionManager
}
type AppFactory = (config: object) => Sbot
type SecretStackFn = (config: object) => { use(plugin: unknown): AppFactory & { use(plugin: unknown): AppFactory } }

export const SecretStack = require('secret-stack') as SecretStackFn
export const caps = require('ssb-caps') as { shs: string }
export const ssbKeys = require('ssb-keys') as { generate(): Keys }

/** Keys whose id holds `/`, `+` and `=` (every id ends in `=`): the characters that break paths and URLs. */
export function awkwardKeys (): Keys {
  for (;;) {
    const k = ssbKeys.generate()
    if (k.id.includes('/') && k.id.includes('+')) return k
  }
}

/**
 * `n` ports free on 127.0.0.1 right now: secret-stack swallows EADDRINUSE (and takes port 0 as
 * "random"), so the tests pick their ports themselves, all at once so none repeats.
 */
export async function freePorts (n: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, async () => await new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, host, () => { resolve(s) })
  })))
  const ports = servers.map((s) => (s.address() as AddressInfo).port)
  await Promise.all(servers.map(async (s) => { await new Promise((resolve) => s.close(resolve)) }))
  return ports
}

/** One running server. */
export interface Server {
  readonly sbot: Sbot
  readonly api: SsbConnectionManager
  readonly id: string
  readonly address: string
  readonly keys: Keys
  readonly port: number
  /** Closes the server and every RPC (idempotent). */
  close(): Promise<void>
}

export interface ServerOptions {
  keys?: Keys
  port?: number
  /** Options for createPlugin (store, clock…). */
  plugin?: SsbPluginOptions
  /** The plugin's config section (plain options). */
  config?: Record<string, unknown>
  /** Other plugins to use after ours (ssb-conn for the benchmark). */
  use?: unknown[]
  /** More config (top-level), e.g. `path` for ssb-conn. */
  extra?: Record<string, unknown>
  /** Without our plugin (a plain server). */
  bare?: boolean
  /** Default 127.0.0.1. */
  host?: string
}

/** Starts a server on 127.0.0.1 and resolves once it listens. */
export async function startServer (options: ServerOptions = {}): Promise<Server> {
  const keys = options.keys ?? ssbKeys.generate()
  const port = options.port ?? (await freePorts(1, options.host))[0]
  let stack = SecretStack({ global: { caps } }) as unknown as { use(p: unknown): typeof stack } & AppFactory
  if (options.bare !== true) stack = stack.use(createPlugin(options.plugin ?? {}))
  for (const p of options.use ?? []) stack = stack.use(p)
  const sbot = stack({
    ...(options.extra ?? {}),
    global: { keys, host: options.host ?? '127.0.0.1', port, timers: { inactivity: 0 } },
    ...(options.config !== undefined ? { peerwarden: options.config } : {})
  })
  await new Promise<void>((resolve) => { sbot.once('multiserver:listening', resolve) })
  let closing: Promise<void> | undefined
  return {
    sbot,
    api: sbot.peerwarden,
    id: sbot.id,
    address: sbot.getAddress(),
    keys,
    port,
    close: async () => {
      closing ??= new Promise<void>((resolve) => { sbot.close(true, () => { resolve() }) })
      await closing
    }
  }
}

/** Starts `n` servers (ports chosen at once, so none repeats). */
export async function startServers (n: number, options: Omit<ServerOptions, 'port' | 'keys'> = {}): Promise<Server[]> {
  const ports = await freePorts(n, options.host)
  return await Promise.all(ports.map(async (port) => await startServer({ ...options, port })))
}

/** The open RPCs a server holds to other peers, by secret-stack's own table. */
export function openRpcs (sbot: Sbot): Rpc[] {
  return Object.values(sbot.peers).flatMap((list) => list ?? []).filter((r) => !r.closed && r.id !== sbot.id)
}

/** The feed ids a server holds an open RPC to. */
export function rpcPeers (sbot: Sbot): string[] {
  return [...new Set(openRpcs(sbot).map((r) => r.id))]
}
