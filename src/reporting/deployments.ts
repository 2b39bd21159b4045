import type { getOctokit } from '@actions/github'
import type { Log } from '../core/log.js'

type Octokit = ReturnType<typeof getOctokit>
export type DeploymentState = 'in_progress' | 'success' | 'failure' | 'error' | 'inactive'

export interface RunContext {
  /** owner/repo */
  repository?: string
  sha?: string
  serverUrl: string
  runId?: string
  runAttempt?: string
}

export function runContextFromEnv(env: NodeJS.ProcessEnv = process.env): RunContext {
  return {
    repository: env.GITHUB_REPOSITORY,
    sha: env.GITHUB_SHA,
    serverUrl: env.GITHUB_SERVER_URL ?? 'https://github.com',
    runId: env.GITHUB_RUN_ID,
    runAttempt: env.GITHUB_RUN_ATTEMPT
  }
}

export function logUrlOf(ctx: RunContext): string | undefined {
  if (!ctx.repository || !ctx.runId) return undefined
  const attempt = ctx.runAttempt && ctx.runAttempt !== '1' ? `/attempts/${ctx.runAttempt}` : ''
  return `${ctx.serverUrl}/${ctx.repository}/actions/runs/${ctx.runId}${attempt}`
}

/** promote manual: the environment a preview is recorded in, so `environment` keeps showing what serves it. */
export function previewEnvironment(environment: string): string {
  return `${environment}-preview`
}

function clip(text: string, max = 140): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…'
}

/** The app a deployment was made for, from its payload (an object, or the same as a JSON string). */
function appOf(payload: unknown): string | undefined {
  let p = payload
  if (typeof p === 'string') {
    try {
      p = JSON.parse(p)
    } catch {
      return undefined
    }
  }
  const app = p && typeof p === 'object' ? (p as { app?: unknown }).app : undefined
  return typeof app === 'string' ? app : undefined
}

function statusOf(e: unknown): number | undefined {
  return (e as { status?: number }).status
}

export interface DeploymentRequest {
  app: string
  image: string
  environment: string
  description: string
  environmentUrl?: string
  /** The commit deployed, when it is not the run's own (a rollback restores an earlier release's commit). */
  ref?: string
  /** An environment that goes away (a preview's): GitHub's transient_environment. */
  transient?: boolean
}

/**
 * A GitHub deployment for this run and its statuses. Problems with the API never stop the
 * deploy itself: they become warnings that say what to change (usually a permission).
 */
export class GithubDeployment {
  id?: number
  private disabled = false
  private client?: Promise<Octokit>

  private constructor(
    private readonly token: string,
    private readonly owner: string,
    private readonly repo: string,
    private readonly ctx: RunContext,
    private readonly request: DeploymentRequest,
    private readonly log: Log
  ) {}

  /**
   * Octokit (with its HTTP client) is loaded by the first call to GitHub: a run that records no
   * deployment never parses it (issue #25). It reads GITHUB_API_URL when loaded, so GitHub
   * Enterprise Server works as it is.
   */
  private octokit(): Promise<Octokit> {
    this.client ??= import('@actions/github').then(github => github.getOctokit(this.token))
    return this.client
  }

  static forRun(token: string, ctx: RunContext, request: DeploymentRequest, log: Log): GithubDeployment | undefined {
    if (!token) {
      log.warning('No github-token was given, so no GitHub deployment is recorded (set deployments: false to silence this).')
      return undefined
    }
    if (!ctx.repository || !ctx.sha) {
      log.info('GITHUB_REPOSITORY or GITHUB_SHA is not set (not running in GitHub Actions?): no GitHub deployment is recorded.')
      return undefined
    }
    const [owner, repo] = ctx.repository.split('/')
    return new GithubDeployment(token, owner, repo, ctx, request, log)
  }

  private warn(what: string, e: unknown): void {
    const status = statusOf(e)
    const hint =
      status === 403 || status === 404
        ? " The token cannot write deployments: add 'permissions: deployments: write' to the job (or set deployments: false)."
        : ''
    this.log.warning(`Could not ${what} on GitHub (${status ?? 'no answer'}: ${(e as Error).message}).${hint} The deploy goes on.`)
  }

  async create(): Promise<void> {
    try {
      const res = await this.createAt(this.request.ref ?? this.ctx.sha!).catch(e => {
        // The restored release's commit may be unknown here (another repository, a rewritten history).
        if (this.request.ref && this.request.ref !== this.ctx.sha && statusOf(e) === 422) {
          this.log.info(`GitHub does not know commit ${this.request.ref}; recording the deployment at this run's commit instead`)
          return this.createAt(this.ctx.sha!)
        }
        throw e
      })
      if (res.status === 201 && 'id' in res.data) {
        this.id = res.data.id
        this.log.info(`GitHub deployment ${this.id} created for ${this.request.environment}`)
      } else {
        this.disabled = true
        this.log.warning(`GitHub did not create a deployment (${res.status}: ${'message' in res.data ? res.data.message : ''}).`)
      }
    } catch (e) {
      this.disabled = true
      this.warn('create a deployment', e)
    }
  }

  private async createAt(ref: string) {
    return (await this.octokit()).rest.repos.createDeployment({
      owner: this.owner,
      repo: this.repo,
      ref,
      environment: this.request.environment,
      auto_merge: false,
      required_contexts: [],
      payload: { app: this.request.app, image: this.request.image },
      description: clip(this.request.description),
      production_environment: /^prod(uction)?$/i.test(this.request.environment),
      transient_environment: this.request.transient ?? false
    })
  }

  async setStatus(state: DeploymentState, description: string, environmentUrl?: string): Promise<void> {
    if (this.disabled || this.id === undefined) return
    try {
      await (
        await this.octokit()
      ).rest.repos.createDeploymentStatus({
        owner: this.owner,
        repo: this.repo,
        deployment_id: this.id,
        state,
        description: clip(description),
        log_url: logUrlOf(this.ctx),
        environment_url: state === 'success' ? environmentUrl : undefined,
        // cutover marks superseded deployments itself, for this app only.
        auto_inactive: false
      })
    } catch (e) {
      this.warn(`set the deployment status to ${state}`, e)
    }
  }

  /** Marks earlier successful deployments of this app in the environment as inactive. */
  async retireSuperseded(): Promise<number> {
    if (this.disabled || this.id === undefined) return 0
    const id = this.id
    return this.retireIn(this.request.environment, d => d < id, `Superseded by deployment ${id}`)
  }

  /**
   * Marks every successful deployment cutover made for `app` in `environment` inactive: a preview's
   * (<environment>-preview) once it was promoted or discarded, so no deployment says a preview
   * waits when none does; and all of an app's once mode remove took it off the host.
   */
  static async retireEnvironment(token: string, ctx: RunContext, app: string, environment: string, why: string, log: Log): Promise<number> {
    if (!token || !ctx.repository || !ctx.sha) return 0
    const [owner, repo] = ctx.repository.split('/')
    const previews = new GithubDeployment(token, owner, repo, ctx, { app, image: '', environment, description: '' }, log)
    return previews.retireIn(environment, () => true, why)
  }

  /** Marks this app's successful deployments in `environment` (those `which` picks by id) inactive. */
  private async retireIn(environment: string, which: (id: number) => boolean, description: string): Promise<number> {
    let retired = 0
    try {
      const { data: deployments } = await (
        await this.octokit()
      ).rest.repos.listDeployments({
        owner: this.owner,
        repo: this.repo,
        environment,
        per_page: 30
      })
      for (const d of deployments) {
        // Only earlier deployments, and only ones cutover made for this app: another app sharing
        // the environment, or another tool's deployment (no app in its payload), is left alone.
        if (!which(d.id)) continue
        if (appOf(d.payload) !== this.request.app) continue
        const { data: statuses } = await (
          await this.octokit()
        ).rest.repos.listDeploymentStatuses({
          owner: this.owner,
          repo: this.repo,
          deployment_id: d.id,
          per_page: 1
        })
        if (statuses[0]?.state !== 'success') continue
        await (
          await this.octokit()
        ).rest.repos.createDeploymentStatus({
          owner: this.owner,
          repo: this.repo,
          deployment_id: d.id,
          state: 'inactive',
          description: clip(description)
        })
        retired++
      }
    } catch (e) {
      this.warn('mark superseded deployments inactive', e)
    }
    return retired
  }
}
