/** One policy for host-level access (issue #22): the volumes input and the compose file alike. */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { hostLevelMount, HOST_LEVEL_KEYS } from '../../src/inputs/host-access.js'
import { InputError, parseInputs } from '../../src/inputs/parse.js'
import { sshKeyPair } from '../support/keys.js'
import { tempDir } from '../support/temp-dirs.js'

const key = sshKeyPair().private

function parse(inputs: Record<string, string>, workspace = tmpdir()) {
  const values: Record<string, string> = {
    app: 'web',
    host: 'h.example.com',
    'ssh-private-key': key,
    'insecure-skip-host-key-check': 'true',
    image: 'registry.test/web:1',
    ...inputs
  }
  return parseInputs({ get: n => values[n] ?? '', mask: () => undefined, workspace })
}

function errorOf(inputs: Record<string, string>, workspace?: string): string {
  try {
    parse(inputs, workspace)
  } catch (e) {
    expect(e).toBeInstanceOf(InputError)
    return (e as Error).message
  }
  throw new Error('expected an InputError')
}

function composeWorkspace(yaml: string): string {
  const dir = tempDir('cutover-host-access-')
  writeFileSync(join(dir, 'compose.yml'), yaml)
  return dir
}

describe('bind mounts that give host-level access', () => {
  it.each([
    ['/:/host', "mounts the host's root directory"],
    ['/:/host:ro', "mounts the host's root directory"],
    ['//:/host', "mounts the host's root directory"],
    ['/var/run/docker.sock:/var/run/docker.sock', 'mounts the container engine socket /var/run/docker.sock'],
    ['/run/docker.sock:/d.sock:ro', 'mounts the container engine socket /run/docker.sock'],
    ['/var/run:/hostrun', 'mounts a directory holding the container engine socket /var/run/docker.sock'],
    ['/var:/hostvar', 'mounts a directory holding the container engine socket /var/run/docker.sock'],
    ['/srv/podman/podman.sock:/p.sock', 'mounts a container engine socket'],
    ['/etc:/hostetc:ro', "mounts the host's /etc"],
    ['/etc/passwd:/etc/passwd:ro', "mounts part of the host's /etc"],
    ['/proc:/hostproc', "mounts the host's /proc"],
    ['/sys/fs/cgroup:/cg', "mounts part of the host's /sys"],
    ['/dev/sda:/disk', "mounts part of the host's /dev"],
    ['/var/lib/docker:/d', "mounts the host's /var/lib/docker"],
    ['/root/.ssh:/keys', "mounts part of the host's /root"],
    ['/usr/../etc:/x', "mounts the host's /etc"]
  ])('%s: %s', (bind, why) => {
    expect(hostLevelMount(bind)).toContain(why)
  })

  it.each([
    '/srv/web/uploads:/app/uploads',
    '/data:/data',
    '/home/deploy/web:/web',
    'web_data:/data',
    '/etc/localtime:/etc/localtime:ro',
    '/etc/ssl/certs:/etc/ssl/certs:ro',
    '/tmp/x:/x'
  ])('%s is not host access', bind => expect(hostLevelMount(bind)).toBeUndefined())

  it('/etc/localtime writable is host access (a container could change the host clock zone)', () => {
    expect(hostLevelMount('/etc/localtime:/etc/localtime')).toContain("part of the host's /etc")
  })
})

describe('one policy for the volumes input and the compose file', () => {
  it('the volumes input: refused by name, with the way on', () => {
    expect(errorOf({ volumes: '/srv/web:/data\n/:/host' })).toBe(
      `Input 'volumes' has the bind mount "/:/host", which mounts the host's root directory: a container cutover starts gets no host-level access unless allow-host-mounts: true says the app needs it. Use a named volume or a path of its own (such as /srv/<app>) instead, or set allow-host-mounts: true.`
    )
  })

  it('allow-host-mounts: true lets them through', () => {
    expect(parse({ volumes: '/var/run/docker.sock:/var/run/docker.sock', 'allow-host-mounts': 'true' }).container.volumes).toEqual([
      '/var/run/docker.sock:/var/run/docker.sock'
    ])
  })

  const file = (service: string) => `services:\n  web:\n    image: registry.test/web:1\n${service}`

  it('a compose volume /:/host is refused like the same line in volumes (the finding of issue #22)', () => {
    const ws = composeWorkspace(file('    volumes:\n      - /:/host\n'))
    expect(errorOf({ 'compose-file': 'compose.yml', 'compose-service': 'web', image: '' }, ws)).toMatch(
      /^Input 'compose-file' has the bind mount "\/:\/host" in "web", which mounts the host's root directory/
    )
  })

  it("a compose worker's and a shared service's long-syntax binds are checked too", () => {
    const worker = composeWorkspace(
      `${file('')}  helper:\n    image: registry.test/web:1\n    command: bin/helper\n    volumes:\n      - type: bind\n        source: /var/run/docker.sock\n        target: /d.sock\n`
    )
    expect(errorOf({ 'compose-file': 'compose.yml', 'compose-service': 'web', image: '' }, worker)).toContain('"/var/run/docker.sock:/d.sock" in "helper"')
    const shared = composeWorkspace(`${file('')}  db:\n    image: registry.test/db:16\n    volumes:\n      - /etc:/hostetc\n`)
    expect(errorOf({ 'compose-file': 'compose.yml', 'compose-service': 'web', image: '', 'compose-shared-services': 'db' }, shared)).toContain(
      `"/etc:/hostetc" in "db", which mounts the host's /etc`
    )
  })

  it.each(Object.keys(HOST_LEVEL_KEYS))('compose key %s is refused saying what it grants, even with allow-host-mounts', k => {
    const ws = composeWorkspace(
      file(`    ${k}: ${k === 'privileged' ? 'true' : k.endsWith('s') || k === 'cap_add' || k === 'volumes_from' ? '[x]' : 'host'}\n`)
    )
    const message = errorOf({ 'compose-file': 'compose.yml', 'compose-service': 'web', image: '', 'allow-host-mounts': 'true' }, ws)
    expect(message).toBe(
      `Input 'compose-file' uses "${k}" in service "web", which gives the container ${HOST_LEVEL_KEYS[k]}: cutover starts no container with host-level access (docs/security.md "Host-level access"); run such a service outside cutover`
    )
  })
})
