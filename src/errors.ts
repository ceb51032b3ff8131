/**
 * Every code peerwarden throws or reports, with what it means and who raises it. The codes are
 * stable: match on them, never on the message text. Grouped by the part that raises them.
 */
export type ErrorCode =
  // ── anywhere ──────────────────────────────────────────────────────────────
  /** An option or argument is wrong; the message names the field (every public entry point). */
  | 'ERR_INVALID_ARGUMENT'
  /** The object was closed and cannot be used any more (manager, decaying tag, adapters). */
  | 'ERR_CLOSED'
  /** The caller's `AbortSignal` (or a stop/close) called the operation off (dials, mesh calls, queue sends). */
  | 'ERR_ABORTED'
  /** A deadline passed: a mesh call or `ready()`, a Redis answer, or a node connection that went silent (liveness). */
  | 'ERR_TIMEOUT'
  /** A package the feature needs is not installed (for instance better-sqlite3 for a dataDir). */
  | 'ERR_MISSING_DEPENDENCY'

  // ── manager (src/manager) ─────────────────────────────────────────────────
  /** The manager stopped: the reason (`cause`) of the ERR_ABORTED of every dial in flight at `stop()` (dialer). */
  | 'ERR_NOT_RUNNING'
  /** A dial produced no connection: every address failed, or the connection was refused (dialer, transports). */
  | 'ERR_DIAL_FAILED'
  /** The last address of a dial timed out after `dialTimeout` (dialer). */
  | 'ERR_DIAL_TIMEOUT'
  /** The peer has no address to dial (dialer, `connectNow`). */
  | 'ERR_NO_ADDRESS'
  /** `connectNow` to a banned peer. */
  | 'ERR_BANNED'
  /** `connectNow` to a peer on the deny list. */
  | 'ERR_DENIED'
  /** `registerDecayingTag` with a name already registered. */
  | 'ERR_DUPLICATE_TAG'

  // ── store (src/store, the manager's restore) ──────────────────────────────
  /** The peer store cannot be opened or written (sqliteStore, dataDir); reported on 'store:error' when running. */
  | 'ERR_STORE'
  /** Rows of the store could not be read back; they were skipped (sqliteStore, the manager's restore). */
  | 'ERR_STORE_ROWS'
  /** The SQLite file was corrupt: moved aside and started empty (sqliteStore). */
  | 'ERR_STORE_CORRUPT'
  /** Another process holds the SQLite file's write lock for too long (sqliteStore). */
  | 'ERR_STORE_BUSY'

  // ── node (src/node) ───────────────────────────────────────────────────────
  /** The node cannot listen on an address (node, dashboard). */
  | 'ERR_LISTEN'
  /** The key pair in the dataDir cannot be read (node identity). */
  | 'ERR_IDENTITY'
  /** Another node uses this dataDir (node). */
  | 'ERR_DATA_DIR_LOCKED'
  /** A dial to our own id (transport). */
  | 'ERR_SELF_DIAL'
  /** The remote proved another id than the one dialled (transport). */
  | 'ERR_PEER_MISMATCH'
  /** The Noise handshake failed: not a peerwarden peer, or a message that does not authenticate (secure stream). */
  | 'ERR_HANDSHAKE'
  /** The handshake did not finish within the handshake timeout (transport). */
  | 'ERR_HANDSHAKE_TIMEOUT'
  /** Too many handshakes in progress: the oldest gave way to a newcomer (transport). */
  | 'ERR_HANDSHAKE_EVICTED'
  /** The remote is on another network: its network key differs (secure stream). */
  | 'ERR_NETWORK_KEY'
  /** A write before the handshake completed (secure stream). */
  | 'ERR_NOT_OPEN'
  /** A message over the size limit (wire encoding, secure stream). */
  | 'ERR_MESSAGE_TOO_LARGE'
  /** A peer broke the protocol: a malformed frame or message (secure stream, connection, mesh responder); the connection closes. */
  | 'ERR_PROTOCOL'
  /** The connection closed before the operation finished (connection, transport, mesh calls in flight). */
  | 'ERR_CONNECTION_CLOSED'
  /** The remote's manager refused the connection; `cause` is its close reason (connection). */
  | 'ERR_REFUSED'

  // ── mesh (src/mesh) ───────────────────────────────────────────────────────
  /** The certificate is malformed, expired, another peer's or not the registry's (certificates, mesh handshake). */
  | 'ERR_CERTIFICATE'
  /** The schema or the registry forbids it: a role not related, a call not allowed (mesh node, caller, responder). */
  | 'ERR_NOT_ALLOWED'
  /** No such command, or no handler for it (caller, responder). */
  | 'ERR_UNKNOWN_COMMAND'
  /** No instance of the role is connected (caller). */
  | 'ERR_NO_INSTANCE'
  /** The handler threw: the remote's message and code are in `cause` (caller). */
  | 'ERR_REMOTE'
  /** The responder is at its limit of running or queued calls, or a command's bulkhead is full; reported to the caller inside ERR_REMOTE (responder). */
  | 'ERR_BUSY'
  /** The instance is draining (`mesh.drain()`): it takes no new call; the handler did not run, so the caller fails over (responder, caller). */
  | 'ERR_DRAINING'
  /** Redis failed to queue or deliver a message (Redis queue). */
  | 'ERR_QUEUE'
  /** Redis lost the consumer group (restarted without persistence): recreated, reported (Redis queue). */
  | 'ERR_QUEUE_GROUP_LOST'
  /** A message was trimmed from its stream (`maxLength`) before it was handled: reported, lost (Redis queue). */
  | 'ERR_QUEUE_TRIMMED'
  /** The Redis server is older than the queue needs (6.2): found when the queue starts (Redis queue). */
  | 'ERR_QUEUE_REDIS_VERSION'
  /** A queued message went to the dead-letter stream: its handler failed `maxDeliveries` times, or it did not decode (Redis queue). */
  | 'ERR_QUEUE_DEAD_LETTER'

  // ── lab (src/lab) ─────────────────────────────────────────────────────────
  /** A command that builds or changes the lab's emulated network (ip, nft, tc) failed, or a node process of the lab did not start. */
  | 'ERR_LAB'

  // ── CLI ───────────────────────────────────────────────────────────────────
  /** What the CLI prints for an error that carries no code. */
  | 'ERR_UNKNOWN'

/** The one error class of peerwarden. Match on `code` ({@link ErrorCode}), never on the message text. */
export class PeerwardenError extends Error {
  readonly code: ErrorCode

  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
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
