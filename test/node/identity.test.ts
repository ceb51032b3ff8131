import assert from 'node:assert/strict'
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { createNode, PeerwardenError, type NodeOptions, type PeerNode } from '../../src/node/index.js'
import { PeerwardenError as RootPeerwardenError } from '../../src/index.js'

const HEX_ID = /^[0-9a-f]{64}$/

/** Creates a node that is closed when the test ends, whatever happens. */
async function node (t: TestContext, options: NodeOptions = {}): Promise<PeerNode> {
  const n = await createNode(options)
  t.after(async () => { await n.close() })
  return n
}

function tempDir (t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'pw-identity-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

/** The ed25519 public key of a 32-byte seed, computed independently with node:crypto (RFC 8032). */
function ed25519PublicKey (seed: Uint8Array): Buffer {
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seed)])
  const key = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }))
  return key.export({ format: 'der', type: 'spki' }).subarray(-32)
}

function isCode (code: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof PeerwardenError, `expected a PeerwardenError, got ${String(err)}`)
    assert.equal((err as PeerwardenError).code, code)
    return true
  }
}

test('the peer id is the lowercase hex of the 32-byte ed25519 public key of the seed', async (t) => {
  const seed = randomBytes(32)
  const n = await node(t, { seed })
  assert.match(n.id, HEX_ID)
  assert.equal(n.id, ed25519PublicKey(seed).toString('hex'))
})

test('a fresh node without seed or dataDir gets a well-formed id of its own', async (t) => {
  const a = await node(t)
  const b = await node(t)
  assert.match(a.id, HEX_ID)
  assert.match(b.id, HEX_ID)
  assert.notEqual(a.id, b.id)
})

test('the same 32-byte seed gives the same id and a different seed a different id', async (t) => {
  const seed = new Uint8Array(32).fill(7)
  const a = await node(t, { seed })
  const b = await node(t, { seed: new Uint8Array(seed) })
  const c = await node(t, { seed: new Uint8Array(32).fill(8) })
  assert.equal(a.id, b.id)
  assert.notEqual(a.id, c.id)
})

test('the same string seed gives the same id and a different string a different id', async (t) => {
  const a = await node(t, { seed: 'alpha' })
  const b = await node(t, { seed: 'alpha' })
  const c = await node(t, { seed: 'beta' })
  assert.match(a.id, HEX_ID)
  assert.equal(a.id, b.id)
  assert.notEqual(a.id, c.id)
})

test('a seed of the wrong length fails with ERR_INVALID_ARGUMENT', async () => {
  await assert.rejects(createNode({ seed: new Uint8Array(31) }), isCode('ERR_INVALID_ARGUMENT'))
  await assert.rejects(createNode({ seed: new Uint8Array(33) }), isCode('ERR_INVALID_ARGUMENT'))
  await assert.rejects(createNode({ seed: '' }), isCode('ERR_INVALID_ARGUMENT'))
})

test('with a dataDir the key file is created with mode 0600 and the next node on that dataDir has the same id', async (t) => {
  const dir = tempDir(t)
  const first = await createNode({ dataDir: dir })
  const id = first.id
  try {
    assert.match(id, HEX_ID)
    const file = join(dir, 'identity.json')
    assert.ok(existsSync(file), 'identity.json is written')
    assert.equal(statSync(file).mode & 0o777, 0o600)
  } finally {
    await first.close()
  }
  const second = await node(t, { dataDir: dir })
  assert.equal(second.id, id)
  const other = await node(t, { dataDir: tempDir(t) })
  assert.notEqual(other.id, id, 'another dataDir holds another identity')
})

test('a dataDir that does not exist yet is created', async (t) => {
  const dir = join(tempDir(t), 'nested', 'deeper')
  const n = await node(t, { dataDir: dir })
  assert.match(n.id, HEX_ID)
  assert.ok(existsSync(join(dir, 'identity.json')))
})

test('a corrupt identity.json fails with a PeerwardenError instead of silently making a new identity', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'identity.json'), '{ this is not json', { mode: 0o600 })
  await assert.rejects(createNode({ dataDir: dir }), (err: unknown) => {
    assert.ok(err instanceof RootPeerwardenError, `expected a PeerwardenError, got ${String(err)}`)
    assert.equal(typeof (err as PeerwardenError).code, 'string')
    assert.ok((err as PeerwardenError).code.length > 0)
    return true
  })
  const dir2 = tempDir(t)
  writeFileSync(join(dir2, 'identity.json'), JSON.stringify({ publicKey: 'abcd', secretKey: 'abcd' }), { mode: 0o600 })
  await assert.rejects(createNode({ dataDir: dir2 }), (err: unknown) => err instanceof RootPeerwardenError)
})

test('an identity.json with a field of the wrong type or size, or halves that disagree, fails with ERR_IDENTITY naming the field', async (t) => {
  const good = await node(t, { seed: 'identity-file' })
  const dir = tempDir(t)
  const pk = good.id
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ publicKey: pk, secretKey: null }, /secretKey must be 128 hex characters, got null/],
    [{ publicKey: 7, secretKey: 'ab' }, /publicKey must be 64 hex characters, got number/],
    [{ publicKey: 'zz'.repeat(32), secretKey: 'ab'.repeat(64) }, /publicKey must be 64 hex characters/],
    [{ publicKey: pk, secretKey: 'ab'.repeat(64) }, /publicKey is not the public key of secretKey/]
  ]
  for (const [data, message] of cases) {
    writeFileSync(join(dir, 'identity.json'), JSON.stringify(data), { mode: 0o600 })
    await assert.rejects(createNode({ dataDir: dir }), (err: unknown) => {
      assert.ok(err instanceof RootPeerwardenError, `expected a PeerwardenError, got ${String(err)}`)
      assert.equal((err as PeerwardenError).code, 'ERR_IDENTITY')
      assert.match((err as Error).message, message)
      return true
    })
  }
  writeFileSync(join(dir, 'identity.json'), JSON.stringify([]), { mode: 0o600 })
  await assert.rejects(createNode({ dataDir: dir }), /publicKey must be 64 hex characters, got undefined/)
})

test('a listen address that is not a tcp address fails with ERR_INVALID_ARGUMENT', async () => {
  for (const listen of [['udp://127.0.0.1:0'], ['127.0.0.1:0'], ['tcp://127.0.0.1'], ['tcp://127.0.0.1:99999'], [''], 'tcp://127.0.0.1:0']) {
    await assert.rejects(createNode({ listen: listen as string[] }), isCode('ERR_INVALID_ARGUMENT'), `listen ${JSON.stringify(listen)}`)
  }
})

test('a garbage bootstrap address fails with ERR_INVALID_ARGUMENT', async () => {
  for (const bootstrap of [['garbage'], ['tcp://127.0.0.1:4000#nothex'], [42], 'tcp://127.0.0.1:4000']) {
    await assert.rejects(createNode({ bootstrap: bootstrap as string[] }), isCode('ERR_INVALID_ARGUMENT'), `bootstrap ${JSON.stringify(bootstrap)}`)
  }
})

test('joining or leaving an empty topic fails with ERR_INVALID_ARGUMENT', async (t) => {
  const n = await node(t)
  await assert.rejects(n.join(''), isCode('ERR_INVALID_ARGUMENT'))
  await assert.rejects(n.join(new Uint8Array(0)), isCode('ERR_INVALID_ARGUMENT'))
  await assert.rejects(n.leave(''), isCode('ERR_INVALID_ARGUMENT'))
  assert.equal(n.joined('x'), false)
})
