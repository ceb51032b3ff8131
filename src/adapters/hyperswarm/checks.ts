/**
 * What `manageSwarm` checks before it touches the swarm: a Hyperswarm instance, not one already
 * managed, options that mean what a Hyperswarm user would think they mean. Each mistake is an
 * `ERR_INVALID_ARGUMENT` naming the argument and what to do; no option is dropped in silence.
 */
import { PeerwardenError } from '../../errors.js'
import { DEFAULTS, describe, int, MANAGER_OPTIONS, rejectUnknownOptions, stringArray } from '../../manager/validate.js'
import { rejectManagerInstance } from '../../options-mistakes.js'
import type { HyperswarmLike, ManageSwarmOptions } from './types.js'

/** The swarms under a manager now: a second `manageSwarm` would patch the patches. */
const managed = new WeakSet<object>()

/** Every option `manageSwarm` takes: the manager's but `dial`, plus `topicQuota` and `room`. */
export const SWARM_OPTIONS: readonly string[] = [...MANAGER_OPTIONS.filter((name) => name !== 'dial'), 'topicQuota', 'room']

const KEY = /^[0-9a-f]{64}$/i

/**
 * The options of `new Hyperswarm()` (4.17) a user may hand `manageSwarm` instead, each with where it
 * belongs: the swarm is managed as it was made, so none of them can be applied here.
 */
const HYPERSWARM_OPTIONS: Readonly<Record<string, string>> = {
  seed: 'the swarm\'s identity; the manager\'s local peer is the swarm\'s public key',
  keyPair: 'the swarm\'s identity; the manager\'s local peer is the swarm\'s public key',
  dht: 'the swarm\'s DHT',
  bootstrap: 'the DHT\'s bootstrap nodes; a peer the manager should always dial back is manager.addPeers([{ id: hexKey, address: \'hyperswarm:\' + hexKey, bootstrap: true }])',
  nodes: 'the DHT\'s',
  port: 'the DHT\'s',
  deferRandomPunch: 'the DHT\'s',
  randomPunchInterval: 'the DHT\'s',
  handshakeClearWait: 'the swarm server\'s',
  relayThrough: 'Hyperswarm relays the manager\'s dials as it relays its own',
  firewall: 'it is kept and asked after the manager; keys to refuse here go in deny',
  maxClientConnections: 'Hyperswarm\'s outbound limit; here highWater bounds the connections in both directions',
  maxServerConnections: 'Hyperswarm\'s inbound limit; here highWater bounds the connections in both directions',
  backoffs: 'its retry table times the manager\'s redials of topic peers',
  jitter: 'its retry table times the manager\'s redials of topic peers'
}

/**
 * The options of `new Hyperswarm()` a networker that makes its swarm hands to it (corestore.ts):
 * every one in `HYPERSWARM_OPTIONS` but the two connection limits, which `highWater` replaces (in
 * both directions), and `maxParallel`, Hyperswarm's name for what the manager reads as its default
 * `maxParallelDials`.
 */
export const SWARM_CONSTRUCTOR_OPTIONS: readonly string[] = [
  ...Object.keys(HYPERSWARM_OPTIONS).filter((name) => name !== 'maxClientConnections' && name !== 'maxServerConnections'),
  'maxParallel'
]

/**
 * A run-time entry of the manager's lists under `manageSwarm` (`ACCESS_ENTRY`): a public key in hex,
 * any case, kept lowercase; anything else (an IP, a CIDR) could never match a connection known by key.
 */
export function swarmAccessEntry (entry: string, field: string): string {
  if (!KEY.test(entry)) throw PeerwardenError.invalid(`${field} must be a public key in hex (64 characters) under manageSwarm, got ${JSON.stringify(entry)}: connections are known by key, not by IP`)
  return entry.toLowerCase()
}

/**
 * Checks `manageSwarm`'s options on their own (before the swarm is looked at).
 *
 * Rules:
 * - An options bag, not a connection manager; no name outside `SWARM_OPTIONS` (a typo gets the
 *   closest name; `maxParallel` is `maxParallelDials`).
 * - An option of `new Hyperswarm()` is refused with where it belongs: the swarm keeps what it was made with.
 * - `dial` is refused: the manager dials through the swarm (Hyperswarm's own connect).
 * - `allow` and `deny` list public keys (64 hex characters, any case): connections under the
 *   manager are known by key, never by IP, so an IP range or another id would never match.
 * - `topicQuota` is `{ min, max? }`, integers >= 0 with `max >= min`, checked now rather than at the first join.
 */
export function checkSwarmOptions (options: unknown): asserts options is ManageSwarmOptions {
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid(`manageSwarm options must be an object, got ${describe(options)}`)
  rejectManagerInstance('manageSwarm options', options, 'manageSwarm')
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined) continue // says nothing: nothing is dropped
    if (name === 'dial') {
      throw PeerwardenError.invalid('manageSwarm options: dial is not accepted: the manager dials through the swarm (Hyperswarm\'s own connect); leave it out (for a transport of your own, use createConnectionManager)')
    }
    if (name === 'maxParallel') {
      throw PeerwardenError.invalid('manageSwarm options: unknown option "maxParallel"; did you mean "maxParallelDials"? (by default the swarm\'s maxParallel)')
    }
    const where = HYPERSWARM_OPTIONS[name]
    if (where !== undefined) {
      throw PeerwardenError.invalid(`manageSwarm options: ${JSON.stringify(name)} is an option of new Hyperswarm({ ${name} }), not of manageSwarm: ${where}`)
    }
  }
  // The names answered above, given as undefined, are not unknown: they say nothing.
  const answered = (name: string): boolean => name === 'dial' || name === 'maxParallel' || HYPERSWARM_OPTIONS[name] !== undefined
  rejectUnknownOptions('manageSwarm options', Object.fromEntries(Object.entries(options).filter(([name]) => !answered(name))), SWARM_OPTIONS)
  const o = options as ManageSwarmOptions
  for (const list of ['allow', 'deny'] as const) {
    if (o[list] === undefined) continue
    stringArray(list, o[list]).forEach((entry, i) => {
      if (!KEY.test(entry)) throw PeerwardenError.invalid(`${list}[${i}] must be a public key in hex (64 characters) under manageSwarm, got ${JSON.stringify(entry)}: connections are known by key, not by IP`)
    })
  }
  if (o.topicQuota !== undefined) {
    const quota = o.topicQuota as unknown
    if (quota == null || typeof quota !== 'object') throw PeerwardenError.invalid(`topicQuota must be { min, max? }, got ${describe(quota)}`)
    const { min, max } = quota as { min?: unknown; max?: unknown }
    int('topicQuota.min', min, 0)
    if (max !== undefined && int('topicQuota.max', max, 0) < (min as number)) {
      throw PeerwardenError.invalid(`topicQuota.min must be <= topicQuota.max (got ${min as number} > ${max as number})`)
    }
  }
}

/**
 * Checks `swarm` and what its options say of it (see the module comment) and marks the swarm
 * managed until `releaseSwarm`.
 *
 * Rules:
 * - `swarm` must look like a Hyperswarm v4 instance: a key pair, `connections`, `peers`, `join`, `on`.
 * - A swarm already managed is refused: close the first `manageSwarm` (or use its `.manager`).
 * - `options.localPeer`, when given, must be the swarm's public key in hex (any case): it is what the manager calls us.
 * - `options.maxPeers` is the manager's peer-table budget (peers remembered), not Hyperswarm's
 *   `maxPeers`; below `highWater` it is refused (the manager could not remember the peers it is
 *   connected to): the bound on connections is `highWater`.
 */
export function claimSwarm (swarm: unknown, options: ManageSwarmOptions): asserts swarm is HyperswarmLike {
  if (!isSwarm(swarm)) {
    const hint = typeof swarm === 'function' ? ' (the Hyperswarm class? pass an instance: new Hyperswarm())' : ''
    rejectManagerInstance('swarm', swarm, 'manageSwarm')
    throw PeerwardenError.invalid(`swarm must be a Hyperswarm instance (new Hyperswarm()), got ${describe(swarm)}${hint}`)
  }
  if (managed.has(swarm)) {
    throw PeerwardenError.invalid('swarm is already managed: close() the first manageSwarm (or use its .manager) before managing it again')
  }
  const { maxPeers, highWater, lowWater, localPeer } = options
  if (localPeer !== undefined) {
    const own = Buffer.from(swarm.keyPair.publicKey).toString('hex')
    if (typeof localPeer !== 'string' || localPeer.toLowerCase() !== own) {
      throw PeerwardenError.invalid(`localPeer must be the swarm's public key (${own}), got ${describe(localPeer)}: under manageSwarm the local peer is the swarm's key; leave localPeer out`)
    }
  }
  if (typeof maxPeers === 'number') {
    const high = typeof highWater === 'number' ? highWater : Math.max(DEFAULTS.highWater, typeof lowWater === 'number' ? lowWater : 0)
    if (maxPeers < high) {
      throw PeerwardenError.invalid(`maxPeers (${maxPeers}) must be >= highWater (${high}): under manageSwarm it is how many peers the manager remembers, not Hyperswarm's maxPeers; to bound the connections, set highWater`)
    }
  }
  managed.add(swarm)
}

/** The swarm is no longer managed (`close()`): it may be managed again. */
export function releaseSwarm (swarm: HyperswarmLike): void {
  managed.delete(swarm)
}

function isSwarm (value: unknown): value is HyperswarmLike {
  if (value == null || typeof value !== 'object') return false
  const s = value as Partial<Record<keyof HyperswarmLike, unknown>>
  const keyPair = s.keyPair as { publicKey?: unknown } | undefined
  return keyPair?.publicKey instanceof Uint8Array && s.connections instanceof Set && s.peers instanceof Map &&
    typeof s.join === 'function' && typeof s.on === 'function'
}
