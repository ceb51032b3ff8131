/**
 * Hyperswarm keys as the manager names them: a peer id is the 32-byte public key in lowercase hex,
 * its address `hyperswarm:<hex key>`.
 */

/** The address prefix: `hyperswarm:<hex key>`. */
export const PREFIX = 'hyperswarm:'

/** A peer id: 64 lowercase hex digits. */
export const HEX_KEY = /^[0-9a-f]{64}$/

/** The peer id of a public key. */
export const hex = (key: Uint8Array): string => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')
