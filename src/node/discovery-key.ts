import { createHash } from 'node:crypto'
import { PeerwardenError } from '../errors.js'

/** The discovery key of a topic: on the wire, only this hash is used. */
export function discoveryKey (topic: string | Uint8Array): string {
  const bytes = typeof topic === 'string' ? Buffer.from(topic, 'utf8') : Buffer.from(topic)
  return createHash('sha256').update('peerwarden/topic/1\0').update(bytes).digest('hex')
}

/** A topic as the application gives it: a non-empty string or Uint8Array (ERR_INVALID_ARGUMENT otherwise). */
export function assertTopic (topic: unknown): void {
  if (!(typeof topic === 'string' && topic.length > 0) && !(topic instanceof Uint8Array && topic.length > 0)) {
    throw PeerwardenError.invalid('topic must be a non-empty string or Uint8Array')
  }
}
