import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
// @ts-expect-error plain JS module without types
import { actionTables } from '../../scripts/action-tables.mjs'
import { REPO } from '../support/testbed.js'

describe('README', () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8')

  it('docs/reference.md holds the inputs and outputs tables generated from action.yml (node scripts/action-tables.mjs)', () => {
    const reference = readFileSync(join(REPO, 'docs', 'reference.md'), 'utf8')
    const start = reference.indexOf('<!-- inputs:start')
    const end = reference.indexOf('<!-- inputs:end -->') + '<!-- inputs:end -->'.length
    expect(start).toBeGreaterThan(0)
    expect(reference.slice(start, end)).toBe((actionTables as (root: string) => string)(REPO))
  })

  it('links every page under docs/, and each page it links exists', () => {
    const linked = [...readme.matchAll(/\]\((docs\/[a-z-]+\.md)[#)]/g)].map(m => m[1])
    const pages = readdirSync(join(REPO, 'docs'))
      .filter(f => f.endsWith('.md'))
      .map(f => `docs/${f}`)
    expect([...new Set(linked)].sort()).toEqual(pages.sort())
  })

  it('keeps exactly the two set-up commands, and .ci/run runs the test one', () => {
    const commands = readme.match(/^bash scripts\/[a-z-]+\.sh/gm)
    expect(commands).toEqual(['bash scripts/demo.sh', 'bash scripts/test.sh'])
    expect(readFileSync(join(REPO, '.ci', 'run'), 'utf8')).toContain('bash scripts/test.sh')
  })
})
