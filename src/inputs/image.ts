import { isAbsolute, resolve } from 'node:path'
import type { Mode, RegistryAuth } from '../core/config.js'
import { registryHostOf } from '../core/image-ref.js'
import { checkHost } from './connection.js'
import { InputError, type InputSource } from './errors.js'
import { readImageArchive, type ImageArchive } from './image-archive.js'
import type { Reader } from './reader.js'

/** The image inputs: image, image-archive, to-image, to-release and the registry's credentials. */

export function parseImage(input: string, value: string): string {
  // repository[:tag][@digest], lower-case repository path as Docker requires
  if (!/^[a-z0-9]+(?:[._\-/:a-z0-9]*[a-z0-9])?(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/.test(value)) {
    throw new InputError(input, `is not a valid image reference: "${value}"`)
  }
  return value
}

/** A registry host name as the credentials are given for: host[:port], optionally a URL. */
export function parseRegistry(value: string): string {
  const m = /^(?:https?:\/\/)?(\[[0-9a-fA-F:]+\]|[^/:\s]+)(?::(\d{1,5}))?(?:\/\S*)?$/.exec(value)
  const host = m?.[1]
  const bad = () => new InputError('registry', `must be a registry host such as ghcr.io or registry.example.com:5000, not ${JSON.stringify(value)}`)
  if (!m || !host) throw bad()
  if (!host.startsWith('[')) {
    try {
      checkHost('registry', host)
    } catch {
      throw bad()
    }
  }
  if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) throw bad()
  return value
}

/** A `docker save` archive on the runner to deploy without a registry; its tags say which image it holds. */
export function parseImageArchive(source: InputSource, path: string, mode: Mode, image: string | undefined): ImageArchive | undefined {
  if (!path) return undefined
  if (mode !== 'deploy') throw new InputError('image-archive', `only applies to mode deploy, not ${mode} (a rollback uses the copy already on the host)`)
  const full = isAbsolute(path) ? path : resolve(source.workspace, path)
  let archive: ImageArchive
  try {
    archive = readImageArchive(full)
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message
    throw new InputError('image-archive', `names ${path}, which ${why}`)
  }
  if (image) {
    if (!archive.tags.includes(image)) {
      throw new InputError('image-archive', `holds ${archive.tags.join(', ') || 'no tagged image'}, not '${image}' as 'image' says`)
    }
    return archive
  }
  if (archive.tags.length !== 1) {
    throw new InputError(
      'image-archive',
      archive.tags.length
        ? `holds several images (${archive.tags.join(', ')}): set 'image' to the one to deploy`
        : "holds no tagged image: save it by name (docker save NAME:TAG), or set 'image'"
    )
  }
  parseImage('image-archive', archive.tags[0])
  return archive
}

/** registry-username, registry-password and registry: credentials for `image` (or `imageForAuth`'s registry). */
export function parseRegistryAuth(r: Reader, imageForAuth: string | undefined): RegistryAuth | undefined {
  const registryUser = r.str('registry-username')
  const registryPassword = r.secret('registry-password')
  if (!registryUser && !registryPassword) return undefined
  if (!registryUser) throw new InputError('registry-username', "is required when 'registry-password' is set")
  if (!registryPassword) throw new InputError('registry-password', "is required when 'registry-username' is set")
  // Without 'registry', the credentials are for the registry of the image deployed; a
  // rollback without an image uses them for the app image it pulls ('' = that one).
  const registryValue = r.str('registry')
  const serveraddress = registryValue ? parseRegistry(registryValue) : imageForAuth ? registryHostOf(imageForAuth) : ''
  return { serveraddress, username: registryUser, password: registryPassword }
}

/** to-image and to-release: a rollback's target. */
export function parseRollbackTarget(r: Reader, mode: Mode): { toImage?: string; toRelease?: number } {
  const toImageValue = r.str('to-image')
  const toImage = toImageValue ? parseImage('to-image', toImageValue) : undefined
  const toRelease = r.str('to-release') ? r.int('to-release', 1, 1, 9) : undefined
  if (toRelease !== undefined && toImage) throw new InputError('to-release', "cannot be combined with 'to-image': give one rollback target")
  if ((toRelease !== undefined || toImage) && mode !== 'rollback') {
    throw new InputError(toImage ? 'to-image' : 'to-release', `only applies to mode rollback, not ${mode}`)
  }
  return { toImage, toRelease }
}
