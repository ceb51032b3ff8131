import { existsSync } from 'node:fs'

/** Where Debian's chromium is (or PEERWARDEN_CHROMIUM), or undefined. */
export function chromiumPath (): string | undefined {
  for (const p of [process.env.PEERWARDEN_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (p !== undefined && p !== '' && existsSync(p)) return p
  }
  return undefined
}

/**
 * Why a browser test cannot run here, or undefined when it can. On CI (`CI=true`, where `.ci/run`
 * installs chromium) a missing browser is a failure, not a skip.
 */
export function chromiumSkip (): string | undefined {
  if (chromiumPath() !== undefined) return undefined
  if (process.env.CI === 'true') throw new Error('chromium is not installed, and CI must run the browser tests (.ci/run installs it)')
  return 'chromium is not installed (apt-get install chromium, or set PEERWARDEN_CHROMIUM) to run this test'
}
