import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { manageSwarm } from '../src/adapters/hyperswarm.js'
import { peerwarden } from '../src/adapters/libp2p.js'
import { createPlugin } from '../src/adapters/ssb.js'
import { serveDashboard } from '../src/dashboard/index.js'
import { createConnectionManager } from '../src/index.js'
import { createMeshNode, createRegistry, defineSchema } from '../src/mesh/index.js'
import { createNode } from '../src/node/index.js'
import { tableNames } from './helpers/doc-tables.js'

// A guide's option table is what a newcomer copies from: an option it names that the code refuses
// fails at their first run ("unknown option"), and one it leaves out they never learn of (`logger`
// was missing from docs/node.md's table). Each table is held to the list the code itself gives when
// it refuses an unknown option ("… (known: a, b, c)"), so neither side can drift alone.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const dial = async (): Promise<never> => { throw new Error('no transport here') }

/** The option names `call` accepts, read from the refusal of a name it cannot know. */
async function acceptedBy (what: string, call: (options: Record<string, unknown>) => unknown): Promise<Set<string>> {
  try {
    await call({ notAnOptionOfAnything: true })
  } catch (err) {
    const e = err as { code?: string; message?: string }
    assert.equal(e.code, 'ERR_INVALID_ARGUMENT', `${what}: ${String(e.message)}`)
    const known = /\(known: ([^)]*)\)/.exec(e.message ?? '')
    assert.ok(known !== null, `${what} refuses an unknown option without listing the known ones: ${String(e.message)}`)
    return new Set(known[1]!.split(', '))
  }
  assert.fail(`${what} accepted an option it cannot know`)
}

/** The option names `file` shows in inline code: `name`, `name: value`, `name.field`, `{ name }`, `f({ name })`. */
function mentioned (file: string): Set<string> {
  const names = new Set<string>()
  for (const [, span] of readFileSync(`${ROOT}${file}`, 'utf8').matchAll(/`([^`\n]+)`/g)) {
    for (const m of span!.matchAll(/(?:^|[{,(]\s*)([A-Za-z]\w*)(?=\s*(?:$|[:,.}]))/g)) names.add(m[1]!)
  }
  return names
}

function sameNames (file: string, documented: ReadonlySet<string>, accepted: ReadonlySet<string>): void {
  const refused = [...documented].filter((n) => !accepted.has(n))
  const untold = [...accepted].filter((n) => !documented.has(n))
  assert.deepEqual({ refused, untold }, { refused: [], untold: [] }, `${file}: options its table names that the code refuses, and options the code takes that the table leaves out`)
}

const schema = defineSchema({ Api: {} })
const registry = `tcp://127.0.0.1:1#${'a'.repeat(64)}`
const managerOptions = (): Promise<Set<string>> => acceptedBy('createConnectionManager', (o) => createConnectionManager({ dial, ...o }))

test('the options table of docs/manager.md is the list of options createConnectionManager accepts', async () => {
  sameNames('docs/manager.md', tableNames('docs/manager.md', '## Options (`createConnectionManager`)'), await managerOptions())
})

test('the options table of docs/node.md is the list of options createNode accepts', async () => {
  sameNames('docs/node.md', tableNames('docs/node.md', '## Options (`createNode`)'), await acceptedBy('createNode', (o) => createNode(o)))
})

test('the options table of docs/dashboard.md is the list of options serveDashboard accepts', async () => {
  const manager = createConnectionManager({ dial })
  try {
    sameNames('docs/dashboard.md', tableNames('docs/dashboard.md', '## Options'), await acceptedBy('serveDashboard', (o) => serveDashboard(manager, o)))
  } finally {
    await manager.close()
  }
})

test('the options of the libp2p service are the manager\'s (its table says which) plus the table of docs/libp2p.md', async () => {
  const manager = await managerOptions()
  const documented = new Set([...manager, ...tableNames('docs/libp2p.md', '## Options')])
  sameNames('docs/libp2p.md', documented, await acceptedBy('peerwarden()', (o) => peerwarden(o)))
})

test('every option of createMeshNode, createRegistry, manageSwarm and the SSB plugin is named in its guide', async () => {
  const guides: Array<[string, Set<string>]> = [
    ['docs/mesh.md', await acceptedBy('createMeshNode', (o) => createMeshNode({ schema, role: 'Api', registry, ...o }))],
    ['docs/mesh.md', await acceptedBy('createRegistry', (o) => createRegistry({ schema, ...o }))],
    ['docs/hyperswarm.md', await acceptedBy('manageSwarm', (o) => manageSwarm({} as never, o))],
    ['docs/ssb.md', await acceptedBy('createPlugin', (o) => createPlugin(o))]
  ]
  const manager = await managerOptions()
  for (const [file, accepted] of guides) {
    const named = mentioned(file)
    // A guide that says "every manager option" may leave those to docs/manager.md.
    const untold = [...accepted].filter((n) => !named.has(n) && !manager.has(n))
    assert.deepEqual(untold, [], `${file} never names these options, which the code takes`)
  }
})
