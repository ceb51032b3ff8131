import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'

// scripts/structure.mjs, the last step of `npm run lint`: src/ files over 300 lines and exports
// without a doc comment.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

interface Report { long: Array<{ file: string; lines: number }>; undocumented: Array<{ file: string; line: number; name: string }> }
const load = async (): Promise<{ structure: (root: string, limit?: number) => Report }> =>
  await import(pathToFileURL(`${ROOT}scripts/structure.mjs`).href) as { structure: (root: string, limit?: number) => Report }

test('the structure check lists a file over the limit and every kind of export that has no doc comment, and nothing documented', async () => {
  const { structure } = await load()
  const root = mkdtempSync(join(tmpdir(), 'peerwarden-structure-'))
  try {
    mkdirSync(join(root, 'src/part'), { recursive: true })
    writeFileSync(join(root, 'src/part/long.ts'), '/** A constant. */\nexport const a = 1\n' + 'const b = 2\n'.repeat(20))
    writeFileSync(join(root, 'src/part/bare.ts'), [
      '/** Documented. */', 'export function ok (): void {}',
      '/** Overloaded, documented once. */', 'export function over (a: string): void', 'export function over (a: number): void', 'export function over (a: unknown): void {}',
      '// a line comment is not a doc comment', 'export function plain (): void {}',
      'export interface Shape { x: number }',
      'export type Name = string',
      'export const LIMIT = 3, OTHER = 4',
      'export class Thing {}',
      'function hidden (): void {}', 'export { hidden as shown }',
      'export default 42'
    ].join('\n') + '\n')
    const report = structure(root, 16)
    assert.deepEqual(report.long, [{ file: 'src/part/long.ts', lines: 22 }])
    assert.deepEqual(report.undocumented.map((u) => `${u.line} ${u.name}`), ['8 plain', '9 Shape', '10 Name', '11 LIMIT', '11 OTHER', '12 Thing', '15 default'])
    assert.ok(report.undocumented.every((u) => u.file === 'src/part/bare.ts'))
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
})
