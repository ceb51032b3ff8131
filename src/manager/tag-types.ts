import type { PeerId } from './connection-types.js'

/** What a decaying tag's functions see of one peer's tag. `lastVisit` is the time of the last bump (or of the first one). */
export interface DecayValue { value: number; added: number; lastVisit: number }

/**
 * Runs every `interval` of the injected clock for each peer holding the tag. `now` is the clock's time
 * at the tick. Returning `remove: true` deletes the tag from the peer.
 */
export type DecayFn = (value: DecayValue, now: number) => { value: number; remove: boolean }
/** Computes the new value of a tag when it is bumped by `delta`. */
export type BumpFn = (value: DecayValue, delta: number) => number

/** A decaying tag's `decay` runs every `interval` of the injected clock, exactly (no hidden resolution). */
export interface DecayingTag {
  readonly name: string
  readonly interval: number
  /** Bumps the peer's value by `delta` (through the tag's BumpFn). Throws `ERR_CLOSED` after `close()`. */
  bump(peer: PeerId, delta: number): void
  /** Removes the tag from the peer. Throws `ERR_CLOSED` after `close()`. */
  remove(peer: PeerId): void
  /** Stops decaying; the current values stay on the peers. Idempotent. */
  close(): void
}
