/**
 * Public types of the connection manager, with the rules they obey.
 * The rules of each are in the doc comments and in docs/concepts.md; the names are stable.
 *
 * One file per concern, all exported from here (import them from this module):
 * - connection-types.ts: peer ids, priorities, the transport seam (`Connection`, `DialFn`,
 *   `CloseReason`) and the injected `Clock`;
 * - options-types.ts: `ConnectionManagerOptions`;
 * - peer-types.ts: peers and connections as the application tells and reads them;
 * - report-types.ts: failed dials, decisions, trim reasons and `stats()`;
 * - tag-types.ts: decaying tags;
 * - store-types.ts: the peer store;
 * - manager-types.ts: the `ConnectionManager` interface.
 */
export * from './connection-types.js'
export type * from './options-types.js'
export type * from './peer-types.js'
export type * from './report-types.js'
export type * from './tag-types.js'
export type * from './store-types.js'
export type * from './manager-types.js'
