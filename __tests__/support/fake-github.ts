/**
 * A fake GitHub REST API for the deployments endpoints, on 127.0.0.1 (random port).
 *
 * Every request is checked against GitHub's published OpenAPI description (@octokit/openapi,
 * generated/api.github.com.json): the operation is found by method and path template, path and
 * query parameters are checked against their schemas, and the JSON body against the operation's
 * requestBody schema ($refs resolved). A request that breaks the description is recorded as a
 * violation and answered 422, as GitHub does. Every answer the fake gives is checked against the
 * operation's response schema too (`responseViolations`), so the fake stays realistic.
 *
 * Deliberately stricter than GitHub in two ways, to catch typos GitHub would silently ignore:
 * body fields and query parameters the operation does not declare are violations.
 * One documented rule that the schema does not encode is enforced: a status description is at
 * most 140 characters.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import ajvFormats from 'ajv-formats'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const SPEC_FILE = join(REPO, 'node_modules', '@octokit', 'openapi', 'generated', 'api.github.com.json')
const SPEC_ID = 'https://api.github.com/openapi.json'
const DOCS = 'https://docs.github.com/rest/deployments'

// ---------------------------------------------------------------------------------------------
// The OpenAPI description and its validators
// ---------------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type SchemaNode = Record<string, unknown>

interface Parameter {
  name: string
  in: 'path' | 'query' | 'header' | 'cookie'
  required?: boolean
  schema?: SchemaNode
}

interface Operation {
  operationId: string
  parameters?: (Parameter | { $ref: string })[]
  requestBody?: { required?: boolean; content: Record<string, { schema: SchemaNode }> }
  responses: Record<string, { $ref?: string; content?: Record<string, { schema: SchemaNode }> }>
}

interface Spec {
  paths: Record<string, Record<string, unknown>>
  components: { schemas: Record<string, SchemaNode>; parameters: Record<string, Parameter>; responses: Record<string, unknown> }
}

export interface SpecOperation {
  method: string
  template: string
  operationId: string
  op: Operation
  parameters: Parameter[]
  regex: RegExp
  pathParams: string[]
  literals: number
}

const HTTP_METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options']

type AddFormats = (ajv: Ajv) => Ajv
const addFormats = ((ajvFormats as unknown as { default?: AddFormats }).default ?? (ajvFormats as unknown as AddFormats)) as AddFormats

/** Loads the description once and compiles validators on demand (Ajv, $refs into components). */
class OpenApi {
  readonly spec: Spec
  readonly operations: SpecOperation[] = []
  private readonly requestAjv: Ajv
  private readonly paramAjv: Ajv
  private readonly responseAjv: Ajv
  private readonly cache = new Map<string, ValidateFunction>()

  constructor(file = SPEC_FILE) {
    this.spec = JSON.parse(readFileSync(file, 'utf8')) as Spec
    for (const [template, item] of Object.entries(this.spec.paths)) {
      const shared = (item.parameters as (Parameter | { $ref: string })[] | undefined) ?? []
      for (const method of HTTP_METHODS) {
        const op = item[method] as Operation | undefined
        if (!op) continue
        const pathParams: string[] = []
        const segments = template.split('/').filter(Boolean)
        const pattern = segments
          .map(s => {
            const m = /^\{(.+)\}$/.exec(s)
            if (m) {
              pathParams.push(m[1])
              return '([^/]+)'
            }
            return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
          })
          .join('/')
        const byName = new Map<string, Parameter>()
        for (const p of [...shared, ...(op.parameters ?? [])].map(p => this.parameter(p))) byName.set(`${p.in}:${p.name}`, p)
        this.operations.push({
          method: method.toUpperCase(),
          template,
          operationId: op.operationId,
          op,
          parameters: [...byName.values()],
          regex: new RegExp(`^/${pattern}/?$`),
          pathParams,
          literals: segments.filter(s => !s.startsWith('{')).length
        })
      }
    }
    // Most specific template first (more literal segments), so /a/{b} never shadows /a/literal.
    this.operations.sort((a, b) => b.literals - a.literals)

    const components = { $id: SPEC_ID, components: { schemas: this.spec.components.schemas } }
    const make = (opts: ConstructorParameters<typeof Ajv>[0]) => {
      // strict: false because OpenAPI 3.0 schemas carry keywords JSON Schema does not know
      // (example, x-github-*); `nullable` is understood by Ajv itself.
      const ajv = new Ajv({ strict: false, allErrors: true, ...opts })
      addFormats(ajv)
      ajv.addSchema(components)
      return ajv
    }
    this.requestAjv = make({})
    this.paramAjv = make({ coerceTypes: true })
    this.responseAjv = make({})
    // The description says target_url, log_url and environment_url are `format: uri` with a
    // default of "", and GitHub does answer "" when they are unset: accept exactly that.
    const uri = /^(?:[a-z][a-z0-9+\-.]*:)(?:\/?\/)?[^\s]*$/i
    this.responseAjv.addFormat('uri', { type: 'string', validate: (s: string) => s === '' || uri.test(s) })
  }

  private parameter(p: Parameter | { $ref: string }): Parameter {
    if ('$ref' in p) {
      const name = p.$ref.replace('#/components/parameters/', '')
      const resolved = this.spec.components.parameters[name]
      if (!resolved) throw new Error(`Unresolved parameter ${p.$ref}`)
      return resolved
    }
    return p
  }

  /** The operation for a method and a request path (without query), if the description has one. */
  find(method: string, path: string): { operation: SpecOperation; params: Record<string, string> } | undefined {
    for (const operation of this.operations) {
      if (operation.method !== method) continue
      const m = operation.regex.exec(path)
      if (!m) continue
      const params: Record<string, string> = {}
      operation.pathParams.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1])))
      return { operation, params }
    }
    return undefined
  }

  byId(operationId: string): SpecOperation {
    const op = this.operations.find(o => o.operationId === operationId)
    if (!op) throw new Error(`No operation ${operationId} in the description`)
    return op
  }

  /** Local `#/components/...` refs of an operation's schema become refs into the shared document. */
  private absolute(node: unknown): unknown {
    if (Array.isArray(node)) return node.map(n => this.absolute(n))
    if (node && typeof node === 'object') {
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(node)) out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? SPEC_ID + v : this.absolute(v)
      return out
    }
    return node
  }

  private compile(key: string, ajv: Ajv, schema: unknown): ValidateFunction {
    let v = this.cache.get(key)
    if (!v) {
      v = ajv.compile(this.absolute(schema) as SchemaNode)
      this.cache.set(key, v)
    }
    return v
  }

  requestBodySchema(op: SpecOperation): SchemaNode | undefined {
    return op.op.requestBody?.content['application/json']?.schema
  }

  validateBody(op: SpecOperation, body: unknown): ErrorObject[] {
    const schema = this.requestBodySchema(op)
    if (!schema) return []
    const v = this.compile(`body:${op.operationId}`, this.requestAjv, schema)
    return v(body) ? [] : [...(v.errors ?? [])]
  }

  /** Checks (and coerces, as a server reads query strings) one parameter value. */
  validateParam(op: SpecOperation, p: Parameter, raw: string): { value: unknown; errors: ErrorObject[] } {
    const v = this.compile(`param:${op.operationId}:${p.in}:${p.name}`, this.paramAjv, {
      type: 'object',
      properties: { value: p.schema ?? {} }
    })
    const holder = { value: raw as unknown }
    return v(holder) ? { value: holder.value, errors: [] } : { value: raw, errors: [...(v.errors ?? [])] }
  }

  /** The JSON schema of the answer for a status, following `$ref` to components.responses. */
  responseSchema(op: SpecOperation, status: number): SchemaNode | undefined {
    let r = op.op.responses[String(status)] as { $ref?: string; content?: Record<string, { schema: SchemaNode }> } | undefined
    if (r?.$ref) r = this.spec.components.responses[r.$ref.replace('#/components/responses/', '')] as typeof r
    return r?.content?.['application/json']?.schema
  }

  /** Errors of an answer against the operation's response schema; undefined if none is described. */
  validateResponse(op: SpecOperation, status: number, body: unknown): ErrorObject[] | undefined {
    const schema = this.responseSchema(op, status)
    if (!schema) return undefined
    const v = this.compile(`response:${op.operationId}:${status}`, this.responseAjv, schema)
    return v(body) ? [] : [...(v.errors ?? [])]
  }
}

let shared: OpenApi | undefined
/** The parsed description, shared by all fakes of a test file (parsing takes ~0.2 s). */
export function openApi(): OpenApi {
  shared ??= new OpenApi()
  return shared
}

function describeErrors(where: string, errors: ErrorObject[], strip = ''): string[] {
  return errors.map(e => {
    const at = `${where}${e.instancePath.startsWith(strip) ? e.instancePath.slice(strip.length) : e.instancePath}`
    if (e.keyword === 'additionalProperties') return `${at}: unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"`
    if (e.keyword === 'enum') return `${at}: ${e.message} (${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})`
    return `${at}: ${e.message}`
  })
}

// ---------------------------------------------------------------------------------------------
// The fake
// ---------------------------------------------------------------------------------------------

export interface RecordedRequest {
  method: string
  /** Path without the query string. */
  path: string
  query: Record<string, string>
  headers: Record<string, string | string[] | undefined>
  body: unknown
  /** operationId from the description, when the request matched one. */
  operationId?: string
  status: number
  response: unknown
  /** How the request broke GitHub's description (empty when it is valid). */
  violations: string[]
}

export interface Violation {
  request: string
  message: string
}

export interface DeploymentRecord {
  deployment: Record<string, Json>
  /** Newest first, as the API lists them. */
  statuses: Record<string, Json>[]
}

export interface FakeGithubOptions {
  /** The only repository that exists ("owner/repo"); others answer 404. */
  repository?: string
  /** If set, only this token is accepted (401 "Bad credentials" otherwise). */
  token?: string
  /** 'writes': every POST answers 403 "Resource not accessible by integration"; 'all': every request. */
  forbid?: 'none' | 'writes' | 'all'
  /** Reject fields and query parameters the operation does not declare (default true). */
  rejectUnknownFields?: boolean
}

/** The operations the fake implements. */
const IMPLEMENTED = new Set(['repos/create-deployment', 'repos/list-deployments', 'repos/create-deployment-status', 'repos/list-deployment-statuses'])

// The GITHUB_TOKEN of a workflow acts as github-actions[bot], through the github-actions app.
const ACTOR = {
  name: null,
  email: null,
  login: 'github-actions[bot]',
  id: 41898282,
  node_id: 'MDM6Qm90NDE4OTgyODI=',
  avatar_url: 'https://avatars.githubusercontent.com/in/15368?v=4',
  gravatar_id: '',
  url: 'https://api.github.com/users/github-actions%5Bbot%5D',
  html_url: 'https://github.com/apps/github-actions',
  followers_url: 'https://api.github.com/users/github-actions%5Bbot%5D/followers',
  following_url: 'https://api.github.com/users/github-actions%5Bbot%5D/following{/other_user}',
  gists_url: 'https://api.github.com/users/github-actions%5Bbot%5D/gists{/gist_id}',
  starred_url: 'https://api.github.com/users/github-actions%5Bbot%5D/starred{/owner}{/repo}',
  subscriptions_url: 'https://api.github.com/users/github-actions%5Bbot%5D/subscriptions',
  organizations_url: 'https://api.github.com/users/github-actions%5Bbot%5D/orgs',
  repos_url: 'https://api.github.com/users/github-actions%5Bbot%5D/repos',
  events_url: 'https://api.github.com/users/github-actions%5Bbot%5D/events{/privacy}',
  received_events_url: 'https://api.github.com/users/github-actions%5Bbot%5D/received_events',
  type: 'Bot',
  user_view_type: 'public',
  site_admin: false
}
const APP = {
  id: 15368,
  client_id: 'Iv1.05c79e9ad1f6bdfa',
  slug: 'github-actions',
  node_id: 'MDM6QXBwMTUzNjg=',
  owner: {
    login: 'github',
    id: 9919,
    node_id: 'MDEyOk9yZ2FuaXphdGlvbjk5MTk=',
    avatar_url: 'https://avatars.githubusercontent.com/u/9919?v=4',
    gravatar_id: '',
    url: 'https://api.github.com/users/github',
    html_url: 'https://github.com/github',
    followers_url: 'https://api.github.com/users/github/followers',
    following_url: 'https://api.github.com/users/github/following{/other_user}',
    gists_url: 'https://api.github.com/users/github/gists{/gist_id}',
    starred_url: 'https://api.github.com/users/github/starred{/owner}{/repo}',
    subscriptions_url: 'https://api.github.com/users/github/subscriptions',
    organizations_url: 'https://api.github.com/users/github/orgs',
    repos_url: 'https://api.github.com/users/github/repos',
    events_url: 'https://api.github.com/users/github/events{/privacy}',
    received_events_url: 'https://api.github.com/users/github/received_events',
    type: 'Organization',
    user_view_type: 'public',
    site_admin: false
  },
  name: 'GitHub Actions',
  description: 'Automate your workflow from idea to production',
  external_url: 'https://help.github.com/en/actions',
  html_url: 'https://github.com/apps/github-actions',
  created_at: '2018-07-30T09:30:17Z',
  updated_at: '2025-03-07T16:35:00Z',
  permissions: { actions: 'write', contents: 'write', deployments: 'write', metadata: 'read', statuses: 'write' },
  events: ['deployment', 'deployment_status']
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, Json>
  ) {
    super(String(body.message))
  }
}

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function nodeId(kind: string, id: number): string {
  return Buffer.from(`0${kind.length}:${kind}${id}`).toString('base64')
}

export class FakeGithub {
  readonly requests: RecordedRequest[] = []
  /** Answers of the fake that do not match the description (should always stay empty). */
  readonly responseViolations: Violation[] = []
  readonly options: Required<FakeGithubOptions>
  private server?: Server
  private port = 0
  private nextDeploymentId = 2_147_483_000 // beyond 32-bit ids, as GitHub's are now
  private nextStatusId = 4_294_967_000
  private readonly store = new Map<number, { owner: string; repo: string; deployment: Record<string, Json>; statuses: Record<string, Json>[] }>()
  private readonly api = openApi()

  constructor(options: FakeGithubOptions = {}) {
    this.options = { repository: 'acme/web', token: '', forbid: 'none', rejectUnknownFields: true, ...options }
  }

  get url(): string {
    if (!this.server) throw new Error('The fake GitHub is not started')
    return `http://127.0.0.1:${this.port}`
  }

  /** Every request that broke the description, across all requests so far. */
  get violations(): Violation[] {
    return this.requests.flatMap(r => r.violations.map(message => ({ request: `${r.method} ${r.path}`, message })))
  }

  /** Answer 403 to writes (or everything) from now on, or stop doing so. */
  forbid(mode: 'none' | 'writes' | 'all'): void {
    this.options.forbid = mode
  }

  /** Deployments of the repository, newest first, each with its statuses (newest first); copies. */
  deployments(environment?: string): DeploymentRecord[] {
    return [...this.store.values()]
      .filter(d => environment === undefined || d.deployment.environment === environment)
      .sort((a, b) => (b.deployment.id as number) - (a.deployment.id as number))
      .map(d => structuredClone({ deployment: d.deployment, statuses: [...d.statuses].reverse() }))
  }

  deployment(id: number): DeploymentRecord | undefined {
    return this.deployments().find(d => d.deployment.id === id)
  }

  /** Adds a deployment (and statuses, oldest first) as another tool would have, without a request. */
  seed(body: Record<string, Json>, states: string[] = []): number {
    const [owner, repo] = this.options.repository.split('/')
    const d = this.createDeployment(owner, repo, body)
    for (const state of states) this.createStatus(owner, repo, d.id as number, { state, auto_inactive: false })
    return d.id as number
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    this.server = server
    this.port = (server.address() as { port: number }).port
    return this
  }

  async stop(): Promise<void> {
    const server = this.server
    if (!server) return
    this.server = undefined
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => resolve()))
  }

  // --- HTTP -----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const raw = Buffer.concat(chunks).toString('utf8')
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const method = (req.method ?? 'GET').toUpperCase()
    const record: RecordedRequest = {
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { ...req.headers },
      body: undefined,
      status: 0,
      response: undefined,
      violations: []
    }
    this.requests.push(record)
    let status: number
    let body: unknown
    const headers: Record<string, string> = {}
    let matched: SpecOperation | undefined
    try {
      ;({ status, body } = this.dispatch(req, url, method, raw, record, headers, op => (matched = op)))
    } catch (e) {
      if (e instanceof HttpError) {
        status = e.status
        body = e.body
      } else {
        status = 500
        body = { message: `fake GitHub bug: ${(e as Error).stack}` }
        record.violations.push(`the fake failed: ${(e as Error).message}`)
      }
    }
    record.status = status
    record.response = body
    if (matched) {
      const errors = this.api.validateResponse(matched, status, body)
      if (errors?.length) {
        for (const message of describeErrors(`response ${status}`, errors)) this.responseViolations.push({ request: `${method} ${url.pathname}`, message })
      }
    }
    const text = body === undefined ? '' : JSON.stringify(body)
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'x-github-api-version-selected': '2022-11-28',
      'x-github-request-id': createHash('sha1').update(String(this.requests.length)).digest('hex').slice(0, 16).toUpperCase(),
      'content-length': Buffer.byteLength(text),
      ...headers
    })
    res.end(text)
  }

  private dispatch(
    req: IncomingMessage,
    url: URL,
    method: string,
    raw: string,
    record: RecordedRequest,
    headers: Record<string, string>,
    matched: (op: SpecOperation) => void
  ): { status: number; body: unknown } {
    const found = this.api.find(method, url.pathname)
    if (!found) {
      record.violations.push(`${method} ${url.pathname} is not an operation of GitHub's REST API`)
      throw new HttpError(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' })
    }
    const { operation, params } = found
    record.operationId = operation.operationId
    matched(operation)
    if (!IMPLEMENTED.has(operation.operationId)) {
      record.violations.push(`${operation.operationId} is a real operation, but the fake does not implement it`)
      throw new HttpError(501, { message: `The fake GitHub does not implement ${operation.operationId}` })
    }

    // Authentication comes first on GitHub.
    const auth = req.headers.authorization ?? ''
    const token = /^(?:token|bearer)\s+(\S+)$/i.exec(auth)?.[1]
    if (!token) throw new HttpError(401, { message: 'Requires authentication', documentation_url: 'https://docs.github.com/rest', status: '401' })
    if (this.options.token && token !== this.options.token) {
      throw new HttpError(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' })
    }

    // Validation against the description. Violations are recorded even when the answer is a 403.
    const problems: string[] = []
    const values: Record<string, unknown> = {}
    for (const p of operation.parameters) {
      if (p.in === 'path') {
        const { value, errors } = this.api.validateParam(operation, p, params[p.name])
        problems.push(...describeErrors(`path parameter ${p.name}`, errors, '/value'))
        values[p.name] = value
      } else if (p.in === 'query') {
        const raw = url.searchParams.get(p.name)
        if (raw === null) {
          if (p.required) problems.push(`query parameter ${p.name} is required`)
          continue
        }
        const { value, errors } = this.api.validateParam(operation, p, raw)
        problems.push(...describeErrors(`query parameter ${p.name}`, errors, '/value'))
        values[p.name] = value
      }
    }
    if (this.options.rejectUnknownFields) {
      const known = new Set(operation.parameters.filter(p => p.in === 'query').map(p => p.name))
      for (const name of url.searchParams.keys()) if (!known.has(name)) problems.push(`query parameter ${name} is not declared for ${operation.operationId}`)
    }
    let body: unknown
    const bodySchema = this.api.requestBodySchema(operation)
    if (raw.length > 0) {
      const type = String(req.headers['content-type'] ?? '')
      if (!/^application\/json\b/i.test(type)) problems.push(`content-type is "${type}", not application/json`)
      try {
        body = JSON.parse(raw)
      } catch {
        record.violations.push('the body is not JSON')
        throw new HttpError(400, { message: 'Problems parsing JSON', documentation_url: 'https://docs.github.com/rest', status: '400' })
      }
      record.body = body
      if (!bodySchema) problems.push(`${operation.operationId} takes no body`)
    }
    if (bodySchema) {
      if (body === undefined) {
        if (operation.op.requestBody?.required) problems.push('the request body is required')
      } else {
        problems.push(...describeErrors('body', this.api.validateBody(operation, body)))
        const declared = bodySchema.properties as object | undefined
        const open = bodySchema.additionalProperties !== undefined && bodySchema.additionalProperties !== false
        if (this.options.rejectUnknownFields && declared && !open && body && typeof body === 'object' && !Array.isArray(body)) {
          for (const k of Object.keys(body)) if (!(k in declared)) problems.push(`body: unknown field "${k}"`)
        }
      }
    }
    // Documented, but not in the schema: "The maximum description length is 140 characters."
    if (operation.operationId === 'repos/create-deployment-status') {
      const d = (body as { description?: unknown } | undefined)?.description
      if (typeof d === 'string' && [...d].length > 140) problems.push('body/description: is too long (maximum is 140 characters)')
    }
    record.violations.push(...problems)

    const forbidden = this.options.forbid === 'all' || (this.options.forbid === 'writes' && method !== 'GET' && method !== 'HEAD')
    if (forbidden) {
      throw new HttpError(403, {
        message: 'Resource not accessible by integration',
        documentation_url: `${DOCS}/deployments#create-a-deployment`,
        status: '403'
      })
    }
    if (problems.length) {
      throw new HttpError(422, {
        message: `Invalid request.\n\n${problems.join('\n')}`,
        documentation_url: `${DOCS}/${operation.operationId.includes('status') ? 'statuses' : 'deployments'}`,
        status: '422'
      })
    }

    const owner = String(values.owner)
    const repo = String(values.repo)
    if (`${owner}/${repo}`.toLowerCase() !== this.options.repository.toLowerCase()) {
      throw new HttpError(404, { message: 'Not Found', documentation_url: `${DOCS}`, status: '404' })
    }
    const input = (body ?? {}) as Record<string, Json>
    const base = `${this.url}/repos/${owner}/${repo}`
    switch (operation.operationId) {
      case 'repos/create-deployment': {
        const d = this.createDeployment(owner, repo, input)
        headers.location = String(d.url)
        return { status: 201, body: d }
      }
      case 'repos/list-deployments': {
        let list = [...this.store.values()].filter(d => d.owner === owner && d.repo === repo).map(d => d.deployment)
        for (const key of ['sha', 'ref', 'task', 'environment'] as const) {
          const v = values[key]
          if (v !== undefined && v !== null) list = list.filter(d => d[key] === v)
        }
        list.sort((a, b) => (b.id as number) - (a.id as number))
        return { status: 200, body: this.page(list, values, `${base}/deployments`, url, headers) }
      }
      case 'repos/create-deployment-status': {
        const s = this.createStatus(owner, repo, values.deployment_id as number, input)
        headers.location = String(s.url)
        return { status: 201, body: s }
      }
      case 'repos/list-deployment-statuses': {
        const d = this.store.get(values.deployment_id as number)
        if (!d) throw new HttpError(404, { message: 'Not Found', documentation_url: `${DOCS}/statuses#list-deployment-statuses`, status: '404' })
        const list = [...d.statuses].reverse()
        return { status: 200, body: this.page(list, values, `${base}/deployments/${values.deployment_id}/statuses`, url, headers) }
      }
    }
    throw new Error(`unreachable: ${operation.operationId}`)
  }

  /** One page of a list, with GitHub's Link header; per_page is capped at 100 as GitHub does. */
  private page(list: Json[], values: Record<string, unknown>, base: string, url: URL, headers: Record<string, string>): Json[] {
    const perPage = Math.min(100, Math.max(1, (values.per_page as number | undefined) ?? 30))
    const page = Math.max(1, (values.page as number | undefined) ?? 1)
    const last = Math.max(1, Math.ceil(list.length / perPage))
    const link = (p: number) => {
      const u = new URL(base)
      for (const [k, v] of url.searchParams) u.searchParams.set(k, v)
      u.searchParams.set('per_page', String(perPage))
      u.searchParams.set('page', String(p))
      return u.toString()
    }
    const rels: string[] = []
    if (page < last) rels.push(`<${link(page + 1)}>; rel="next"`, `<${link(last)}>; rel="last"`)
    if (page > 1) rels.push(`<${link(1)}>; rel="first"`, `<${link(page - 1)}>; rel="prev"`)
    if (rels.length) headers.link = rels.join(', ')
    return list.slice((page - 1) * perPage, page * perPage)
  }

  // --- The model ------------------------------------------------------------------------------

  private apiBase(owner: string, repo: string): string {
    // Resource URLs point at the fake itself while it runs (as api.github.com's point at it).
    return `${this.server ? this.url : 'https://api.github.com'}/repos/${owner}/${repo}`
  }

  private createDeployment(owner: string, repo: string, input: Record<string, Json>): Record<string, Json> {
    const id = this.nextDeploymentId++
    const ref = String(input.ref)
    const environment = (input.environment as string | undefined) ?? 'production'
    const at = now()
    const deployment: Record<string, Json> = {
      url: `${this.apiBase(owner, repo)}/deployments/${id}`,
      id,
      node_id: nodeId('Deployment', id),
      task: (input.task as string | undefined) ?? 'deploy',
      original_environment: environment,
      environment,
      description: input.description === undefined ? '' : input.description,
      created_at: at,
      updated_at: at,
      statuses_url: `${this.apiBase(owner, repo)}/deployments/${id}/statuses`,
      repository_url: this.apiBase(owner, repo),
      creator: ACTOR,
      sha: /^[0-9a-f]{40}$/i.test(ref) ? ref.toLowerCase() : createHash('sha1').update(ref).digest('hex'),
      ref,
      payload: input.payload === undefined ? {} : input.payload,
      transient_environment: (input.transient_environment as boolean | undefined) ?? false,
      production_environment: (input.production_environment as boolean | undefined) ?? environment === 'production',
      performed_via_github_app: APP
    }
    this.store.set(id, { owner, repo, deployment, statuses: [] })
    return deployment
  }

  private createStatus(owner: string, repo: string, deploymentId: number, input: Record<string, Json>): Record<string, Json> {
    const d = this.store.get(deploymentId)
    if (!d || d.owner !== owner || d.repo !== repo) {
      throw new HttpError(404, { message: 'Not Found', documentation_url: `${DOCS}/statuses#create-a-deployment-status`, status: '404' })
    }
    const id = this.nextStatusId++
    const at = now()
    // "Setting log_url will automatically set target_url to the same value."
    const logUrl = (input.log_url as string | undefined) ?? (input.target_url as string | undefined) ?? ''
    const environment =
      (input.environment as string | undefined) ?? ((d.statuses.at(-1)?.environment as string | undefined) || (d.deployment.environment as string))
    const status: Record<string, Json> = {
      url: `${this.apiBase(owner, repo)}/deployments/${deploymentId}/statuses/${id}`,
      id,
      node_id: nodeId('DeploymentStatus', id),
      state: input.state as string,
      creator: ACTOR,
      description: (input.description as string | undefined) ?? '',
      environment,
      target_url: logUrl,
      created_at: at,
      updated_at: at,
      deployment_url: `${this.apiBase(owner, repo)}/deployments/${deploymentId}`,
      repository_url: this.apiBase(owner, repo),
      environment_url: (input.environment_url as string | undefined) ?? '',
      log_url: logUrl,
      performed_via_github_app: APP
    }
    d.statuses.push(status)
    d.deployment.updated_at = at
    // GitHub's auto_inactive (default true): a success marks earlier successful deployments of the
    // same environment inactive, unless they are transient or production ones.
    if (status.state === 'success' && input.auto_inactive !== false) {
      for (const other of this.store.values()) {
        const o = other.deployment
        if (o.id === deploymentId || (o.id as number) > deploymentId || o.environment !== environment) continue
        if (o.transient_environment || o.production_environment) continue
        if (other.statuses.at(-1)?.state !== 'success') continue
        this.createStatus(other.owner, other.repo, o.id as number, { state: 'inactive', auto_inactive: false })
      }
    }
    return status
  }
}

/** Starts a fake GitHub on a random loopback port; the caller stops it. */
export async function startFakeGithub(options: FakeGithubOptions = {}): Promise<FakeGithub> {
  return new FakeGithub(options).start()
}
