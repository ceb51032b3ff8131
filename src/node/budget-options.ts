import { PeerwardenError } from '../errors.js'
import * as check from '../manager/validate.js'

/**
 * The budgets of what peers teach us about other peers (`createNode({ hintLimits })`, hint-budget.ts).
 * Counts are integers >= 0 or Infinity: 0 learns no hinted address of that kind (loopback and relayed
 * addresses are exempt whatever the figures), Infinity switches that budget off.
 */
export interface HintLimits {
  /** Distinct ports of one host (an IPv4 address, the /64 of an IPv6 one) learnt from hints within `window`, node-wide. Default 16. */
  portsPerHost: number
  /** Of those, from one connection. Default 8. */
  portsPerHostPerConnection: number
  /** Distinct hinted peers of one public range (IPv4 /24, IPv6 /48) learnt within `window`, node-wide. Default 64. */
  peersPerRange: number
  /** Of those, from one connection (a full referral). Default 32. */
  peersPerRangePerConnection: number
  /** How long what was learnt counts, ms: an integer >= 1, or Infinity (until the table bound forgets it). Default 10 minutes. */
  window: number
}

/** `hintLimits` when not given. */
export const HINT_LIMITS_DEFAULTS: Readonly<HintLimits> = {
  portsPerHost: 16,
  portsPerHostPerConnection: 8,
  peersPerRange: 64,
  peersPerRangePerConnection: 32,
  window: 10 * 60_000
}

/**
 * The budgets of dials that failed toward one target (`createNode({ failedDialLimits })`,
 * dial-budget.ts). Counts are integers >= 1 or Infinity (that budget off); 0 is refused: a dial
 * that may fail 0 times is refused after its first failure, which is what 1 says.
 */
export interface FailedDialLimits {
  /** Dials that failed toward one host (an IPv4 address, the /64 of an IPv6 one) within `window`, at most. Default 16. */
  perHost: number
  /** Dials that failed toward one public range (IPv4 /24, IPv6 /48) within `window`, at most. Default 64. */
  perRange: number
  /** The window of both, ms: an integer >= 1, or Infinity (until the table bound forgets the target). Default 1 minute. */
  window: number
}

/** `failedDialLimits` when not given. */
export const FAILED_DIAL_LIMITS_DEFAULTS: Readonly<FailedDialLimits> = { perHost: 16, perRange: 64, window: 60_000 }

/** `hintLimits` checked and completed with the defaults (ERR_INVALID_ARGUMENT naming the field). */
export function resolveHintLimits (given: Partial<HintLimits> | undefined): HintLimits {
  return resolve('hintLimits', given, HINT_LIMITS_DEFAULTS, (name) => name === 'window' ? 1 : 0)
}

/** `failedDialLimits` checked and completed with the defaults (ERR_INVALID_ARGUMENT naming the field). */
export function resolveFailedDialLimits (given: Partial<FailedDialLimits> | undefined): FailedDialLimits {
  return resolve('failedDialLimits', given, FAILED_DIAL_LIMITS_DEFAULTS, () => 1)
}

function resolve<L extends object> (what: string, given: Partial<L> | undefined, defaults: Readonly<L>, min: (name: string) => number): L {
  if (given === undefined) return { ...defaults }
  if (given === null || typeof given !== 'object' || Array.isArray(given)) throw PeerwardenError.invalid(`${what} must be an object, got ${check.describe(given)}`)
  check.rejectUnknownOptions(what, given, Object.keys(defaults))
  const out = { ...defaults, ...given }
  for (const [name, value] of Object.entries(out)) {
    if (value === Infinity) continue
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min(name)) {
      throw PeerwardenError.invalid(`${what}.${name} must be an integer >= ${min(name)} or Infinity, got ${check.describe(value)}`)
    }
  }
  return out
}
