/**
 * Image references, parsed in one place: `[registry/]repository[:tag][@digest]`.
 * Docker's rule for the registry part: the first path component is a registry host when it
 * contains a dot or a colon, or is `localhost`; otherwise the image is on Docker Hub.
 */
export interface ImageRef {
  /** Registry host (with port), `docker.io` for Docker Hub. */
  registry: string
  /** Repository path without registry, tag or digest. */
  repository: string
  tag?: string
  /** `sha256:...` */
  digest?: string
}

export function parseImageRef(image: string): ImageRef {
  let rest = image
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at >= 0) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
  }
  let tag: string | undefined
  const lastSlash = rest.lastIndexOf('/')
  const colon = rest.indexOf(':', lastSlash + 1)
  if (colon >= 0) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
  }
  const first = rest.split('/')[0]
  const hasRegistry = rest.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')
  return {
    registry: hasRegistry ? first : 'docker.io',
    repository: hasRegistry ? rest.slice(first.length + 1) : rest,
    tag,
    digest
  }
}

/** The registry host an image reference pulls from. */
export function registryHostOf(image: string): string {
  return parseImageRef(image).registry
}

/** The reference to pull: Docker pulls every tag of a repository when none is given. */
export function pullableRef(image: string): string {
  const ref = parseImageRef(image)
  return ref.tag || ref.digest ? image : `${image}:latest`
}

/** The tag (or the start of the digest) of an image, shown as its version. */
export function versionOf(image: string): string {
  const ref = parseImageRef(image)
  if (ref.digest) return ref.digest.slice(0, 19)
  return ref.tag ?? 'latest'
}

/** Whether registry credentials given for `serveraddress` apply to `image`'s registry. */
export function sameRegistry(serveraddress: string, image: string): boolean {
  const host = registryHostOf(image)
  const given = serveraddress.replace(/^https?:\/\//, '').replace(/\/.*$/, '')
  return given === host || (host === 'docker.io' && /docker\.io|index\.docker/.test(serveraddress))
}

export interface RegistryCredentials {
  /** The registry host the credentials are for; '' means "the registry of whatever image is pulled". */
  serveraddress: string
  username: string
  password: string
}

/** The credentials to send when pulling `image`: only those given for its registry. */
export function credentialsFor<T extends RegistryCredentials>(image: string, auth: T | undefined): T | undefined {
  if (!auth) return undefined
  if (auth.serveraddress === '') return { ...auth, serveraddress: registryHostOf(image) }
  return sameRegistry(auth.serveraddress, image) ? auth : undefined
}
