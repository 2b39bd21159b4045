import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { bedInputs, get, runAction, type ActionRun } from '../support/action.js'
import { cleanupApp, freePort, image, localDocker, testbed, uniqueName } from '../support/testbed.js'
import { tempDir } from '../support/temp-dirs.js'

const docker = localDocker()

function expectSuccess(run: ActionRun): void {
  if (run.code !== 0) throw new Error(`action failed (${run.code}):\n${run.stdout}\n${run.stderr}`)
}

describe('what users of docker run expect', () => {
  const app = uniqueName('settings')
  const extraNetwork = `${app}-extra`
  const volume = `${app}-data`
  let port: number

  beforeAll(async () => {
    port = await freePort()
    await docker.createNetwork({ Name: extraNetwork, Labels: { 'cutover.app': app } })
  })
  afterAll(async () => {
    await cleanupApp(app, `${app}-proxy`)
    await docker
      .getNetwork(extraNetwork)
      .remove()
      .catch(() => undefined)
    await docker
      .getVolume(volume)
      .remove()
      .catch(() => undefined)
  })

  it('applies env, env-file, volumes, networks, labels, limits, command and restart policy', async () => {
    const secret = 's3cr3t-value-for-test'
    // A host file of the app's own: host-level paths such as /etc are refused without allow-host-mounts (unit host-access).
    const hostFile = join(tempDir('cutover-bind-'), 'hostname')
    writeFileSync(hostFile, 'bound\n')
    const run = await runAction(
      bedInputs(app, port, {
        image: image('v1'),
        env: `GREETING=hello world\nAPI_TOKEN=${secret}\nSHARED=from-input`,
        'env-file': '__tests__/fixtures/app.env',
        volumes: `${volume}:/data\n${hostFile}:/host-hostname:ro`,
        networks: extraNetwork,
        labels: 'team=web\ntier=frontend',
        memory: '256m',
        cpus: '0.5',
        restart: 'on-failure:3',
        command: '/usr/bin/node /app/app.js --flag "two words"',
        'health-passes': '3',
        'health-status': '200'
      })
    )
    expectSuccess(run)
    expect(run.stdout).toMatch(/probe \d+ of \/health: HTTP 200: "ok" \(3\/3\)/)
    // env values are masked: the runner hides every registered secret.
    expect(run.stdout).toContain(`::add-mask::${secret}`)
    expect(run.stdout.split('\n').filter(l => l.includes(secret) && !l.startsWith('::add-mask::'))).toEqual([])

    const info = await docker.getContainer(`${app}-blue`).inspect()
    expect(info.Config.Env).toEqual(expect.arrayContaining(['GREETING=hello world', `API_TOKEN=${secret}`, 'FROM_FILE=file-value', 'SHARED=from-input']))
    expect(info.Config.Cmd).toEqual(['/usr/bin/node', '/app/app.js', '--flag', 'two words'])
    expect(info.Config.Labels).toMatchObject({ team: 'web', tier: 'frontend', 'cutover.app': app })
    expect(info.HostConfig.Memory).toBe(256 * 1024 * 1024)
    expect(info.HostConfig.NanoCpus).toBe(5e8)
    expect(info.HostConfig.RestartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: 3 })
    expect(info.Mounts.map(m => `${m.Type} ${m.Destination} ${m.RW}`).sort()).toEqual(['bind /host-hostname false', 'volume /data true'])
    expect(Object.keys(info.NetworkSettings.Networks).sort()).toEqual([`cutover-${app}`, extraNetwork].sort())
    expect((await get(`http://127.0.0.1:${port}/`)).body.trim()).toBe('v1')
  })

  it('waits for the image’s own Docker HEALTHCHECK as well as the HTTP probe', async () => {
    const run = await runAction(bedInputs(app, port, { image: image('v1-hc') }))
    expectSuccess(run)
    expect(run.stdout).toContain('Docker HEALTHCHECK: starting')
    expect(run.stdout).toContain('Docker HEALTHCHECK: healthy')
    const info = await docker.getContainer(`${app}-green`).inspect()
    expect(info.State.Health?.Status).toBe('healthy')
  })
})

describe('one proxy for several apps', () => {
  const web = uniqueName('web')
  const api = uniqueName('api')
  const proxy = `${web}-shared-proxy`
  // The nginx router (proxy-type haproxy has its own multi-app tests in haproxy.test.ts)
  const nginx = () => ({ 'proxy-type': 'nginx', 'proxy-image': testbed().CUTOVER_TEST_PROXY_IMAGE })
  let port: number

  beforeAll(async () => {
    port = await freePort()
  })
  afterAll(async () => {
    // The proxy goes with the first: api's network can be removed only once no proxy is attached.
    await cleanupApp(web, proxy)
    await cleanupApp(api)
  })

  it('routes by domain, and a deploy of one app leaves the other serving', async () => {
    const inputs = (app: string, domains: string, more: Record<string, string>) => bedInputs(app, port, { ...nginx(), 'proxy-name': proxy, domains, ...more })
    expectSuccess(await runAction(inputs(web, 'www.example.test example.test', { image: image('v1') })))
    expectSuccess(await runAction(inputs(api, 'api.example.test', { image: image('v2') })))
    const at = async (host: string) => (await get(`http://127.0.0.1:${port}/`, { host })).body.trim()
    expect(await at('www.example.test')).toBe('v1')
    expect(await at('example.test')).toBe('v1')
    expect(await at('api.example.test')).toBe('v2')

    expectSuccess(await runAction(inputs(api, 'api.example.test', { image: image('v3') })))
    expect(await at('api.example.test')).toBe('v3')
    expect(await at('www.example.test')).toBe('v1')
    // Both apps share the edge and the switch; each has its own network with them.
    const edge = await docker.getContainer(proxy).inspect()
    const sw = await docker.getContainer(`${proxy}-switch`).inspect()
    expect(Object.keys(sw.NetworkSettings.Networks)).toEqual(expect.arrayContaining([`cutover-${web}`, `cutover-${api}`, `${proxy}-net`]))
    expect(Object.keys(edge.NetworkSettings.Networks)).toEqual([`${proxy}-net`])
  })

  it('refuses a domain another app on the proxy serves, naming it, before anything changes', async () => {
    const thief = uniqueName('thief')
    try {
      const run = await runAction(
        bedInputs(thief, port, { ...nginx(), 'proxy-name': proxy, domains: 'shop.example.test API.example.test', image: image('v1') })
      )
      expect(run.code).toBe(1)
      expect(run.outputs.result).toBe('failed')
      expect(run.errors.join('\n')).toContain(`Input 'domains' claims API.example.test, which app ${api} already serves on the proxy ${proxy}`)
      expect(await docker.listContainers({ all: true, filters: { label: [`cutover.app=${thief}`] } })).toEqual([])
      expect((await get(`http://127.0.0.1:${port}/`, { host: 'api.example.test' })).body.trim()).toBe('v3')
    } finally {
      await cleanupApp(thief)
    }
  })

  it('says so plainly when the proxy exists with another port than proxy-port, and changes nothing', async () => {
    const other = await freePort()
    const run = await runAction(bedInputs(web, other, { ...nginx(), 'proxy-name': proxy, domains: 'www.example.test', image: image('v2') }))
    expect(run.code).toBe(1)
    expect(run.errors.join('\n')).toContain(`The proxy container ${proxy} already exists and publishes port ${port}, not ${other} as 'proxy-port' asks`)
    expect((await get(`http://127.0.0.1:${port}/`, { host: 'www.example.test' })).body.trim()).toBe('v1')
    const state = await docker
      .getContainer(`${web}-green`)
      .inspect()
      .catch(() => undefined)
    expect(state).toBeUndefined()
  })
})
