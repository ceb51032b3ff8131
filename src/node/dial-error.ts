import { PeerwardenError } from '../errors.js'

/**
 * What a failed dial rejects with: the specific failures as they are (`ERR_NETWORK_KEY`,
 * `ERR_PEER_MISMATCH`, `ERR_SELF_DIAL`, `ERR_HANDSHAKE`, `ERR_HANDSHAKE_TIMEOUT`, …); a connection
 * that could not be made or went during the handshake is `ERR_DIAL_FAILED` with the socket's error
 * (ECONNREFUSED, ECONNRESET, …) as the cause, or the closing as the cause when there was none.
 */
export function dialError (address: string, err: unknown): PeerwardenError {
  if (err instanceof PeerwardenError && err.code !== 'ERR_CONNECTION_CLOSED') return err
  const cause = err instanceof PeerwardenError && err.cause instanceof Error ? err.cause : err
  return new PeerwardenError('ERR_DIAL_FAILED', `dial to ${address} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
}
