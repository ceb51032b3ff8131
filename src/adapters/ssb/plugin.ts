/**
 * The secret-stack plugin: a connection manager inside an SSB server.
 *
 * Rules:
 * - The manager's `dial` is `sbot.connect`; its `localPeer` is the server's feed id; its peers are
 *   feed ids and their addresses multiserver addresses.
 * - Every RPC, inbound and outbound, is reported on secret-stack's 'rpc:connect' (however it was
 *   opened: by the manager, by the application's own `sbot.connect`, by another plugin). An RPC the
 *   manager refuses, trims, rotates or bans is closed. secret-stack keeps duplicate RPCs to one
 *   peer; the manager keeps one (both sides keep the same one: the duplicate rule) and closes the other.
 * - `sbot.auth` is hooked: a peer the manager would refuse whoever asks (banned, denied, or over the
 *   bound with nothing that may give way) fails the handshake before any RPC is made. The dialer
 *   sees "server hung up … (phase 3)".
 * - `sbot.close` is hooked: the manager closes first (its RPCs, its timers, its store, flushed), and
 *   the close callback waits for it.
 * - Off by default (`autostart: false`): connections are counted and bounded from creation, but
 *   nothing is dialled before `sbot.<name>.connections.start()`.
 * - Configuration: the plugin's config section (`config.<name>`) takes the manager's plain options
 *   (numbers, lists, booleans) and `autostart`; objects (a `store`, a `clock`, a `logger`, the
 *   `onPrioritise` hook) go to `createPlugin(options)`, since secret-stack copies config objects
 *   field by field. The config section wins over `createPlugin`'s options.
 */
import { PeerwardenError } from '../../errors.js'
import { childOf, silentLogger, type Logger } from '../../logger.js'
import { createConnectionManager } from '../../manager/manager.js'
import { ACCESS_ENTRY } from '../../manager/access-list.js'
import type { Clock, ConnectionManager, ConnectionManagerOptions } from '../../manager/types.js'
import { systemClock } from '../../clock.js'
import { MANAGER_OPTIONS, rejectUnknownOptions } from '../../manager/validate.js'
import { isFeedId, ssbAccessEntry } from './addresses.js'
import { createSsbApi, toPriority } from './api.js'
import { dialRpc } from './dial.js'
import { RpcConnections } from './rpc-connections.js'
import { Room } from './room.js'
import type { OnPrioritise, RpcLike, SbotLike, SsbConnectionManager, SsbManagerOptions, SsbPlugin, SsbPluginOptions } from './types.js'

/** The options `createPlugin` takes besides the manager's. */
const PLUGIN_OPTIONS = ['name', 'autostart', 'onPrioritise', 'logger']
/** The manager options the API makes itself. */
const MADE_HERE = new Set(['dial', 'localPeer', 'prioritise'])
/** Options that only `createPlugin` can carry (objects and functions: secret-stack's config copy would break them). */
const CODE_ONLY = new Set(['store', 'clock', 'random', 'accepted', 'onPrioritise', 'logger', 'name'])
const MANAGER_NAMES = MANAGER_OPTIONS.filter((n) => !MADE_HERE.has(n))

/** The methods and their muxrpc types (for a master-permission client such as ssb-client); none is open to anonymous peers. */
const MANIFEST = {
  peers: { add: 'sync', setPriority: 'sync', setLongTerm: 'sync', forget: 'sync', list: 'sync' },
  connections: { start: 'sync', stop: 'async', setMax: 'sync', setLifetime: 'sync', remotePeerConnected: 'sync', connectNow: 'async' },
  connection: { errors: 'source' },
  initialSync: { start: 'sync', stop: 'sync' }
}

/** The plugin's interface version (what secret-stack lists). */
const VERSION = '1.0.0'

/** The manager's options, with `onPrioritise` made the manager's `prioritise` and the hook replaceable. */
export function managerOptions (options: SsbManagerOptions): { manager: Record<string, unknown>; setPrioritise: (hook: OnPrioritise | undefined) => void; logger: Logger } {
  const { onPrioritise, logger, ...rest } = options
  let hook = onPrioritise
  if (hook !== undefined && typeof hook !== 'function') throw PeerwardenError.invalid('onPrioritise must be a function')
  return {
    manager: {
      ...rest,
      prioritise: (peer: Parameters<OnPrioritise>[0]) => {
        if (hook === undefined) return undefined
        const answer = hook(peer)
        return answer === undefined ? undefined : toPriority(answer, 'the onPrioritise hook\'s answer')
      }
    },
    setPrioritise: (h) => { hook = h },
    logger: logger ?? silentLogger
  }
}

/** A secret-stack plugin with these options (see the module comment); `plugin` is `createPlugin()`. */
export function createPlugin (options: SsbPluginOptions = {}): SsbPlugin {
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('createPlugin options must be an object')
  rejectUnknownOptions('createPlugin options', options, [...MANAGER_NAMES, ...PLUGIN_OPTIONS])
  const name = options.name ?? 'peerwarden'
  // Already camelCase: secret-stack mounts the plugin at its name's camelCase form.
  if (typeof name !== 'string' || !/^[a-z][a-zA-Z0-9]*$/.test(name) || name === 'global') {
    throw PeerwardenError.invalid(`name must be a camelCase identifier other than "global", got ${JSON.stringify(name)}`)
  }
  return {
    name,
    version: VERSION,
    manifest: MANIFEST,
    permissions: { anonymous: { allow: [] } },
    init: (sbot: SbotLike, config: Record<string, unknown>) => new ServerPlugin(sbot, name, options, config?.[name]).api
  }
}

/** The plugin with the default options: `SecretStack({ global: { caps } }).use(plugin)`. */
export const plugin: SsbPlugin = createPlugin()

function checkSbot (sbot: SbotLike): void {
  if (sbot == null || typeof sbot !== 'object') throw PeerwardenError.invalid('the plugin needs a secret-stack server')
  if (!isFeedId(sbot.id)) throw PeerwardenError.invalid(`the server's id must be a feed id, got ${JSON.stringify(sbot.id)}`)
  for (const method of ['connect', 'auth', 'close'] as const) {
    if (typeof sbot[method] !== 'function' || typeof sbot[method].hook !== 'function') throw PeerwardenError.invalid(`the server has no hookable ${method}(): is this secret-stack 8?`)
  }
  if (typeof sbot.on !== 'function') throw PeerwardenError.invalid('the server is not an event emitter')
}

/** The config section, checked: plain options only. */
function configSection (section: unknown, name: string): Record<string, unknown> {
  if (section === undefined || section === null) return {}
  if (typeof section !== 'object' || Array.isArray(section)) throw PeerwardenError.invalid(`config.${name} must be an object`)
  for (const key of Object.keys(section)) {
    if (CODE_ONLY.has(key)) throw PeerwardenError.invalid(`config.${name}.${key}: pass it to createPlugin({ ${key} }) instead (secret-stack copies config objects field by field)`)
  }
  rejectUnknownOptions(`config.${name}`, section, [...MANAGER_NAMES.filter((n) => !CODE_ONLY.has(n)), 'autostart'])
  return section as Record<string, unknown>
}

class ServerPlugin {
  readonly manager: ConnectionManager
  readonly api: SsbConnectionManager
  private readonly rpcs: RpcConnections
  private readonly log: Logger
  private closing: Promise<void> | undefined
  /** The manager's clock (the room rule's time). */
  private readonly clock: Clock
  /** The room a full server makes for newcomers (./room.ts). */
  private readonly room: Room

  constructor (private readonly sbot: SbotLike, name: string, options: SsbPluginOptions, section: unknown) {
    checkSbot(sbot)
    const { name: _name, autostart: codeAutostart, ...fromCode } = options
    const { autostart: configAutostart, ...fromConfig } = configSection(section, name)
    const autostart = configAutostart ?? codeAutostart ?? false
    if (typeof autostart !== 'boolean') throw PeerwardenError.invalid(`autostart must be a boolean, got ${JSON.stringify(autostart)}`)
    const made = managerOptions({ ...fromCode, ...fromConfig })
    this.log = childOf(made.logger, { component: 'ssb', id: sbot.id })
    this.manager = createConnectionManager({
      ...made.manager,
      localPeer: sbot.id,
      dial: async (address, { signal }) => await dialRpc((a, cb) => { sbot.connect(a, cb) }, this.rpcs, address, signal),
      // Run-time entries (deny, allow, a ban by IP): feed ids, IPs; an address is the feed id it names.
      [ACCESS_ENTRY]: ssbAccessEntry
    } as ConnectionManagerOptions)
    // Checked by createConnectionManager above.
    this.clock = (made.manager.clock as Clock | undefined) ?? systemClock
    this.rpcs = new RpcConnections(this.manager, () => sbot.id)
    this.room = new Room(this.manager, () => this.clock.now())
    const room = this.room
    this.api = createSsbApi({
      manager: this.manager,
      rpcs: this.rpcs,
      openRpcs: (peer) => (sbot.peers?.[peer] ?? []).filter((rpc) => rpc?.closed !== true),
      setPrioritise: made.setPrioritise,
      roomStats: () => room.stats()
    })
    this.install()
    // Mounted before secret-stack merges the API in (it merges into what is there): the manager,
    // which it would flatten, stays reachable as `sbot.<name>.manager`.
    ;(sbot as unknown as Record<string, unknown>)[name] = this.api
    if (autostart) this.manager.start()
  }

  private install (): void {
    const { sbot, manager, rpcs, log } = this
    const room = this.room
    sbot.on('rpc:connect', (rpc: RpcLike, isClient: boolean) => {
      // Inside secret-stack's connection setup: nothing may throw out of here.
      try {
        rpcs.report(rpc, isClient ? 'outbound' : 'inbound')
      } catch (err) {
        log.warn({ err, peer: rpc?.id }, 'could not account an RPC')
      }
    })
    sbot.auth.hook(function (this: unknown, original, args) {
      const [id, cb] = args as [unknown, unknown]
      if (typeof cb === 'function' && isFeedId(id)) {
        let refuse = false
        try {
          if (!manager.admits(id)) {
            // Refused by the bound alone (not banned, not denied): a surplus connection may give way (./room.ts).
            const boundOnly = manager.getPeer(id)?.priority !== 'banned' && !manager.isDenied(id)
            refuse = !(boundOnly && room.makeRoom(id) && manager.admits(id))
          }
        } catch (err) { log.warn({ err, peer: id }, 'admission check failed') }
        if (refuse) {
          log.debug({ peer: id }, 'handshake refused')
          const reason = manager.getPeer(id)?.priority === 'banned' ? 'banned' : manager.isDenied(id) ? 'denied' : 'refused'
          cb(new PeerwardenError('ERR_REFUSED', `${id} is ${reason} by the connection manager`))
          return
        }
      }
      return original.apply(this, args)
    })
    const closeManager = async (): Promise<void> => { await this.close() }
    sbot.close.hook(function (this: unknown, original, args) {
      const closing = closeManager()
      let at = args.length - 1
      while (at >= 0 && typeof args[at] !== 'function') at--
      if (at !== -1) {
        const cb = args[at] as (...r: unknown[]) => void
        args[at] = (...r: unknown[]) => { void closing.then(() => { cb(...r) }) }
      }
      return original.apply(this, args)
    })
  }

  /** Closes the manager (its RPCs, timers and store); once. */
  private async close (): Promise<void> {
    this.closing ??= this.manager.close().catch((err: unknown) => { this.log.warn({ err }, 'closing the manager failed') })
    await this.closing
  }
}
