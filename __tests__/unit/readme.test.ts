import { readFileSync } from 'node:fs'
import { join } from 'node:path'
// @ts-expect-error plain JS module without types
import { actionTables } from '../../scripts/action-tables.mjs'
import { REPO } from '../support/testbed.js'

describe('README', () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8')

  it('holds the inputs and outputs tables generated from action.yml (node scripts/action-tables.mjs)', () => {
    const start = readme.indexOf('<!-- inputs:start')
    const end = readme.indexOf('<!-- inputs:end -->') + '<!-- inputs:end -->'.length
    expect(start).toBeGreaterThan(0)
    expect(readme.slice(start, end)).toBe((actionTables as (root: string) => string)(REPO))
  })

  it('keeps exactly the two set-up commands, and .ci/run runs the test one', () => {
    const commands = readme.match(/^bash scripts\/[a-z-]+\.sh/gm)
    expect(commands).toEqual(['bash scripts/demo.sh', 'bash scripts/test.sh'])
    expect(readFileSync(join(REPO, '.ci', 'run'), 'utf8')).toContain('bash scripts/test.sh')
  })
})
