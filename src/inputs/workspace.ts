import { readFileSync, realpathSync } from 'node:fs'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { InputError, type InputSource } from './errors.js'

/**
 * The text of a file of the repository, for input `input`. Symbolic links are resolved and the
 * file must be inside the workspace: anything else (/proc/self/environ, ~/.ssh/...) would copy the
 * runner's own secrets into the container's configuration on the host.
 */
export function readWorkspaceFile(source: InputSource, input: string, path: string): string {
  const full = isAbsolute(path) ? path : resolve(source.workspace, path)
  let real: string
  let workspace: string
  try {
    real = realpathSync(full)
  } catch (e) {
    throw new InputError(input, `names ${path}, which cannot be read: ${(e as Error).message}`)
  }
  try {
    workspace = realpathSync(source.workspace)
  } catch (e) {
    throw new InputError(input, `cannot be checked: the workspace ${source.workspace} cannot be read (${(e as Error).message})`)
  }
  const rel = relative(workspace, real)
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new InputError(
      input,
      `must name a file inside the workspace (${workspace}), but ${path} is ${real === full ? '' : `a link to `}${real}: ` +
        'cutover reads only files of the repository'
    )
  }
  try {
    return readFileSync(real, 'utf8')
  } catch (e) {
    throw new InputError(input, `names ${path}, which cannot be read: ${(e as Error).message}`)
  }
}
