import type { PeerwardenError } from '../errors.js'
import type { Clock } from '../manager/types.js'
import type { DeadlineFigures } from './queue-deadline.js'
import type { NotificationsMode } from './redis-queue-wake.js'

/** What `RedisQueue.stats()` gives: the handlers' deadlines (./queue-deadline.ts) and how idle consumers wait. */
export interface QueueFigures extends DeadlineFigures {
  /** Read scripts run by the consumers (an idle consumer: about one a second with notifications, 1000 / pollInterval without). */
  reads: number
  /** Keyspace notifications that woke a consumer. */
  notifications: number
  /** Notification connections dropped for a frame that was not a notification (a PUBLISH on the channel, over 1 KiB or of another shape). */
  notificationsDropped: number
  /** Times a stream's keyspace channel was subscribed with notifications on (again after each reconnection, say a Redis restart). */
  notificationSubscriptions: number
  /** How idle consumers learn of new messages now: `'notifications'` once one stream's channel is subscribed, else `'polling'`. */
  wakeMode: 'notifications' | 'polling'
}

/** The options of a Redis queue (`RedisQueue`, a mesh node's `queue`), with their defaults. */
export interface QueueOptions {
  /** After this many failed deliveries a message goes to the dead-letter stream. Default 5. */
  maxDeliveries?: number
  /**
   * Default 100_000. The most entries a stream holds: a publish to a full stream (its oldest entries
   * still unread or unacknowledged by some consumer group) fails with ERR_BUSY. Dead-letter streams
   * keep about this many, dropping their oldest.
   */
  maxLength?: number
  /** Acknowledged messages are trimmed from a stream after this many acks (default 100) or `trimInterval` ms (default 1000) after the first. */
  trimEvery?: number
  trimInterval?: number
  /**
   * The largest `args` field (JSON) a consumer parses, in bytes (UTF-8): a larger entry is
   * dead-lettered unread (one whose fields add up to more than this plus 4 KiB is sized inside Redis
   * and never sent to the process: ./redis-queue-read.ts); a publish of larger arguments fails with ERR_MESSAGE_TOO_LARGE. Default
   * 1 MiB (a mesh node's: its `limits.messageBytes`).
   */
  maxMessageBytes?: number
  /** Wait before retrying a message whose handler failed, ms. Default 200. */
  retryDelay?: number
  /**
   * Default 50. The longest wait between two reads of an idle stream while its consumer polls, ms. A
   * consumer reads through a script that sizes every entry on the server (an entry over
   * `maxMessageBytes` never leaves Redis), and Redis allows no blocking read in a script. With
   * keyspace notifications (`notifications`) an idle consumer reads when its stream changes, and
   * once a second besides; without, it reads again at once while there is work, then waits 5 ms,
   * doubling up to this, while the stream stays idle (about 1000 / pollInterval small scripts a second).
   */
  pollInterval?: number
  /**
   * Default `'enable'`. How idle consumers learn of a new message (./redis-queue-wake.ts): Redis's
   * keyspace notifications for stream commands, on one extra connection per queue whose frames are
   * refused past 1 KiB (a notification carries the command's name, never the entry). `'enable'`
   * adds the K and t flags to the server's `notify-keyspace-events` when they are missing (CONFIG
   * SET; other applications subscribed to keyspace events of all keys then see stream events too);
   * `'use'` only uses them when the server has them on; `'off'` polls. Where CONFIG is refused (a
   * managed Redis) the queue probes, appending to a key of its own: its notification within 2 s says
   * they are on; else the consumers poll (`stats().wakeMode`).
   */
  notifications?: NotificationsMode
  /**
   * Default 10_000 (a call's default deadline). How long a queued message's handler may run, ms,
   * unless its command sets `timeout`: at it the handler's `signal` aborts (ERR_TIMEOUT) and the
   * delivery counts as failed — retried, then dead-lettered after `maxDeliveries` — so a handler that
   * never settles no longer stalls its consumer. A handler still running then is never started
   * again while it runs: the next delivery waits for that run (./queue-deadline.ts). `Infinity`: no deadline.
   */
  handlerTimeout?: number
  /**
   * Default 4. Handlers past their deadline that ignore their signal and still run, per consumer
   * (each command of each instance), before it takes no new message until one of them ends: the
   * messages wait in the stream, none is lost, and handlers that never end hold at most this many
   * runs instead of one per message. A stall is reported through `onError` as ERR_BUSY, once per
   * stall; `stats().stalledConsumers` counts the consumers stalled now (./queue-deadline.ts).
   */
  maxOverdueHandlers?: number
  /**
   * Default 10_000. The longest any Redis command may take, ms: a publish without a timeout of its
   * own fails with ERR_TIMEOUT after it, and so does creating a consumer group; a read that hangs
   * this long is retried.
   */
  commandTimeout?: number
  /**
   * Problems the queue survives, each a PeerwardenError: `ERR_QUEUE_GROUP_LOST` (a consumer group was
   * gone, NOGROUP, and has been recreated), `ERR_QUEUE` (reading a stream fails, once per outage;
   * it is retried), `ERR_QUEUE_TRIMMED` (a message removed outside the queue before it was handled)
   * and `ERR_QUEUE_DEAD_LETTER` (a message went to the dead-letter stream, and why). Default:
   * `process.emitWarning`.
   */
  onError?: (error: PeerwardenError) => void
  /** Default: the system clock. Publish timeouts run on it. */
  clock?: Clock
}

/** The options of one `publish`. */
export interface PublishOptions {
  /** Fail with ERR_TIMEOUT when Redis has not confirmed the message within this many ms (default: `commandTimeout`). */
  timeout?: number
  /** Fail with ERR_ABORTED when aborted before Redis confirmed the message. */
  signal?: AbortSignal
}

/** `QueueOptions.maxMessageBytes` by default: 1 MiB. */
export const DEFAULT_QUEUE_MESSAGE_BYTES = 1024 * 1024
