/**
 * `peerwarden/ssb`: the connection manager inside an SSB server (secret-stack 8), with the API and
 * the names of sbot-connection-manager. Guide: docs/ssb.md.
 *
 * ```js
 * const App = SecretStack({ global: { caps: { shs } } }).use(plugin)
 * const sbot = App({ global: { keys, host: '127.0.0.1', port: 8008 } })
 * sbot.peerwarden.peers.add([{ address: 'net:10.0.0.2:8008~shs:…' }])
 * sbot.peerwarden.connections.setMax(4)
 * sbot.peerwarden.connections.start()
 * ```
 *
 * - `plugin` (also exported as `ssbPlugin`), or `createPlugin(options)` for options secret-stack's
 *   config cannot carry (a `store`, a `clock`, a `logger`, the `onPrioritise` hook): rules in
 *   ./ssb/plugin.ts.
 * - `Manager({ connectToPeer })`: the standalone factory, for an application that wires the
 *   connections itself: rules in ./ssb/standalone.ts.
 * - The API both hand out (`peers`, `connections`, `connection.errors()`, `initialSync`,
 *   `onPrioritise`, `manager`): rules in ./ssb/api.ts. `priority` holds the priorities by the
 *   names of sbot-connection-manager (`priority.MED` is `'medium'`).
 *
 * Peer ids are feed ids (`@…=.ed25519`); addresses are multiserver addresses (`net:HOST:PORT~shs:KEY`).
 * Nothing here loads secret-stack: the application passes its server (or `connectToPeer`) in, so
 * this module loads, from ESM or CommonJS, without any SSB package installed.
 *
 * @module
 */
export { createPlugin, plugin } from './ssb/plugin.js'
export { Manager, type SsbStandaloneManager } from './ssb/standalone.js'
export { priority, toPriority } from './ssb/api.js'
export { feedIdOf, isFeedId, isMultiserverAddress } from './ssb/addresses.js'
export type { PullCallback, PullSource } from './ssb/pull-source.js'
export type {
  Hookable, NodeCallback, OnPrioritise, PriorityName, RpcLike, SbotLike, SsbConnectionError, SsbConnectionManager,
  SsbManagerOptions, SsbPeerInput, SsbPlugin, SsbPluginOptions, SsbPriorityUpdate, StandaloneOptions
} from './ssb/types.js'
export { plugin as ssbPlugin } from './ssb/plugin.js'
