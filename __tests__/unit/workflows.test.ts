// The YAML users copy (examples/), our own CI (.github/workflows/) and action.yml
// are checked against GitHub's schemas with @action-validator/core, and the
// examples against the inputs and outputs action.yml actually declares.
import { jest } from '@jest/globals'
import validator from '@action-validator/core'
import type { ValidationError, ValidationState } from '@action-validator/core'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, parseDocument } from 'yaml'

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

// @action-validator/core 0.6.0 bundles a workflow schema from before jobs.<id>.environment
// took `deployment` (true, false or an expression; GitHub then records no deployment for the
// job). Validate everything else without those keys; a test below pins that they are the only
// reason the files fail, so it breaks (and this can go) once the validator learns the key.
function withoutEnvironmentDeployment(src: string): string {
  const doc = parseDocument(src)
  const jobs = (doc.toJS() as { jobs?: Record<string, { environment?: unknown }> }).jobs ?? {}
  for (const [id, job] of Object.entries(jobs)) {
    if (job.environment && typeof job.environment === 'object') doc.deleteIn(['jobs', id, 'environment', 'deployment'])
    // The validator's schema predates the `attestations` permission (release.yml attests dist/).
    if (doc.getIn(['jobs', id, 'permissions', 'attestations']) !== undefined) doc.deleteIn(['jobs', id, 'permissions', 'attestations'])
  }
  return doc.toString()
}
const hasEnvironmentDeployment = (src: string) =>
  Object.values((parse(src) as Workflow).jobs ?? {}).some(j => !!j.environment && typeof j.environment === 'object' && 'deployment' in j.environment)

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
type Job = {
  if?: string
  steps?: Step[]
  environment?: unknown
  concurrency?: unknown
  permissions?: unknown
  outputs?: Record<string, string>
}
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
        '.github/workflows/check-dist.yml',
        '.github/workflows/release.yml'
      ])
    )
  })

  it.each(workflowFiles)('%s is a valid workflow (environment.deployment aside, which the validator does not know)', file => {
    const { state, warnings } = validateWorkflow(withoutEnvironmentDeployment(read(file)))
    expect(describeErrors(state.errors)).toEqual([])
    // Anything the validator could not check must be one of its known limits.
    for (const w of warnings) expect(w).toMatch(/^WARNING: Glob validation is not yet supported/)
  })

  it('needs the attestations workaround above: the validator still refuses that permission', () => {
    const { state } = validateWorkflow(read('.github/workflows/release.yml'))
    expect(describeErrors(state.errors).join('\n')).toContain("Additional property 'attestations' is not allowed")
  })

  const withDeploymentKey = workflowFiles.filter(file => hasEnvironmentDeployment(read(file)))

  it('uses environment.deployment somewhere (else the workaround above can go)', () => {
    expect(withDeploymentKey).toEqual(expect.arrayContaining(['examples/deploy-on-release.yml', 'examples/manual.yml']))
  })

  it.each(withDeploymentKey)('%s fails unpatched only because the validator does not know environment.deployment', file => {
    const { state } = validateWorkflow(read(file))
    const lines = describeErrors(state.errors)
    expect(lines.length).toBeGreaterThan(0)
    // Each failing job fails its environment on that one property; nothing else is reported
    // but the one_of branches that follow from it (the job is then no reusable-workflow call either).
    const environmentErrors = lines.filter(l => /\/jobs\/[^/]+\/environment: Property conditions/.test(l))
    expect(environmentErrors.length).toBeGreaterThan(0)
    for (const l of environmentErrors) expect(l).toContain("Additional property 'deployment' is not allowed")
    const other = lines.filter(
      l =>
        !/\/jobs\/[^/]+(\/environment)?: (OneOf conditions are not met|Property conditions are not met|Type of the value is wrong)/.test(l.trim()) &&
        !/\/jobs\/[^/]+\/uses: This property is required/.test(l)
    )
    expect(other).toEqual([])
  })
})

// Majors of the actions the examples and our workflows use, from the first that runs on node24
// (Node 20 left the hosted runners on 2026-09-16). A new action must be added here.
const NODE24_MAJOR: Record<string, number> = {
  'actions/checkout': 5,
  'actions/setup-node': 5,
  'actions/upload-artifact': 6,
  'actions/download-artifact': 7,
  'docker/login-action': 4,
  'docker/setup-buildx-action': 4,
  'docker/setup-qemu-action': 4,
  'docker/metadata-action': 6,
  'docker/build-push-action': 7,
  'actions/attest-build-provenance': 3
}

describe('actions used by the workflows', () => {
  it.each(workflowFiles)('%s uses only known actions, at a major that runs on node24', file => {
    const wf = parse(read(file)) as Workflow
    for (const step of Object.values(wf.jobs).flatMap(job => job.steps ?? [])) {
      if (!step.uses || cutoverUses.test(step.uses)) continue
      const m = /^([\w.-]+\/[\w.-]+)@v(\d+)$/.exec(step.uses)
      expect({ uses: step.uses, pinnedToMajor: !!m }).toEqual({ uses: step.uses, pinnedToMajor: true })
      const [, action, major] = m!
      expect({ action, known: action in NODE24_MAJOR }).toEqual({ action, known: true })
      expect({ action, major: Number(major) >= NODE24_MAJOR[action] }).toEqual({ action, major: true })
    }
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

  // app, host and the key may come from cutover.yml, CUTOVER_* or ssh-agent-socket: marking them
  // required would make actionlint refuse workflows that rely on those; parseInputs refuses instead.
  it('marks no input required, and leaves app, host and ssh-private-key without a default', () => {
    expect(Object.entries(action.inputs).filter(([, i]) => i.required === true)).toEqual([])
    for (const name of ['app', 'host', 'ssh-private-key']) expect(action.inputs[name].default).toBeUndefined()
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
    const ids = cutoverSteps(file)
      .map(s => s.id)
      .filter((id): id is string => !!id)
    for (const id of ids) {
      const used = [...src.matchAll(new RegExp(`steps\\.${id}\\.outputs\\.([A-Za-z0-9_-]+)`, 'g'))].map(m => m[1])
      expect(used.filter(o => !outputs.includes(o))).toEqual([])
    }
  })

  const cutoverJobs = (file: string) =>
    Object.entries((parse(read(file)) as Workflow).jobs)
      .map(([id, job]) => ({ id, job, step: (job.steps ?? []).find(s => s.uses && cutoverUses.test(s.uses)) }))
      .filter((j): j is { id: string; job: Job; step: Step } => !!j.step)
  // A job whose cutover step can change the host (deploy or rollback, possibly chosen at run time).
  const changesHost = (step: Step) => step.with?.mode !== 'status'

  it.each(examples)('%s deploys one run at a time per environment, with deployments: write', file => {
    const jobs = cutoverJobs(file).filter(j => changesHost(j.step))
    expect(jobs.length).toBeGreaterThan(0)
    for (const { job } of jobs) {
      expect(job.concurrency).toMatchObject({ group: expect.stringMatching(/^deploy-/), 'cancel-in-progress': false })
      expect(job.permissions).toMatchObject({ deployments: 'write' })
    }
  })

  it.each(examples)('%s records one deployment per run: cutover records it, GitHub does not (deployment: false)', file => {
    for (const { id, job, step } of cutoverJobs(file)) {
      const environment = job.environment as { name?: string; deployment?: unknown; url?: string } | undefined
      expect({ id, environment: typeof environment }).toEqual({ id, environment: 'object' })
      expect({ id, deployment: environment!.deployment }).toEqual({ id, deployment: false })
      // Without a deployment, the job's environment url is shown nowhere: cutover's environment-url is.
      expect({ id, url: environment!.url }).toEqual({ id, url: undefined })
      if (changesHost(step)) {
        // cutover's deployment goes to the job's environment.
        expect({ id, environment: step.with?.environment }).toEqual({ id, environment: environment!.name })
        expect(step.with?.['environment-url']).toEqual(expect.any(String))
        expect(step.with?.deployments).toBeUndefined()
      }
    }
  })

  it.each(examples)('%s pulls from ghcr.io with the run’s GITHUB_TOKEN and packages: read, never a personal token', file => {
    const src = read(file)
    expect(src).not.toMatch(/GHCR_|read:packages|personal access token/i)
    for (const { id, job, step } of cutoverJobs(file).filter(j => changesHost(j.step))) {
      expect({ id, password: step.with?.['registry-password'] }).toEqual({ id, password: '${{ secrets.GITHUB_TOKEN }}' })
      expect({ id, permissions: job.permissions }).toEqual({ id, permissions: expect.objectContaining({ packages: 'read' }) })
    }
  })

  it.each(examples)('%s never builds an image name from github.repository as is (it may have capitals)', file => {
    const code = read(file).replace(/^\s*#.*$/gm, '')
    expect(code).not.toMatch(/ghcr\.io\/\$\{\{\s*github\.repository\s*\}\}/)
  })

  it('deploy-on-release deploys on v* tags and reports color, image and duration', () => {
    const src = read('examples/deploy-on-release.yml')
    const wf = parse(src) as Workflow
    expect(wf.on).toEqual({ push: { tags: ['v*'] } })
    for (const o of ['color', 'image', 'duration-seconds']) expect(src).toContain(`steps.cutover.outputs.${o}`)
  })

  it('deploy-on-release deploys the pushed digest, under a lower-cased name', () => {
    const wf = parse(read('examples/deploy-on-release.yml')) as Workflow
    const build = wf.jobs.build
    const push = build.steps!.find(s => s.uses?.startsWith('docker/build-push-action@'))!
    expect(push.id).toBeTruthy()
    expect(push.with?.push).toBe(true)
    // The job's image output is name@digest, and that is what cutover deploys.
    const name = build.steps!.find(s => s.id === 'image')!
    expect(name.run).toContain('${GITHUB_REPOSITORY,,}')
    expect(build.outputs?.image).toBe(`\${{ steps.image.outputs.name }}@\${{ steps.${push.id}.outputs.digest }}`)
    const [{ step }] = cutoverJobs('examples/deploy-on-release.yml')
    expect(step.with?.image).toBe('${{ needs.build.outputs.image }}')
  })

  it('manual offers every mode (remove too), an environment-typed target, and lets a rollback go without an image', () => {
    const wf = parse(read('examples/manual.yml')) as {
      on: { workflow_dispatch: { inputs: Record<string, { type: string; options?: string[]; required?: boolean }> } }
    }
    const dispatch = wf.on.workflow_dispatch.inputs
    expect(dispatch.mode).toMatchObject({ type: 'choice', options: ['deploy', 'rollback', 'status', 'promote', 'maintenance', 'live', 'remove'] })
    expect(dispatch.image.type).toBe('string')
    expect(dispatch.image.required).not.toBe(true)
    expect(dispatch.environment.type).toBe('environment')
    const [step] = cutoverSteps('examples/manual.yml')
    expect(step.with?.mode).toBe('${{ inputs.mode }}')
    expect(String(step.with?.image)).toContain("inputs.mode == 'deploy'")
  })

  it('manual runs status in a job of its own: no approval to wait for, no deployment, no deploy rights', () => {
    const jobs = cutoverJobs('examples/manual.yml')
    const deploy = jobs.find(j => changesHost(j.step))!
    const status = jobs.find(j => !changesHost(j.step))!
    expect(deploy.job.if).toBe("inputs.mode != 'status'")
    expect(status.job.if).toBe("inputs.mode == 'status'")
    const env = (j: Job) => j.environment as { name: string; deployment: unknown }
    // Another environment than the one whose reviewers gate deploys, and no deployment recorded.
    expect(env(status.job).name).not.toBe(env(deploy.job).name)
    expect(env(status.job).deployment).toBe(false)
    expect(status.job.concurrency).toBeUndefined()
    expect(status.job.permissions).toEqual({ contents: 'read' })
  })
})

describe('the README’s Quick start', () => {
  const readme = read('README.md')
  const section = readme.slice(readme.indexOf('## Quick start'))
  const src = /```yaml\n([\s\S]*?)```/.exec(section)![1]
  const wf = parse(src) as Workflow

  it('is a valid workflow (environment.deployment aside)', () => {
    const { state } = validateWorkflow(withoutEnvironmentDeployment(src))
    expect(describeErrors(state.errors)).toEqual([])
  })

  it('runs cutover with declared inputs, one deployment per run, on the pushed digest', () => {
    const deploy = wf.jobs.deploy
    const step = deploy.steps!.find(s => s.uses && cutoverUses.test(s.uses))!
    expect(Object.keys(step.with ?? {}).filter(k => !(k in action.inputs))).toEqual([])
    expect(deploy.environment).toEqual({ name: 'production', deployment: false })
    expect(step.with?.environment).toBe('production')
    expect(deploy.permissions).toEqual({ contents: 'read', deployments: 'write', packages: 'read' })
    expect(step.with?.['registry-password']).toBe('${{ secrets.GITHUB_TOKEN }}')
    expect(step.with?.image).toBe('${{ needs.build.outputs.image }}')
    expect(wf.jobs.build.outputs?.image).toMatch(/@\$\{\{ steps\.push\.outputs\.digest \}\}$/)
    expect(src).toContain('${GITHUB_REPOSITORY,,}')
  })

  it('uses actions at a major that runs on node24', () => {
    for (const step of Object.values(wf.jobs).flatMap(job => job.steps ?? [])) {
      if (!step.uses || cutoverUses.test(step.uses)) continue
      const [, name, major] = /^([\w.-]+\/[\w.-]+)@v(\d+)$/.exec(step.uses)!
      expect({ name, ok: Number(major) >= NODE24_MAJOR[name] }).toEqual({ name, ok: true })
    }
  })
})

describe('our own workflows', () => {
  const runs = (file: string) =>
    Object.values((parse(read(file)) as Workflow).jobs)
      .flatMap(job => job.steps ?? [])
      .map(s => s.run ?? '')
      .join('\n')

  it.each(['.github/workflows/ci.yml', '.github/workflows/check-dist.yml', '.github/workflows/release.yml'])('%s installs with npm ci', file => {
    expect(runs(file)).toMatch(/^npm ci$/m)
    expect(runs(file)).not.toMatch(/npm install/)
  })

  it.each(['.github/workflows/check-dist.yml', '.github/workflows/release.yml'])('%s deletes dist/ before building it', file => {
    const all = runs(file)
    expect(all).toMatch(/rm -rf dist\s*\n\s*npm run build/)
  })

  it('release runs on version tags, checks the tag against package.json, and moves the major tag', () => {
    const wf = parse(read('.github/workflows/release.yml')) as Workflow & { permissions?: unknown }
    expect(wf.on).toEqual({ push: { tags: ['v*.*.*'] } })
    expect(wf.permissions).toEqual({ contents: 'read' })
    expect(wf.jobs.release.permissions).toEqual({ contents: 'write', 'id-token': 'write', attestations: 'write' })
    const attest = (wf.jobs.release.steps as { uses?: string; with?: Record<string, string> }[]).find(s =>
      s.uses?.startsWith('actions/attest-build-provenance@')
    )
    expect(attest?.with?.['subject-path']).toContain('dist/index.js')
    const all = runs('.github/workflows/release.yml')
    expect(all).toContain('require("./package.json").version')
    expect(all).toContain('git status --porcelain dist/')
    expect(all).toContain('CHANGELOG.md')
    expect(all).toContain('gh release create')
    expect(all).toMatch(/git push --force origin "refs\/tags\/\$\{major\}"/)
  })

  it('CHANGELOG.md has an Unreleased section and one for package.json’s version', () => {
    const changelog = read('CHANGELOG.md')
    const version = (JSON.parse(read('package.json')) as { version: string }).version
    expect(changelog).toMatch(/^## \[Unreleased\]$/m)
    expect(changelog).toMatch(new RegExp(`^## \\[${version.replace(/\./g, '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm'))
  })
})
