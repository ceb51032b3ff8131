import assert from 'node:assert/strict'
import { PeerwardenError } from '../../src/errors.js'

/** For assert.throws / assert.rejects: the error must be a PeerwardenError with this code (and a message matching `message`, if given). */
export function hasCode (code: string, message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof PeerwardenError, `expected a PeerwardenError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    if (message !== undefined) assert.match(err.message, message)
    return true
  }
}
