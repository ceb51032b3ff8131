import { createHash } from 'node:crypto'

/** The discovery key of a topic: on the wire, only this hash is used. */
export function discoveryKey (topic: string | Uint8Array): string {
  const bytes = typeof topic === 'string' ? Buffer.from(topic, 'utf8') : Buffer.from(topic)
  return createHash('sha256').update('peerwarden/topic/1\0').update(bytes).digest('hex')
}
