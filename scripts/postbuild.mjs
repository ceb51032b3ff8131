// After tsc: ship the declarations of the untyped Holepunch modules the node uses, and point the
// emitted .d.ts files that import them at it, so consumers type-check without skipLibCheck.
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const dir = 'dist/node'
copyFileSync('src/node/vendor.d.ts', join(dir, 'vendor.d.ts'))
for (const file of readdirSync(dir)) {
  if (!file.endsWith('.d.ts') || file === 'vendor.d.ts') continue
  const path = join(dir, file)
  const text = readFileSync(path, 'utf8')
  if (/from '(protomux|@hyperswarm\/secret-stream|compact-encoding)'/.test(text) && !text.startsWith('/// <reference')) {
    writeFileSync(path, `/// <reference path="./vendor.d.ts" />\n${text}`)
  }
}
