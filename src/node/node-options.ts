/**
 * What `createNode` checks of its options before anything starts: each mistake a newcomer makes
 * first is an `ERR_INVALID_ARGUMENT` naming the option and what it accepts; an unknown name is
 * refused with the closest one ("did you mean"), a manager option at the top level with where it
 * belongs. The transport's budgets, the identity's `seed` and the `logger` are checked by their
 * owners, still before anything listens.
 */
import { PeerwardenError } from '../errors.js'
import * as check from '../manager/validate.js'
import { rejectManagerInstance } from '../options-mistakes.js'
import { resolveFailedDialLimits, resolveHintLimits } from './budget-options.js'
import { DEFAULT_RENDEZVOUS_LIMITS } from './rendezvous.js'
import type { ConnectionManagerOptions } from '../manager/types.js'
import { parseTcpAddress } from './tcp-address.js'
import type { TransportOptions } from './transport-options.js'
import { NODE_OPTIONS, type NodeOptions } from './types.js'

/** The node's durations (ms): finite, at least 1 ms. */
const DURATIONS = ['handshakeTimeout', 'keepAlive', 'deadTimeout', 'announceTtl', 'refreshInterval'] as const

/**
 * Checks `options` (see the module comment).
 *
 * Rules:
 * - `manager` is an object of manager options; its `dial` is refused (the node dials over TCP +
 *   Noise itself), its `localPeer` is checked against the node's id once the key is known (`checkLocalPeer`).
 * - `networkKey` is a non-empty string or Uint8Array (an empty one would silently be a private network of its own).
 * - `rendezvous` is a boolean; `relay` and `dialBack` are booleans or objects of their limits.
 * - Durations are finite numbers of ms >= 1; `pexPerMinute` an integer >= 0; `rendezvousLimits` known
 *   names with integers >= 1.
 */
export function checkNodeOptions (options: unknown): asserts options is NodeOptions {
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid(`createNode options must be an object, got ${check.describe(options)}`)
  const o = options as NodeOptions
  rejectManagerInstance('createNode options', o, 'createNode')
  rejectManagerInstance('manager', o.manager, 'createNode')
  if (o.manager !== undefined && (o.manager === null || typeof o.manager !== 'object' || Array.isArray(o.manager))) {
    throw PeerwardenError.invalid(`manager must be an object of manager options ({ lowWater, highWater, … }), got ${check.describe(o.manager)}`)
  }
  check.rejectUnknownOptions('createNode options', o, NODE_OPTIONS, { manager: check.MANAGER_OPTIONS })
  if (o.manager?.dial !== undefined) {
    throw PeerwardenError.invalid('manager.dial is not accepted: the node dials its peers itself (TCP + Noise); leave it out (for a transport of your own, use createConnectionManager)')
  }
  if (o.dataDir === '') throw PeerwardenError.invalid('dataDir must be a directory path, got "" (leave dataDir out to keep the key pair and the peers in memory)')
  if (o.dataDir !== undefined) check.nonEmptyString('dataDir', o.dataDir)
  const key = o.networkKey as unknown
  if (key !== undefined && !((typeof key === 'string' || key instanceof Uint8Array) && key.length > 0)) {
    const empty = typeof key === 'string' || key instanceof Uint8Array
    throw PeerwardenError.invalid(`networkKey must be a string or a Uint8Array${empty ? ', not empty (leave it out for the network of every node without a key)' : ''}, got ${check.describe(key)}`)
  }
  for (const name of DURATIONS) if (o[name] !== undefined) check.duration(name, o[name], 1)
  if (o.pexPerMinute !== undefined) check.int('pexPerMinute', o.pexPerMinute, 0)
  if (o.rendezvous !== undefined && typeof o.rendezvous !== 'boolean') throw PeerwardenError.invalid(`rendezvous must be true or false, got ${check.describe(o.rendezvous)}`)
  if (o.rendezvousLimits !== undefined) {
    const limits = o.rendezvousLimits as unknown
    if (limits === null || typeof limits !== 'object' || Array.isArray(limits)) throw PeerwardenError.invalid(`rendezvousLimits must be an object, got ${check.describe(limits)}`)
    check.rejectUnknownOptions('rendezvousLimits', limits, Object.keys(DEFAULT_RENDEZVOUS_LIMITS))
    for (const [name, value] of Object.entries(limits)) if (value !== undefined) check.int(`rendezvousLimits.${name}`, value, 1)
  }
  for (const name of ['relay', 'dialBack'] as const) {
    const value = o[name] as unknown
    if (value !== undefined && typeof value !== 'boolean' && (value === null || typeof value !== 'object' || Array.isArray(value))) {
      throw PeerwardenError.invalid(`${name} must be true, false or an object of its limits, got ${check.describe(value)}`)
    }
  }
  // Their budgets are made later (discovery's once listening): checked now.
  resolveHintLimits(o.hintLimits)
  resolveFailedDialLimits(o.failedDialLimits)
}

/** `manager.localPeer`, when given, must be the node's own id (the manager would otherwise call us by another name). */
export function checkLocalPeer (given: unknown, id: string): void {
  if (given === undefined || given === id) return
  throw PeerwardenError.invalid(`manager.localPeer must be the node's id (${id}), got ${check.describe(given)}: the node's id is its public key; leave localPeer out`)
}

/** A node keeps fewer connections than a bare manager (32/96): 8 and 16 unless given. */
const NODE_LOW_WATER = 8
const NODE_HIGH_WATER = 16

/**
 * The node's watermarks when the application leaves one or both out, by the manager's own rule: a
 * missing lowWater is at most the given highWater, a missing highWater at least the given lowWater
 * (`{ highWater: 4 }` is 4/4, `{ lowWater: 20 }` is 20/20). The manager validates what was given.
 */
export function nodeWatermarks (given: Partial<ConnectionManagerOptions> | undefined): { lowWater?: number; highWater?: number } {
  const low = given?.lowWater
  const high = given?.highWater
  if (low !== undefined && high !== undefined) return {}
  if (high !== undefined) return typeof high === 'number' ? { lowWater: Math.min(NODE_LOW_WATER, high) } : {}
  if (low !== undefined) return typeof low === 'number' ? { highWater: Math.max(NODE_HIGH_WATER, low) } : {}
  return { lowWater: NODE_LOW_WATER, highWater: NODE_HIGH_WATER }
}

/** The address options, checked: where to listen (default loopback, any port) and the bootstrap peers. */
export function addressOptions (options: NodeOptions): { listen: string[]; bootstrap: string[] } {
  const listen = addressList('listen', options.listen ?? ['tcp://127.0.0.1:0'])
  if (options.announce !== undefined) addressList('announce', options.announce)
  const bootstrap = addressList('bootstrap', options.bootstrap ?? [])
  return { listen, bootstrap }
}

/** A list of tcp:// addresses, each named in an error by its place (`listen[0]: not a tcp address …`). */
function addressList (name: string, value: unknown): string[] {
  if (typeof value === 'string') throw PeerwardenError.invalid(`${name} must be an array of tcp:// addresses, got a string: write [${JSON.stringify(value)}]`)
  check.stringArray(name, value)
  ;(value as string[]).forEach((a, i) => {
    try {
      parseTcpAddress(a)
    } catch (err) {
      throw PeerwardenError.invalid(`${name}[${i}]: ${(err as Error).message}`)
    }
  })
  return value as string[]
}

/** The transport's timers and budgets among the node's options, passed on as given (the transport fills in its defaults). */
export function transportBudgets (options: NodeOptions): Partial<TransportOptions> {
  return {
    handshakeTimeout: options.handshakeTimeout,
    keepAlive: options.keepAlive,
    deadTimeout: options.deadTimeout,
    maxPendingHandshakes: options.maxPendingHandshakes,
    maxPendingPerIp: options.maxPendingPerIp,
    perIpRate: options.perIpRate,
    maxHandshakeRate: options.maxHandshakeRate,
    maxTrackedIps: options.maxTrackedIps,
    maxQueuedBytes: options.maxQueuedBytes,
    maxPendingOpens: options.maxPendingOpens,
    maxRemoteChannels: options.maxRemoteChannels,
    maxWriteQueueBytes: options.maxWriteQueueBytes,
    maxReceivingBytes: options.maxReceivingBytes,
    frameTimeout: options.frameTimeout,
    maxQueuedBytesTotal: options.maxQueuedBytesTotal
  }
}
