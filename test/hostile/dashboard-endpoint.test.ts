import assert from 'node:assert/strict'
import { test } from 'node:test'
import { serveDashboard } from '../../src/dashboard/index.js'
import { testNode } from '../helpers/nodes.js'

// The dashboard is the one endpoint of `peerwarden node` that takes requests from the network (with
// `--dashboard host:port`). What it must hold against a stranger: nothing without the token, nothing
// but reads with it, and a client's bytes never echoed whole.

const T = { timeout: 20_000 }

test('the dashboard with a token: every route refuses a request without it (401), writes are refused (405), a huge query is not echoed whole', T, async (t) => {
  const node = await testNode(t)
  const token = 'k'.repeat(24)
  const dash = await serveDashboard(node.manager, { token })
  t.after(async () => { await dash.close() })
  const base = new URL(dash.url)
  base.search = ''
  for (const path of ['/', '/events', '/api/stats', '/api/peers', '/api/explain?peer=x', '/metrics', '/nope']) {
    const res = await fetch(new URL(path, base), { signal: AbortSignal.timeout(5000) })
    assert.equal(res.status, 401, path)
    await res.body?.cancel()
  }
  const wrong = await fetch(new URL('/api/stats', base), { headers: { authorization: `Bearer ${'j'.repeat(24)}` }, signal: AbortSignal.timeout(5000) })
  assert.equal(wrong.status, 401)
  const auth = { authorization: `Bearer ${token}` }
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const res = await fetch(new URL('/api/peers', base), { method, headers: auth, body: method === 'DELETE' ? undefined : '{}', signal: AbortSignal.timeout(5000) })
    assert.equal(res.status, 405, method)
  }
  const huge = await fetch(new URL(`/api/explain?peer=${'z'.repeat(8 * 1024)}`, base), { headers: auth, signal: AbortSignal.timeout(5000) })
  const body = await huge.text()
  assert.equal(huge.status, 404)
  assert.ok(body.length < 1024, `an error of ${body.length} characters`)
})
