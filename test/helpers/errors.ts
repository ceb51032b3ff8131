import assert from 'node:assert/strict'
import { PeerwardenError } from '../../src/errors.js'

/** For assert.throws / assert.rejects: the error must be a PeerwardenError with this code. */
export function hasCode (code: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof PeerwardenError, `expected a PeerwardenError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    return true
  }
}
