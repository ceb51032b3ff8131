import type { Clock } from '../manager/types.js'
import type { Logger, LogLevel } from '../logger.js'
import type { MemberStatus } from './registry-status.js'
import type { MeshSchema } from './schema.js'

// The registry's public types (createRegistry is in registry.ts).

/** A mesh node as the registry lists it. */
export interface DirectoryEntry {
  peer: string
  role: string
  variant: string
  /** Proven first (on the host its connection came from), then at most 2 unproven (directory-addresses.ts). */
  addresses: string[]
  /** How many of `addresses`, at the end, are unproven (absent: none, or an older registry). */
  unproven?: number
}

/** The options of `createRegistry`: the schema, where to listen, and who may register (a network key, `authorize`, or `open`). */
export interface RegistryOptions {
  schema: MeshSchema
  listen?: string[]
  networkKey?: string | Uint8Array
  dataDir?: string
  /** How long a certificate is valid. Default 24 h; nodes re-register as it nears expiry. */
  certificateTtl?: number
  /**
   * Who may hold which role. Default (with a `networkKey` or `open: true`): any node that reached the
   * registry. Return false to refuse the registration. A throw refuses it too.
   */
  authorize?: (peer: string, role: string, variant: string) => boolean
  /**
   * Sign any role for any node that can connect, with no `networkKey` and no `authorize`: a
   * development setting (a warning is emitted at start). Without one of the three, `createRegistry`
   * rejects with ERR_INVALID_ARGUMENT.
   */
  open?: boolean
  /** Certificates' expiry, and the node under the registry, run on it. Default: the system clock. */
  clock?: Clock
  /**
   * At most this many members (each a connection the registry keeps). A registration past it is
   * refused ('the registry is full'). Default 4096.
   */
  maxMembers?: number
  /**
   * Where the registry writes its log lines (pino-compatible): info for each member registered or
   * gone, warn for each registration refused. Default: silent.
   */
  logger?: Logger
  /** Without `logger`: log to standard error at this level. */
  logLevel?: LogLevel
  /**
   * Bytes of status answers a minute per source address range (an IPv4 /24, an IPv6 /48), and from
   * per local one (loopback, a private network): past it the asker is refused with when to ask again.
   * Default 16 MiB and 256 MiB.
   */
  statusBudget?: { bytesPerMinute?: number; localBytesPerMinute?: number }
  /**
   * New registrations a minute per source address range (an IPv4 /24, an IPv6 /48), and per local
   * one (loopback, a private network: a cluster restarting at once); renewals are not counted. Each
   * costs a 'joined' to every related member, so identities churned from one range must not flood
   * them. Default 256 and 4096. Alongside, the bytes of registration messages (renewals included) a
   * minute per range: `bytesPerMinute` (default 64 MiB) and `localBytesPerMinute` (default 4 GiB).
   * Past either budget the registration is refused with when to try again.
   */
  registrationBudget?: { perMinute?: number; localPerMinute?: number; bytesPerMinute?: number; localBytesPerMinute?: number }
}

/** A running registry: its id and addresses, its members and their health (`members()`, `status()`), its figures and `close()`. */
export interface MeshRegistry {
  readonly id: string
  readonly addresses: string[]
  /** The current members. */
  members(): DirectoryEntry[]
  /** The current members with when they registered and when their certificates expire. */
  status(): MemberStatus[]
  /** What the registry's peer-fed budgets hold and refused (see `RegistryStats`). */
  stats(): RegistryStats
  /** Stops the registry's node; the mesh goes on without it, and nodes register again when a registry is back. */
  close(): Promise<void>
}

/** The registry's budgets at work: what they hold now and what they refused or folded since it started. */
export interface RegistryStats {
  /** Members now. */
  members: number
  /** Registrations refused by `registrationBudget` (count or bytes) since the start. */
  registrationsOverBudget: number
  /**
   * Breakers dropped from members' health reports since the start: claimed against a peer that is not
   * a member, against the reporter itself, or against a role the reporter's role may not call.
   */
  healthClaimsDropped: number
  /** Joined/left notices to watchers: sent, coalesced per member (registry-notices.ts). */
  notices: NoticeStats
}

/** How many notices went out, were folded into a later one, and wait now. */
export interface NoticeStats {
  /** Notices broadcast (each to every watcher of its member). */
  sent: number
  /** Notices replaced by a later state of the same member before they went out (never broadcast). */
  coalesced: number
  /** Notices dropped because the member's latest state was what its watchers last heard. */
  unchanged: number
  /** Notices sent early because `MAX_NOTICE_MEMBERS` (registry-notices.ts) members were remembered already. */
  overBudget: number
  /** Members with a notice waiting now. */
  waiting: number
}
