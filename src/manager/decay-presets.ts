import * as check from './validate.js'
import type { BumpFn, DecayFn } from './types.js'

/**
 * Decay presets for `registerDecayingTag`. Each runs once per tag interval, on the injected clock.
 * A preset that reaches zero or below removes the tag (go-libp2p semantics).
 */
export const decay = {
  /** Never decays, never removes. */
  none (): DecayFn {
    return (v) => ({ value: v.value, remove: false })
  },
  /** Subtracts `amount` per interval; removed once the value is <= 0. */
  fixed (amount: number): DecayFn {
    check.finite('decay.fixed amount', amount)
    return (v) => {
      const value = v.value - amount
      return { value, remove: value <= 0 }
    }
  },
  /** Multiplies by `coefficient` and floors, per interval; removed once the value is <= 0. */
  linear (coefficient: number): DecayFn {
    check.finite('decay.linear coefficient', coefficient)
    if (coefficient < 0 || coefficient > 1) throw check.outOfRange('decay.linear coefficient', coefficient, 0, 1)
    return (v) => {
      const value = Math.floor(v.value * coefficient)
      return { value, remove: value <= 0 }
    }
  },
  /**
   * Keeps the value while the tag is bumped within `after` ms, and removes the tag once it has not
   * been bumped for `after` ms. (go-libp2p's preset zeroes the value at the first tick and, because its
   * decay loop refreshes LastVisit, practically never removes the tag; this one does what the name says.)
   */
  expireWhenInactive (after: number): DecayFn {
    check.duration('decay.expireWhenInactive after', after)
    return (v, now) => ({ value: v.value, remove: now - v.lastVisit >= after })
  }
}

/** Bump presets for `registerDecayingTag`. */
export const bump = {
  /** Adds the delta (the manager clamps every tag value to ±TAG_VALUE_BOUND = Number.MAX_SAFE_INTEGER). */
  sum (): BumpFn {
    return (v, delta) => v.value + delta
  },
  /** Adds the delta and clamps the result into [min, max]. */
  sumBounded (min: number, max: number): BumpFn {
    check.finite('bump.sumBounded min', min)
    check.finite('bump.sumBounded max', max)
    if (min > max) throw check.invalidRange('bump.sumBounded min', 'max', min, max)
    return (v, delta) => Math.min(max, Math.max(min, v.value + delta))
  },
  /** Replaces the value with the delta. */
  overwrite (): BumpFn {
    return (_v, delta) => delta
  }
}
