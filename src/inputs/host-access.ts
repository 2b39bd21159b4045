/**
 * One policy for host-level access (issue #22), for the `volumes` input and the compose file alike:
 * a container cutover starts never gets the host. Compose keys that grant it (privileged, host
 * namespaces, capabilities, devices, security options) are refused, whatever else is set: cutover
 * has no way to start such a container. Bind mounts of the host's root, of its system directories,
 * of Docker's or containerd's state and of the Docker socket (or a directory holding one of them)
 * give root on the host too: refused unless `allow-host-mounts: true` says the app needs one (a
 * monitoring agent reading /proc, a CI runner talking to Docker). A few read-only files every app
 * may want (the time zone, CA certificates) are not host access.
 */
import { posix } from 'node:path'
import type { Config } from '../core/config.js'
import { InputError } from './errors.js'

/** Compose keys that give a container host-level access, with what each grants. */
export const HOST_LEVEL_KEYS: Record<string, string> = {
  privileged: 'every device and capability of the host',
  network_mode: "the host's network stack (network_mode: host) or another container's, outside the proxy's network",
  pid: "the host's process table (pid: host)",
  ipc: "the host's shared memory (ipc: host)",
  uts: "the host's host name (uts: host)",
  userns_mode: "the host's user namespace (userns_mode: host)",
  cgroup: "the host's cgroup namespace (cgroup: host)",
  cgroup_parent: "a cgroup of the host's choosing",
  cap_add: 'kernel capabilities beyond the default set',
  devices: "the host's devices",
  device_cgroup_rules: "access to the host's devices",
  security_opt: 'changes to seccomp, AppArmor or SELinux confinement',
  sysctls: "kernel settings of the host's namespaces",
  volumes_from: "another container's mounts, which may be the host's"
}

/** Directories whose contents (or any part) give host-level access when mounted. */
const HOST_DIRS = [
  '/proc',
  '/sys',
  '/dev',
  '/boot',
  '/etc',
  '/root',
  '/usr',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/var/lib/docker',
  '/var/lib/containerd'
]
/** Sockets that give control of the host's containers; a directory that holds them gives it too. */
const HOST_SOCKETS = ['/var/run/docker.sock', '/run/docker.sock', '/run/containerd/containerd.sock', '/var/run/containerd/containerd.sock']
/** Single files an app may read without any host access. */
const HARMLESS_READ_ONLY = ['/etc/localtime', '/etc/timezone', '/etc/ssl/certs', '/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs']

/** Why a bind mount `source:target[:options]` gives host-level access; undefined when it does not (or is a named volume). */
export function hostLevelMount(bind: string): string | undefined {
  const [source, , options = ''] = bind.split(':')
  if (!source.startsWith('/')) return undefined
  const path = posix.normalize(source).replace(/\/+$/, '') || '/'
  const readOnly = options.split(',').includes('ro')
  if (readOnly && HARMLESS_READ_ONLY.includes(path)) return undefined
  if (path === '/') return "mounts the host's root directory"
  const under = (dir: string) => path === dir || path.startsWith(`${dir}/`)
  const socket = HOST_SOCKETS.find(s => under(s) || s.startsWith(`${path}/`))
  if (socket) return `mounts ${path === socket ? 'the' : `a directory holding the`} container engine socket ${socket} (control of every container on the host)`
  if (path.endsWith('.sock') && /docker|containerd|podman/.test(path)) return 'mounts a container engine socket (control of every container on the host)'
  const dir = HOST_DIRS.find(d => under(d) || d.startsWith(`${path}/`))
  if (dir) return `mounts ${path === dir ? '' : under(dir) ? 'part of ' : 'a directory holding '}the host's ${dir}`
  return undefined
}

/** The message for a refused mount: what it gives, and the two ways on. */
export function hostMountMessage(where: string, bind: string, why: string): string {
  return (
    `has the bind mount "${bind}"${where}, which ${why}: a container cutover starts gets no host-level access unless allow-host-mounts: true says the app needs it. ` +
    'Use a named volume or a path of its own (such as /srv/<app>) instead, or set allow-host-mounts: true.'
  )
}

/**
 * Every bind mount of the run (the web role's, each worker's, each shared service's) against the
 * policy, unless allow-host-mounts: the first that gives host-level access is an input error.
 */
export function checkHostMounts(config: Pick<Config, 'container' | 'roles' | 'shared' | 'compose'>, allow: boolean): void {
  if (allow) return
  const input = config.compose ? 'compose-file' : 'volumes'
  const mounts = [
    ...config.container.volumes.map(v => ({ v, where: config.container.composeService ? ` in "${config.container.composeService}"` : '' })),
    ...(config.roles?.workers ?? []).flatMap(w => (w.settings?.volumes ?? []).map(v => ({ v, where: ` in "${w.name}"` }))),
    ...(config.shared ?? []).flatMap(s => s.volumes.map(v => ({ v, where: ` in "${s.name}"` })))
  ]
  for (const { v, where } of mounts) {
    const why = hostLevelMount(v)
    if (why) throw new InputError(input, hostMountMessage(where, v, why))
  }
}
