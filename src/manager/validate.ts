import { PeerwardenError } from '../errors.js'
import { checkAccessEntries } from './access-list.js'
import { resolveConnectionLimits, type ResolvedConnectionLimits } from './connection-limits.js'
import type { Clock, Connection, ConnectionManagerOptions, PeerInput, Priority } from './types.js'

/**
 * Boundary checks. Every public entry point validates its input here and throws
 * `PeerwardenError('ERR_INVALID_ARGUMENT')` with the field's name in the message.
 */

const PRIORITIES: ReadonlySet<string> = new Set(['high', 'medium', 'low', 'banned'])

export function describe (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value)
  return typeof value
}

/** A finite integer >= `min`. */
export function int (name: string, value: unknown, min = 0): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw PeerwardenError.invalid(`${name} must be an integer, got ${describe(value)}`)
  }
  if (value < min) throw PeerwardenError.invalid(`${name} must be >= ${min}, got ${value}`)
  return value
}

/** A finite number (any sign). */
export function finite (name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw PeerwardenError.invalid(`${name} must be a finite number, got ${describe(value)}`)
  }
  return value
}

/** A finite duration in milliseconds, >= `min`. */
export function duration (name: string, value: unknown, min = 0): number {
  finite(name, value)
  if ((value as number) < min) throw PeerwardenError.invalid(`${name} must be >= ${min} ms, got ${value as number}`)
  return value as number
}

export function nonEmptyString (name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw PeerwardenError.invalid(`${name} must be a non-empty string, got ${describe(value)}`)
  }
  return value
}

export function priority (name: string, value: unknown): Priority {
  if (typeof value !== 'string' || !PRIORITIES.has(value)) {
    throw PeerwardenError.invalid(`${name} must be one of high, medium, low, banned; got ${describe(value)}`)
  }
  return value as Priority
}

/** The argument of `setPriority`: an array of `{ peer, priority }`, each field named in the error. */
export function priorityUpdates (updates: unknown): void {
  if (!Array.isArray(updates)) throw PeerwardenError.invalid('updates must be an array')
  updates.forEach((u: { peer?: unknown; priority?: unknown } | undefined, i) => {
    nonEmptyString(`updates[${i}].peer`, u?.peer)
    priority(`updates[${i}].priority`, u?.priority)
  })
}

export function fn<T extends Function> (name: string, value: unknown): T {
  if (typeof value !== 'function') throw PeerwardenError.invalid(`${name} must be a function, got ${describe(value)}`)
  return value as T
}

/** The name of a checked input in an error: a number i is 'peers[i]'. */
function nameOf (at: string | number): string {
  return typeof at === 'number' ? `peers[${at}]` : at
}

function isNonEmptyString (value: unknown): boolean {
  return typeof value === 'string' && value.length > 0
}

function isStringArray (value: unknown): boolean {
  if (!Array.isArray(value)) return false
  for (const item of value) if (!isNonEmptyString(item)) return false
  return true
}

export function stringArray (name: string, value: unknown): string[] {
  if (!Array.isArray(value)) throw PeerwardenError.invalid(`${name} must be an array of strings, got ${describe(value)}`)
  value.forEach((item, i) => nonEmptyString(`${name}[${i}]`, item))
  return value as string[]
}

export function watermarks (low: unknown, high: unknown, lowName = 'lowWater', highName = 'highWater'): void {
  int(lowName, low, 0)
  int(highName, high, 1)
  if ((low as number) > (high as number)) {
    throw PeerwardenError.invalid(`${lowName} must be <= ${highName} (got ${low as number} > ${high as number})`)
  }
}

export interface ResolvedOptions {
  lowWater: number
  highWater: number
  gracePeriod: number
  silencePeriod: number
  lifetime: number | undefined
  maxParallelDials: number
  dialTimeout: number
  /** Infinity when not given. */
  stalledDialAfter: number
  allow: string[]
  deny: string[]
  explainDepth: number
  storeFlushInterval: number
  maxPeers: number
  releaseBootstrap: boolean
  exploreInterval: number
  connectionLimits: ResolvedConnectionLimits
}

export const DEFAULTS = {
  lowWater: 32,
  highWater: 96,
  gracePeriod: 20_000,
  silencePeriod: 10_000,
  maxParallelDials: 8,
  dialTimeout: 10_000,
  explainDepth: 32,
  storeFlushInterval: 1_000,
  maxPeers: 20_000,
  exploreInterval: 60_000
} as const

function isClock (value: unknown): value is Clock {
  const c = value as Clock
  return c != null && typeof c.now === 'function' && typeof c.setTimeout === 'function' && typeof c.clearTimeout === 'function'
}

/** The edit distance (Levenshtein: insertions, deletions, substitutions) between two names. */
export function editDistance (a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = cur
  }
  return prev[b.length]
}

/** The known name closest to `name` (case-insensitive edit distance), if close enough to be a typo (at most a third of its length, and 3). */
export function closestName (name: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase())
    if (d < bestDistance) { best = k; bestDistance = d }
  }
  return bestDistance <= Math.min(3, Math.max(1, Math.floor(name.length / 3))) ? best : undefined
}

/**
 * The names other connection managers give our options (js-libp2p's `maxConnections`, ssb-conn's
 * `minConnections`…): a newcomer's first guess, answered with ours.
 */
const FOREIGN_NAMES: Readonly<Record<string, string>> = { maxConnections: 'highWater', minConnections: 'lowWater' }

/**
 * Refuses an options object with a name that is not in `known` (a typo such as `highwater` would
 * otherwise be ignored in silence): ERR_INVALID_ARGUMENT naming `what`, the option and the closest
 * valid name. For every options object of every layer (node, mesh, dashboard, adapters).
 * `nested` names the options objects inside this one (`{ manager: MANAGER_OPTIONS }`): an option of
 * theirs given here is told where it belongs.
 */
export function rejectUnknownOptions (what: string, options: object, known: readonly string[], nested: Readonly<Record<string, readonly string[]>> = {}): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue
    throw PeerwardenError.invalid(`${what}: unknown option ${JSON.stringify(name)}${optionHint(name, known, nested)} (known: ${known.join(', ')})`)
  }
}

/** What `name` was probably meant to be: an option of a nested object, ours for another library's, or a typo's nearest name. */
function optionHint (name: string, known: readonly string[], nested: Readonly<Record<string, readonly string[]>>): string {
  const meant = FOREIGN_NAMES[name] ?? name
  const home = Object.keys(nested).find((key) => nested[key]!.includes(meant))
  if (home !== undefined) return `; it belongs in ${home}: { ${meant} }`
  if (meant !== name && known.includes(meant)) return `; did you mean ${JSON.stringify(meant)}?`
  const near = closestName(name, known)
  return near !== undefined ? `; did you mean ${JSON.stringify(near)}?` : ''
}

/** Every option name of `createConnectionManager`. */
export const MANAGER_OPTIONS: readonly string[] = [
  'dial', 'localPeer', 'lowWater', 'highWater', 'gracePeriod', 'silencePeriod', 'lifetime', 'maxParallelDials',
  'dialTimeout', 'stalledDialAfter', 'allow', 'deny', 'prioritise', 'store', 'clock', 'random', 'explainDepth', 'storeFlushInterval', 'maxPeers',
  'releaseBootstrap', 'accepted', 'exploreInterval',
  'connectionLimits'
] satisfies ReadonlyArray<keyof ConnectionManagerOptions>

/** Validates every option of `createConnectionManager` and fills in the defaults. */
export function resolveOptions (options: ConnectionManagerOptions): ResolvedOptions {
  if (options == null || typeof options !== 'object') throw PeerwardenError.invalid('options must be an object')
  rejectUnknownOptions('createConnectionManager options', options, MANAGER_OPTIONS)
  fn('dial', options.dial)
  if (options.localPeer !== undefined) nonEmptyString('localPeer', options.localPeer)
  if (options.highWater !== undefined) int('highWater', options.highWater, 1)
  if (options.lowWater !== undefined) int('lowWater', options.lowWater, 0)
  const lowWater = options.lowWater ?? (options.highWater !== undefined ? Math.min(DEFAULTS.lowWater, options.highWater) : DEFAULTS.lowWater)
  const highWater = options.highWater ?? Math.max(DEFAULTS.highWater, typeof lowWater === 'number' ? lowWater : 0)
  watermarks(lowWater, highWater)
  const gracePeriod = duration('gracePeriod', options.gracePeriod ?? DEFAULTS.gracePeriod)
  const silencePeriod = duration('silencePeriod', options.silencePeriod ?? DEFAULTS.silencePeriod, 1)
  const lifetime = options.lifetime === undefined ? undefined : duration('lifetime', options.lifetime, 1)
  const maxParallelDials = int('maxParallelDials', options.maxParallelDials ?? DEFAULTS.maxParallelDials, 1)
  const dialTimeout = duration('dialTimeout', options.dialTimeout ?? DEFAULTS.dialTimeout, 1)
  const stalledDialAfter = options.stalledDialAfter === undefined ? Infinity : duration('stalledDialAfter', options.stalledDialAfter, 1)
  const allow = stringArray('allow', options.allow ?? [])
  const deny = stringArray('deny', options.deny ?? [])
  checkAccessEntries('allow', allow)
  checkAccessEntries('deny', deny)
  if (options.prioritise !== undefined) fn('prioritise', options.prioritise)
  if (options.accepted !== undefined) fn('accepted', options.accepted)
  if (options.clock !== undefined && !isClock(options.clock)) {
    throw PeerwardenError.invalid('clock must have now(), setTimeout() and clearTimeout()')
  }
  if (options.random !== undefined) fn('random', options.random)
  const st = options.store
  if (st !== undefined && (st == null || ['load', 'save', 'delete', 'flush', 'close'].some((k) => typeof (st as unknown as Record<string, unknown>)[k] !== 'function'))) {
    throw PeerwardenError.invalid('store must be a PeerStore (memoryStore(), sqliteStore(path) or your own)')
  }
  const explainDepth = int('explainDepth', options.explainDepth ?? DEFAULTS.explainDepth, 1)
  const storeFlushInterval = duration('storeFlushInterval', options.storeFlushInterval ?? DEFAULTS.storeFlushInterval, 1)
  const maxPeers = int('maxPeers', options.maxPeers ?? DEFAULTS.maxPeers, 1)
  if (options.releaseBootstrap !== undefined && typeof options.releaseBootstrap !== 'boolean') throw PeerwardenError.invalid('releaseBootstrap must be a boolean')
  const releaseBootstrap = options.releaseBootstrap ?? true
  const exploreInterval = duration('exploreInterval', options.exploreInterval ?? DEFAULTS.exploreInterval)
  const connectionLimits = resolveConnectionLimits(options.connectionLimits)
  return { lowWater, highWater, gracePeriod, silencePeriod, lifetime, maxParallelDials, dialTimeout, stalledDialAfter, allow, deny, explainDepth, storeFlushInterval, maxPeers, releaseBootstrap, exploreInterval, connectionLimits }
}

/** A topic quota: `min` and `max` are integers >= 0, and `max >= min`. */
export function topicQuota (quota: { min: number; max?: number }): void {
  int('quota.min', quota?.min, 0)
  if (quota.max !== undefined) {
    int('quota.max', quota.max, 0)
    if (quota.max < quota.min) throw invalidRange('quota.min', 'quota.max', quota.min, quota.max)
  }
}

export function outOfRange (name: string, value: number, min: number, max: number): Error {
  return PeerwardenError.invalid(`${name} must be between ${min} and ${max}, got ${value}`)
}

export function invalidRange (minName: string, maxName: string, min: number, max: number): Error {
  return PeerwardenError.invalid(`${minName} must be <= ${maxName} (got ${min} > ${max})`)
}

/** A Connection handed to `connected()`. */
export function connection (conn: Connection): void {
  if (conn == null || typeof conn !== 'object') throw PeerwardenError.invalid('connection must be an object')
  nonEmptyString('connection.id', conn.id)
  nonEmptyString('connection.peer', conn.peer)
  if (conn.direction !== 'inbound' && conn.direction !== 'outbound') {
    throw PeerwardenError.invalid(`connection.direction must be 'inbound' or 'outbound', got ${describe(conn.direction)}`)
  }
  fn('connection.close', conn.close)
}

/** A connection handed to `disconnected()`: only its id is read. */
export function connectionRef (conn: Connection): void {
  if (conn == null || typeof conn !== 'object') throw PeerwardenError.invalid(`connection must be an object, got ${describe(conn)}`)
  nonEmptyString('connection.id', conn.id)
}

/**
 * The bound of every tag value and of a peer's value (the sum of its tags): finite numbers beyond
 * ±`TAG_VALUE_BOUND` are clamped to it, so that no sum reaches Infinity.
 */
export const TAG_VALUE_BOUND = Number.MAX_SAFE_INTEGER

/** Clamps a finite tag value (or sum) into [-TAG_VALUE_BOUND, TAG_VALUE_BOUND]. */
export function clampTagValue (value: number): number {
  return value > TAG_VALUE_BOUND ? TAG_VALUE_BOUND : value < -TAG_VALUE_BOUND ? -TAG_VALUE_BOUND : value
}

/**
 * One PeerInput of `addPeers()`; `at` names it in an error (a number i: 'peers[i]'). A valid input
 * builds no string: `addPeers` checks every peer it is told of (millions in a large simulation).
 */
export function peerInput (p: PeerInput, at: string | number): void {
  if (p == null || typeof p !== 'object') throw PeerwardenError.invalid(`${nameOf(at)} must be an object`)
  if (p.id !== undefined && !isNonEmptyString(p.id)) nonEmptyString(`${nameOf(at)}.id`, p.id)
  if (p.address !== undefined && !isNonEmptyString(p.address)) nonEmptyString(`${nameOf(at)}.address`, p.address)
  if (p.addresses !== undefined && !isStringArray(p.addresses)) stringArray(`${nameOf(at)}.addresses`, p.addresses)
  if (p.id === undefined && p.address === undefined && (p.addresses ?? []).length === 0) {
    throw PeerwardenError.invalid(`${nameOf(at)} needs an id or an address`)
  }
  if (p.priority !== undefined && !PRIORITIES.has(p.priority)) priority(`${nameOf(at)}.priority`, p.priority)
  if (p.topics !== undefined && !isStringArray(p.topics)) stringArray(`${nameOf(at)}.topics`, p.topics)
  if (p.longTerm !== undefined && typeof p.longTerm !== 'boolean') throw PeerwardenError.invalid(`${nameOf(at)}.longTerm must be a boolean`)
  if (p.bootstrap !== undefined && typeof p.bootstrap !== 'boolean') throw PeerwardenError.invalid(`${nameOf(at)}.bootstrap must be a boolean`)
  if (p.hint !== undefined && typeof p.hint !== 'boolean') throw PeerwardenError.invalid(`${nameOf(at)}.hint must be a boolean`)
  if (p.hint === true) {
    for (const field of ['priority', 'longTerm', 'bootstrap'] as const) {
      if (p[field] !== undefined) throw PeerwardenError.invalid(`${nameOf(at)}.${field} may not be given with hint: true (a third party's claim sets no priority, long-term or bootstrap flag)`)
    }
  }
}
