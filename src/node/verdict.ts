import { PeerwardenError } from '../errors.js'

/**
 * An outbound connection's verdict: whether the remote's manager accepted it (connection.ts
 * `NodeConnection.verdict`).
 *
 * Rules:
 * - It settles once: resolved by the remote's 'welcome', rejected with `ERR_REFUSED` (the remote's
 *   reason as `cause`) by its close message, or when the stream closes first with `ERR_REFUSED` if a
 *   reason came, `ERR_CONNECTION_CLOSED` if none; what comes after is ignored.
 * - Nobody sees an unhandled rejection: the dialer reads `promise`, nobody else must.
 */
export class Verdict {
  readonly promise: Promise<void>
  private settle: ((err?: Error) => void) | undefined

  constructor (private readonly address: string) {
    this.promise = new Promise<void>((resolve, reject) => {
      this.settle = (err) => {
        this.settle = undefined
        if (err === undefined) resolve()
        else reject(err)
      }
    })
    this.promise.catch(() => {})
  }

  /** The remote's manager accepted the connection (its 'welcome'). */
  accept (): void { this.settle?.() }

  /** The remote closed the connection with `reason`. */
  refuse (reason: string): void { this.settle?.(refused(this.address, reason)) }

  /** The stream closed; `remoteReason` is the close reason the remote sent, if any. */
  closed (remoteReason: string | undefined): void {
    if (this.settle === undefined) return
    this.settle(remoteReason !== undefined
      ? refused(this.address, remoteReason)
      : new PeerwardenError('ERR_CONNECTION_CLOSED', `${this.address} closed the connection before its manager accepted it`))
  }
}

function refused (address: string, reason: string): PeerwardenError {
  return new PeerwardenError('ERR_REFUSED', `${address} refused the connection: ${reason}`, { cause: reason })
}
