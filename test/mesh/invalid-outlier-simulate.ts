// Simulates the invalid-argument outlier rule (not a test: run by hand, figures go to the docs):
//   npm run build:test && node build/test/mesh/invalid-outlier-simulate.js
// - honest: round-robin calls over 2, 3 or 5 workers, each invalid with the given share (every
//   worker refuses those): instances found, over 5 runs of 20,000 calls (should be none);
// - liar: the same, one worker also refusing every 3rd, 5th or 10th call it serves: in how many of 20
//   runs of 3,000 calls it was found.
import { InvalidOutliers } from '../../src/mesh/invalid-outlier.js'
import type { Command } from '../../src/mesh/schema.js'

const command = { name: 'work' } as unknown as Command
const shares = [0.05, 0.2, 0.4, 0.6, 0.8, 0.95]

for (const workers of [2, 3, 5]) {
  for (const share of shares) {
    let found = 0
    for (let run = 0; run < 5; run++) {
      const t = new InvalidOutliers()
      for (let i = 0; i < 20_000; i++) t.record(command, `w${i % workers}`, Math.random() < share ? 'invalid' : 'ok')
      found += t.found
    }
    const liar: string[] = []
    for (const every of [3, 5, 10]) {
      let hits = 0
      for (let run = 0; run < 20; run++) {
        const t = new InvalidOutliers()
        let served = 0
        for (let i = 0; i < 3000; i++) {
          const w = i % workers
          const lies = w === 0 && ++served % every === 0
          t.record(command, `w${w}`, Math.random() < share || lies ? 'invalid' : 'ok')
        }
        if (t.found > 0) hits++
      }
      liar.push(`1/${every}: ${hits}/20`)
    }
    console.log(`${workers} workers, invalid share ${share}: honest found ${found} in 100,000 calls; liar found ${liar.join(', ')}`)
  }
}
