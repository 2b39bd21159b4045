import { execFileSync } from 'node:child_process'
import { hostname, userInfo } from 'node:os'
import type { ReleaseAuthor } from '../core/release.js'
import type { LockHolder } from '../host/lock.js'
import { runContextFromEnv, type RunContext } from '../reporting/deployments.js'

/** Who runs the command line: the local git user and commit, recorded in the ledger and the lock as a workflow run is. */

const GIT_TIMEOUT_MS = 3000

function git(cwd: string, ...args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd, timeout: GIT_TIMEOUT_MS, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined
  } catch {
    return undefined
  }
}

/** owner/repo of a remote URL (git@host:owner/repo.git, https://host/owner/repo), else undefined. */
export function repositoryOf(remote: string | undefined): string | undefined {
  const m = remote ? /[:/]([^/:]+\/[^/]+?)(?:\.git)?\/?$/.exec(remote) : null
  return m?.[1]
}

export function localIdentity(cwd: string, env: NodeJS.ProcessEnv): { runInfo: RunContext; runLabel: string; author: ReleaseAuthor; holder: LockHolder } {
  const name = git(cwd, 'config', 'user.name')
  const email = git(cwd, 'config', 'user.email')
  const commit = git(cwd, 'rev-parse', 'HEAD')
  const repository = env.GITHUB_REPOSITORY ?? repositoryOf(git(cwd, 'remote', 'get-url', 'origin'))
  const actor = name ? `${name}${email ? ` <${email}>` : ''}` : (env.USER ?? userInfo().username)
  const runLabel = `cli:${userInfo().username}@${hostname()}#${process.pid}`
  const runInfo = runContextFromEnv(env)
  return {
    runInfo,
    runLabel,
    // Another CI system's job page, when it says where it is (GitLab CI_JOB_URL).
    author: { repository, actor, commit, runUrl: env.CI_JOB_URL },
    holder: { run: runLabel, actor, repository: repository ?? 'local', since: new Date().toISOString() }
  }
}
