import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv } from 'ajv'
import YAML from 'yaml'
// @ts-expect-error plain JS module without types
import { actionInputs, generated, OUTPUTS } from '../../scripts/config-schema.mjs'
import { parseConfigFile } from '../../src/inputs/config-file.js'
import { SETTINGS, TOPICS } from '../../src/inputs/settings.js'
import { REPO } from '../support/testbed.js'

const REGENERATE = 'node scripts/config-schema.mjs'
const inputs = (actionInputs as (root: string) => Record<string, { description: string; default?: string }>)(REPO)
const schema = JSON.parse(readFileSync(join(REPO, 'schema', 'cutover.schema.json'), 'utf8'))

describe('action.yml, src/inputs/settings.ts, the schema and docs/configuration.md agree', () => {
  it('has a type and topic in src/inputs/settings.ts for every action.yml input, and no entry for an input action.yml lacks', () => {
    const lacking = Object.keys(inputs).filter(name => !SETTINGS[name])
    const extra = Object.keys(SETTINGS).filter(name => !inputs[name])
    const problems = [
      ...lacking.map(
        n => `action.yml input '${n}' has no entry in src/inputs/settings.ts: add e.g. '${n}': { type: 'string', topic: 'app' }, then run ${REGENERATE}`
      ),
      ...extra.map(n => `src/inputs/settings.ts has '${n}', which action.yml has no input for: remove it (or add the input), then run ${REGENERATE}`)
    ]
    expect(problems).toEqual([])
  })

  it(`holds the generated schema, reference and defaults (run ${REGENERATE} after changing action.yml or settings.ts)`, async () => {
    const files = (await (generated as (...a: unknown[]) => Promise<Record<string, string>>)(inputs, SETTINGS, TOPICS, REPO)) as Record<string, string>
    expect(Object.keys(files).sort()).toEqual(Object.values(OUTPUTS as Record<string, string>).sort())
    for (const [path, text] of Object.entries(files)) {
      const committed = readFileSync(join(REPO, path), 'utf8')
      if (committed !== text) throw new Error(`${path} is not what action.yml and src/inputs/settings.ts make: run ${REGENERATE}`)
    }
  })

  it('orders the reference by topic: connection, app, health, proxy, TLS, strategies, hosts, reporting', () => {
    const reference = readFileSync(join(REPO, 'docs', 'configuration.md'), 'utf8')
    const headings = [...reference.matchAll(/^## (.+)$/gm)].map(m => m[1].toLowerCase())
    expect(headings).toEqual([...TOPICS])
    for (const name of Object.keys(inputs)) expect(reference).toContain(`| \`${name}\` |`)
  })

  it('lets the schema accept what the file reader accepts, and refuse what it refuses', () => {
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema)
    const example = readFileSync(join(REPO, 'examples', 'cli', 'cutover.yml'), 'utf8')
    expect(validate(YAML.parse(example))).toBe(true)
    expect(() => parseConfigFile(example, 'examples/cli/cutover.yml', { DATABASE_URL: 'x' })).not.toThrow()
    for (const bad of [
      'helth-path: /up',
      'https-port: eighty',
      'registry-password: x',
      'mode: deploy',
      'tls: on',
      'environments: { staging: { replica: 2 } }'
    ]) {
      expect({ bad, schema: validate(YAML.parse(bad)) }).toEqual({ bad, schema: false })
      expect(() => parseConfigFile(bad, 'cutover.yml', {})).toThrow(/^cutover\.yml:1:\d+: /)
    }
  })
})
