/**
 * The one error class of peerwarden. Match on `code`, never on the message text.
 *
 * Codes in use:
 * - `ERR_INVALID_ARGUMENT`: an option or argument is wrong; the message names it.
 * - `ERR_CLOSED`: the object was closed and cannot be used any more.
 * - `ERR_NOT_RUNNING`: the operation needs `start()` first.
 * - `ERR_DIAL_FAILED`, `ERR_DIAL_TIMEOUT`: a dial did not produce a connection.
 * - `ERR_BANNED`, `ERR_DENIED`: the peer may not be connected.
 * - `ERR_DUPLICATE_TAG`: a decaying tag with that name already exists.
 * - `ERR_MISSING_DEPENDENCY`: a feature needs an optional package that is not installed; the message
 *   names it and the command that installs it.
 */
export class PeerwardenError extends Error {
  readonly code: string

  constructor (code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'PeerwardenError'
    this.code = code
  }

  /** An invalid option or argument; `message` names the field and what was wrong. */
  static invalid (message: string): PeerwardenError {
    return new PeerwardenError('ERR_INVALID_ARGUMENT', message)
  }

  /** An `ERR_CLOSED` error saying that `what` is closed. */
  static closed (what: string): PeerwardenError {
    return new PeerwardenError('ERR_CLOSED', `${what} is closed`)
  }
}
