// Builds a previous release of peerwarden for the bench to compare against: `node bench/previous.mjs
// [git-ref]` (default: the ref in bench/previous.json). The ref's tree is exported (git archive),
// built and packed (npm pack) as it would be published, and the tarball is unpacked into
// bench/.previous/node_modules/peerwarden-previous (gitignored), where the bench imports it under
// that name. Nothing is installed: the build and the unpacked package resolve their dependencies
// from the repository's own node_modules (a symlink in the build directory; the parent directories
// for the unpacked package).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(fileURLToPath(new URL('..', import.meta.url)))
const ref = process.argv[2] ?? JSON.parse(readFileSync(join(root, 'bench/previous.json'), 'utf8')).ref
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim()

const commit = run('git', ['rev-parse', '--verify', `${ref}^{commit}`], root)
const work = mkdtempSync(join(tmpdir(), 'peerwarden-previous-'))
try {
  const tree = join(work, 'tree')
  mkdirSync(tree)
  execFileSync('sh', ['-c', `git archive ${commit} | tar -x -C '${tree}'`], { cwd: root, stdio: 'inherit' })
  symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'), 'dir')
  run('npm', ['run', 'build', '--silent'], tree)
  const tarball = run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], tree).split('\n').pop()
  const dest = join(root, 'bench/.previous/node_modules/peerwarden-previous')
  rmSync(join(root, 'bench/.previous'), { recursive: true, force: true })
  mkdirSync(dest, { recursive: true })
  execFileSync('tar', ['-xzf', join(work, tarball), '-C', dest, '--strip-components', '1'], { stdio: 'inherit' })
  const pkgPath = join(dest, 'package.json')
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'))
  pkg.name = 'peerwarden-previous'
  pkg.peerwardenRef = { ref, commit }
  writeFileSync(pkgPath, JSON.stringify(pkg, null, 2) + '\n')
  console.log(`peerwarden ${ref} (${commit.slice(0, 10)}) packed as ${tarball} and unpacked into bench/.previous (${readdirSync(join(dest, 'dist')).length} entries in dist)`)
} finally {
  rmSync(work, { recursive: true, force: true })
}
