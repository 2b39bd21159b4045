// The YAML users copy (examples/), our own CI (.github/workflows/) and action.yml
// are checked against GitHub's schemas with @action-validator/core, and the
// examples against the inputs and outputs action.yml actually declares.
import { jest } from '@jest/globals'
import validator from '@action-validator/core'
import type { ValidationError, ValidationState } from '@action-validator/core'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const read = (path: string) => readFileSync(join(root, path), 'utf8')

function yamlFiles(dir: string): string[] {
  return readdirSync(join(root, dir))
    .filter(name => /\.ya?ml$/.test(name))
    .sort()
    .map(name => relative(root, join(root, dir, name)))
}

const workflowFiles = [...yamlFiles('examples'), ...yamlFiles('.github/workflows')]

// The validator reports some limits with console.warn (e.g. "Glob validation is
// not yet supported"); keep them out of the test output but return them.
function quietly(fn: () => ValidationState): { state: ValidationState; warnings: string[] } {
  const warnings: string[] = []
  const spy = jest.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
    warnings.push(args.map(String).join(' '))
  })
  try {
    return { state: fn(), warnings }
  } finally {
    spy.mockRestore()
  }
}

const validateWorkflow = (src: string) => quietly(() => validator.validateWorkflow(src))
const validateAction = (src: string) => quietly(() => validator.validateAction(src))

// Flattens nested one_of/any_of states into "path: title (detail)" lines, so a
// failure message says what is wrong instead of "expected [] to equal [...]".
function describeErrors(errors: ValidationError[], depth = 0): string[] {
  return errors.flatMap(e => {
    const where = 'path' in e ? e.path : e.location ? `line ${e.location.line}` : ''
    const line = `${'  '.repeat(depth)}${where}: ${e.title}${e.detail ? ` (${e.detail})` : ''} [${e.code}]`
    const nested = 'states' in e && e.states ? e.states.flatMap(s => describeErrors(s.errors, depth + 1)) : []
    return [line, ...nested]
  })
}

type Step = { id?: string; uses?: string; with?: Record<string, unknown>; run?: string }
type Job = { steps?: Step[]; environment?: unknown; concurrency?: unknown; permissions?: unknown }
type Workflow = { on: unknown; jobs: Record<string, Job> }
type ActionYml = {
  inputs: Record<string, { description?: string; required?: boolean; default?: unknown }>
  outputs: Record<string, { description?: string }>
  runs: { using: string; main: string }
}

const action = parse(read('action.yml')) as ActionYml
const cutoverUses = /^(acme\/cutover@|\.\/?$)/

function cutoverSteps(file: string): Step[] {
  const wf = parse(read(file)) as Workflow
  return Object.values(wf.jobs).flatMap(job => (job.steps ?? []).filter(s => s.uses && cutoverUses.test(s.uses)))
}

describe('the validator itself', () => {
  it('reports errors for a workflow that breaks the schema', () => {
    const { state } = validateWorkflow(['on: push', "jobs: { a: { runs-on: 1, steps: 'x' } }", ''].join('\n'))
    expect(state.actionType).toBe('workflow')
    expect(state.errors.length).toBeGreaterThan(0)
    const text = describeErrors(state.errors).join('\n')
    expect(text).toContain('/jobs/a/runs-on')
    expect(text).toContain('/jobs/a/steps')
  })

  it('reports a YAML parse error', () => {
    const { state } = validateWorkflow('on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo a: b\n')
    expect(state.errors.map(e => e.code)).toEqual(['parse_error'])
  })

  it('reports errors for an action without runs', () => {
    const { state } = validateAction("name: x\ndescription: y\ninputs: { a: { description: 'z' } }\n")
    expect(state.actionType).toBe('action')
    expect(state.errors.length).toBeGreaterThan(0)
  })
})

describe('workflow files', () => {
  it('finds the examples and our own CI workflows', () => {
    expect(workflowFiles).toEqual(
      expect.arrayContaining([
        'examples/deploy-on-release.yml',
        'examples/manual.yml',
        '.github/workflows/ci.yml',
        '.github/workflows/check-dist.yml'
      ])
    )
  })

  it.each(workflowFiles)('%s is a valid workflow', file => {
    const { state, warnings } = validateWorkflow(read(file))
    expect(describeErrors(state.errors)).toEqual([])
    // Anything the validator could not check must be one of its known limits.
    for (const w of warnings) expect(w).toMatch(/^WARNING: Glob validation is not yet supported/)
  })
})

describe('action.yml', () => {
  const src = read('action.yml')

  it('runs dist/index.js on node24', () => {
    expect(action.runs.using).toBe('node24')
    expect(action.runs.main).toBe('dist/index.js')
  })

  // @action-validator/core 0.6.0 (the newest release) bundles a schema whose
  // runs.using enum stops at node20, so it rejects node24. Validate everything
  // else by swapping that one value, and pin that the real file fails for that
  // reason only: once the validator learns node24, the second test fails and
  // the workaround can go.
  it('is a valid action (with runs.using swapped for node20, which the validator knows)', () => {
    const patched = src.replace(/^(\s+using:\s*)['"]?node24['"]?\s*$/m, "$1'node20'")
    expect(patched).not.toBe(src)
    const { state } = validateAction(patched)
    expect(describeErrors(state.errors)).toEqual([])
  })

  it('fails validation unpatched only because the validator does not know node24', () => {
    const { state } = validateAction(src)
    expect(describeErrors(state.errors)[0]).toBe('/runs: OneOf conditions are not met [one_of]')
    expect(state.errors).toHaveLength(1)
    // The one_of's branches are the JavaScript, composite and Docker actions;
    // the JavaScript branch must fail on the using enum and nothing else.
    const [runs] = state.errors
    const branches = 'states' in runs && runs.states ? runs.states : []
    expect(branches.length).toBeGreaterThan(0)
    expect(branches[0].errors).toEqual([expect.objectContaining({ code: 'enum', path: '/runs/using' })])
  })

  it('describes every input and output', () => {
    for (const [name, input] of Object.entries(action.inputs)) {
      expect({ name, description: typeof input.description === 'string' && input.description.trim().length > 0 }).toEqual({
        name,
        description: true
      })
    }
    for (const [name, output] of Object.entries(action.outputs)) {
      expect({ name, description: typeof output.description === 'string' && output.description.trim().length > 0 }).toEqual({
        name,
        description: true
      })
    }
  })

  it('marks exactly app, host and ssh-private-key required, none of them with a default', () => {
    const required = Object.entries(action.inputs)
      .filter(([, i]) => i.required === true)
      .map(([n]) => n)
      .sort()
    expect(required).toEqual(['app', 'host', 'ssh-private-key'])
    for (const name of required) expect(action.inputs[name].default).toBeUndefined()
  })
})

describe('examples use the action as declared', () => {
  const examples = yamlFiles('examples')
  const inputs = Object.keys(action.inputs)
  const outputs = Object.keys(action.outputs)

  it.each(examples)('%s runs cutover with declared inputs only, and the required ones', file => {
    const steps = cutoverSteps(file)
    expect(steps.length).toBeGreaterThan(0)
    for (const step of steps) {
      const keys = Object.keys(step.with ?? {})
      expect(keys.filter(k => !inputs.includes(k))).toEqual([])
      expect(keys).toEqual(expect.arrayContaining(['app', 'host', 'ssh-private-key']))
      // Without a host key pin the action refuses to connect.
      expect(keys.some(k => k === 'known-hosts' || k === 'host-fingerprint')).toBe(true)
      expect(String(step.with?.['ssh-private-key'])).toMatch(/^\$\{\{\s*secrets\./)
    }
  })

  it.each(examples)('%s reads only declared outputs of the cutover step', file => {
    const src = read(file)
    const ids = cutoverSteps(file).map(s => s.id).filter((id): id is string => !!id)
    for (const id of ids) {
      const used = [...src.matchAll(new RegExp(`steps\\.${id}\\.outputs\\.([A-Za-z0-9_-]+)`, 'g'))].map(m => m[1])
      expect(used.filter(o => !outputs.includes(o))).toEqual([])
    }
  })

  it.each(examples)('%s deploys one run at a time per environment, with deployments: write', file => {
    const wf = parse(read(file)) as Workflow
    const jobs = Object.values(wf.jobs).filter(j => (j.steps ?? []).some(s => s.uses && cutoverUses.test(s.uses)))
    for (const job of jobs) {
      expect(job.concurrency).toMatchObject({ group: expect.stringMatching(/^deploy-/), 'cancel-in-progress': false })
      expect(job.permissions).toMatchObject({ deployments: 'write' })
      expect(job.environment).toMatchObject({ name: expect.any(String), url: expect.any(String) })
    }
  })

  it('deploy-on-release deploys on v* tags and reports color, image and duration', () => {
    const src = read('examples/deploy-on-release.yml')
    const wf = parse(src) as Workflow
    expect(wf.on).toEqual({ push: { tags: ['v*'] } })
    for (const o of ['color', 'image', 'duration-seconds']) expect(src).toContain(`steps.cutover.outputs.${o}`)
  })

  it('manual offers deploy, rollback and status, and lets a rollback go without an image', () => {
    const wf = parse(read('examples/manual.yml')) as {
      on: { workflow_dispatch: { inputs: Record<string, { type: string; options?: string[]; required?: boolean }> } }
    }
    const dispatch = wf.on.workflow_dispatch.inputs
    expect(dispatch.mode).toMatchObject({ type: 'choice', options: ['deploy', 'rollback', 'status'] })
    expect(dispatch.image.type).toBe('string')
    expect(dispatch.image.required).not.toBe(true)
    expect(dispatch.environment.type).toBe('choice')
    const [step] = cutoverSteps('examples/manual.yml')
    expect(step.with?.mode).toBe('${{ inputs.mode }}')
    expect(String(step.with?.image)).toContain("inputs.mode == 'deploy'")
  })
})
