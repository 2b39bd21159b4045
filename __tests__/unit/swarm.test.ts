import type { Config } from '../../src/core/config.js'
import { LABEL } from '../../src/core/names.js'
import { ReleaseError } from '../../src/core/outcome.js'
import type { Release } from '../../src/core/release.js'
import type { ActivePlan } from '../../src/engine/color-set.js'
import { EngineContext } from '../../src/engine/context.js'
import { describeTasks, secretObjectName, SwarmColorSet } from '../../src/engine/swarm-color-set.js'
import type { SwarmProxyHealth } from '../../src/engine/swarm-ports.js'
import { Timeline } from '../../src/engine/timeline.js'
import { toDockerSpec } from '../../src/host/swarm-cluster.js'
import {
  liveLabels,
  mapValue,
  parseServersState,
  renderSwarmProxyConfig,
  routeMapTemplate,
  switchLine,
  upAddresses,
  verifyMapTemplate
} from '../../src/proxy/swarm-proxy-config.js'
import { testConfig } from '../support/engine-bed.js'
import { FakeClock, FakeHost, FakeLedger, FakeRouter, RecordingLog } from '../support/fakes.js'
import { inputParser } from '../support/inputs.js'
import { FakeSwarm } from '../support/swarm-fakes.js'
import { sshKeyPair } from '../support/keys.js'

const base: Record<string, string> = {
  app: 'web',
  host: 'manager.example.com',
  'ssh-private-key': sshKeyPair().private,
  'insecure-skip-host-key-check': 'true',
  image: 'ghcr.io/acme/web:1'
}
const { parse, errorOf } = inputParser(base)

describe('target: swarm inputs', () => {
  it('container by default; swarm with constraints and a proxy label', () => {
    expect(parse().swarm).toBeUndefined()
    expect(parse({ target: 'swarm' }).swarm).toEqual({ constraints: [], secrets: [] })
    expect(parse({ target: 'swarm', 'swarm-constraints': 'node.labels.zone==a\nnode.role != manager', 'swarm-proxy-label': 'cutover.proxy' }).swarm).toEqual({
      constraints: ['node.labels.zone==a', 'node.role != manager'],
      secrets: [],
      proxyLabel: 'cutover.proxy'
    })
  })

  it('swarm-secrets names variables of env or env-file, with target swarm only', () => {
    expect(parse({ target: 'swarm', env: 'API_TOKEN=s3cr3t-value\nPORT=80', 'swarm-secrets': 'API_TOKEN' }).swarm?.secrets).toEqual(['API_TOKEN'])
    expect(errorOf({ env: 'API_TOKEN=s3cr3t-value', 'swarm-secrets': 'API_TOKEN' })).toBe("Input 'swarm-secrets' only applies with target: swarm")
    const unknown = errorOf({ target: 'swarm', env: 'API_TOKEN=s3cr3t-value', 'swarm-secrets': 'DB_PASSWORD' })
    expect(unknown).toBe('Input \'swarm-secrets\' names "DB_PASSWORD", which neither env nor env-file sets: list the names of variables they set (API_TOKEN)')
    expect(unknown).not.toContain('s3cr3t')
    expect(errorOf({ target: 'swarm', env: 'A=1234', 'swarm-secrets': 'A\nA' })).toBe("Input 'swarm-secrets' names a variable twice")
  })

  it('refuses what a swarm does not carry, before anything is touched', () => {
    expect(errorOf({ target: 'kubernetes' })).toMatch(/^Input 'target' must be one of container, swarm/)
    expect(errorOf({ 'swarm-constraints': 'node.role==worker' })).toBe("Input 'swarm-constraints' only applies with target: swarm")
    expect(errorOf({ target: 'swarm', 'swarm-constraints': 'zone=a' })).toMatch(
      /^Input 'swarm-constraints' has "zone=a", which is not a Swarm placement constraint/
    )
    expect(errorOf({ target: 'swarm', 'swarm-proxy-label': 'a b' })).toMatch(/^Input 'swarm-proxy-label' must be a node label name/)
    expect(errorOf({ target: 'swarm', host: 'a.example.com\nb.example.com' })).toMatch(/^Input 'host' names several hosts: give the one manager node/)
    expect(errorOf({ target: 'swarm', 'proxy-type': 'nginx' })).toMatch(/^Input 'proxy-type' is nginx: the swarm proxy is HAProxy/)
    expect(errorOf({ target: 'swarm', volumes: 'data:/data' })).toMatch(/^Input 'volumes' is set: a volume is a node's own/)
    expect(errorOf({ target: 'swarm', 'canary-weight': '10' })).toMatch(/^Input 'canary-weight'.*HAProxy on Swarm.*\(target: swarm\)$/)
  })
})

describe('the swarm proxy files', () => {
  it('finds each color through tasks.<service> at run time and routes by one map entry', () => {
    const cfg = renderSwarmProxyConfig('web', { port: 3000, path: '/up', timeoutMs: 1, intervalMs: 1000, passes: 1 })
    expect(cfg).toContain('nameserver dns 127.0.0.11:53')
    expect(cfg).toContain('server-template task 12 tasks.web-blue:3000 resolvers swarm init-addr none check')
    expect(cfg).toContain('server-template task 12 tasks.web-green:3000 resolvers swarm init-addr none check')
    // A task whose connection fails leaves the rotation at once, so retries go to other tasks.
    expect(cfg.match(/tasks\.web-(blue|green):3000 .* observe layer4 error-limit 1 on-error mark-down$/gm)).toHaveLength(2)
    expect(cfg).toContain('http-check send meth GET uri /up')
    expect(cfg).toContain('use_backend %[str(app),map(/usr/local/etc/haproxy/route.map,be_none)]')
    expect(switchLine('green', 'tok', 'r1')).toBe(
      'clear map /usr/local/etc/haproxy/verify.map;add map /usr/local/etc/haproxy/verify.map tok r1;set map /usr/local/etc/haproxy/route.map app be_green'
    )
  })

  it('a proxy task Swarm starts renders the live route from the service labels the last switch set', () => {
    expect(routeMapTemplate()).toBe('{{ with index .Service.Labels "cutover.live-route" }}app {{ . }}{{ else }}app be_none{{ end }}\n')
    expect(verifyMapTemplate()).toContain('{{ with index .Service.Labels "cutover.live-verify" }}{{ . }}\n{{ end }}')
    expect(liveLabels('green', 'tok', 'r%201')).toEqual({ 'cutover.live-route': 'be_green', 'cutover.live-verify': 'tok r%201' })
  })

  it('reads the servers a proxy sees up and passing, and map entries', () => {
    const answer = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health
3 be_green 1 task1 10.0.2.7 2 4 1 1 5 6 3 4
3 be_green 2 task2 10.0.2.8 0 4 1 1 5 8 2 0
3 be_green 3 task3 10.0.2.9 2 4 1 1 0 1 0 0
3 be_green 4 task4 0.0.0.0 0 5 1 1 5 1 0 0
`
    expect(upAddresses(parseServersState(answer))).toEqual(['10.0.2.7'])
    expect(mapValue('0x55 app be_green\n', 'app')).toBe('be_green')
    expect(mapValue('', 'app')).toBeUndefined()
  })

  it("a color's service: dnsrr, host-mode ports only, all tasks replaced at once", () => {
    const spec = toDockerSpec({
      name: 'web-blue',
      image: 'i',
      labels: {},
      containerLabels: {},
      env: { A: '1' },
      replicas: 4,
      networks: ['n'],
      constraints: ['node.role==worker'],
      secrets: [{ secretId: 'sid', secret: 'web.r1.TOKEN', file: 'TOKEN' }]
    })
    expect(spec).toMatchObject({
      Mode: { Replicated: { Replicas: 4 } },
      EndpointSpec: { Mode: 'dnsrr', Ports: [] },
      UpdateConfig: { Parallelism: 0 },
      TaskTemplate: {
        ContainerSpec: { Env: ['A=1'], Secrets: [{ SecretID: 'sid', SecretName: 'web.r1.TOKEN', File: { Name: 'TOKEN', UID: '0', GID: '0', Mode: 0o444 } }] },
        Placement: { Constraints: ['node.role==worker'] },
        Networks: [{ Target: 'n' }]
      }
    })
    const proxy = toDockerSpec({
      name: 'p',
      image: 'h',
      labels: {},
      containerLabels: {},
      env: {},
      networks: [],
      constraints: [],
      ports: [{ target: 8080, published: 80 }]
    })
    expect(proxy).toMatchObject({
      Mode: { Global: {} },
      EndpointSpec: { Mode: 'dnsrr', Ports: [{ TargetPort: 8080, PublishedPort: 80, PublishMode: 'host' }] }
    })
  })
})

function setUp(config: Partial<Config> = {}, secrets: string[] = []) {
  const clock = new FakeClock()
  const host = new FakeHost(clock)
  const log = new RecordingLog()
  const swarm = new FakeSwarm()
  let up: (color: string) => string[] = () => []
  const health: SwarmProxyHealth = {
    serversUp: async color => ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map(proxy => ({ proxy, up: up(color) }))
  }
  const ctx = new EngineContext({
    config: testConfig({ swarm: { constraints: [], secrets: [] }, ...config }),
    host,
    router: new FakeRouter(host),
    ledger: new FakeLedger(),
    log,
    timeline: new Timeline(log, () => clock.now()),
    run: 'acme/web#1',
    author: { actor: 'alice' },
    clock
  })
  const colors = new SwarmColorSet(ctx, swarm, health, { constraints: ['node.labels.zone==a'], secrets })
  return { swarm, colors, clock, log, setUp: (f: typeof up) => (up = f) }
}

const release: Release = {
  id: 'r2',
  instance: 'r2',
  app: 'web',
  color: 'green',
  image: 'web:2',
  configHash: 'h',
  kind: 'deploy',
  liveSince: '',
  by: { actor: 'a' }
}
const live: Release = { ...release, id: 'r1', instance: 'r1', color: 'blue', image: 'web:1' }
const plan: ActivePlan = { kind: 'start-new', color: 'green', image: 'web:2', replicas: 4, why: 'deploy' }

describe('SwarmColorSet', () => {
  it('boots a color as a service and gates on every task running and up in every proxy', async () => {
    const { swarm, colors, setUp: proxies } = setUp()
    await colors.boot(plan, release)
    expect(swarm.calls).toEqual(['create web-green'])
    expect(swarm.services.get('web-green')!.spec).toMatchObject({ replicas: 4, networks: ['cutover-web'], constraints: ['node.labels.zone==a'] })
    swarm.run('web-green', 4)
    proxies(() => swarm.taskList.flatMap(t => t.addresses))
    await expect(colors.gate(plan, live)).resolves.toBeUndefined()
    expect((await colors.inspect())[1]).toMatchObject({ color: 'green', exists: true, running: true, replicas: 4, releaseId: 'r2' })
  })

  it('fails the gate within health-timeout, saying which tasks run where and what is still live', async () => {
    const { swarm, colors, clock } = setUp()
    await colors.boot(plan, release)
    swarm.run('web-green', 2)
    swarm.run('web-green', 1, 'failed', 'task: non-zero exit (1)')
    const started = clock.now()
    const e = await colors.gate(plan, live).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(ReleaseError)
    expect((e as ReleaseError).failure.reason).toMatch(
      /^web-green \(web:2\) did not become healthy within 10 s: 2 of 4 task\(s\) running \(10\.0\.0\.1: running, failed; 10\.0\.0\.2: running\); last task error: task: non-zero exit \(1\)\. blue \(web:1\) is still live\.$/
    )
    expect(clock.now() - started).toBeGreaterThanOrEqual(10_000)
    expect(clock.now() - started).toBeLessThan(12_000)
  })

  it('waits while the proxies do not yet see every task healthy', async () => {
    const { swarm, colors } = setUp()
    await colors.boot(plan, release)
    swarm.run('web-green', 4)
    const e = await colors.gate(plan, live).catch((x: ReleaseError) => x)
    expect((e as ReleaseError).failure.reason).toMatch(/the proxy on 10\.0\.0\.1 sees 0 of 4 task\(s\) healthy at \/health/)
  })

  it('a failed release rolls an updated standby back to its spec, and removes a service it created', async () => {
    const { swarm, colors } = setUp()
    await swarm.create({
      name: 'web-green',
      image: 'web:0',
      labels: { [LABEL.release]: 'r0' },
      containerLabels: {},
      env: {},
      replicas: 2,
      networks: [],
      constraints: []
    })
    await colors.boot(plan, release)
    await colors.restore(plan)
    expect(swarm.calls).toEqual(['create web-green', 'update web-green', 'rollback web-green'])
    expect(swarm.services.get('web-green')!.spec.image).toBe('web:0')
    const fresh = setUp()
    await fresh.colors.boot(plan, release)
    await fresh.colors.restore(plan)
    expect(fresh.swarm.calls).toEqual(['create web-green', 'remove web-green'])
  })

  it('keep-previous stopped scales the previous color to 0 after the drain', async () => {
    const { swarm, colors, clock } = setUp({ keepPrevious: 'stopped' })
    await swarm.create({ name: 'web-blue', image: 'web:1', labels: {}, containerLabels: {}, env: {}, replicas: 4, networks: [], constraints: [] })
    const started = clock.now()
    expect(await colors.keepPrevious(live, 'blue')).toEqual({ color: 'blue', image: 'web:1', state: 'stopped' })
    expect(clock.now() - started).toBe(30_000)
    expect(swarm.calls).toContain('scale web-blue 0')
  })

  it("swarm-secrets: the release's own secrets, mounted as files with <NAME>_FILE, and gone once no service uses them", async () => {
    const env = { API_TOKEN: 's3cr3t-value', PORT: '80' }
    const { swarm, colors, log } = setUp({ container: { ...testConfig().container, env } }, ['API_TOKEN'])
    await colors.boot(plan, release)
    expect(swarm.calls).toEqual(['secret web.r2.API_TOKEN', 'create web-green'])
    expect([...swarm.secrets.values()][0]).toMatchObject({ content: 's3cr3t-value', labels: { [LABEL.app]: 'web', [LABEL.release]: 'r2' } })
    const spec = swarm.services.get('web-green')!.spec
    expect(spec.env).toEqual({ PORT: '80', API_TOKEN_FILE: '/run/secrets/API_TOKEN' })
    expect(spec.secrets).toEqual([{ secretId: 'id-web.r2.API_TOKEN', secret: 'web.r2.API_TOKEN', file: 'API_TOKEN' }])
    expect(log.lines.join('\n')).not.toContain('s3cr3t')
    // The previous release's secret stays while its service (the standby) mounts it; an orphan goes.
    await swarm.createSecret('web.r1.API_TOKEN', 'old', { [LABEL.app]: 'web' })
    await swarm.create({ ...spec, name: 'web-blue', secrets: [{ secretId: 'id-web.r1.API_TOKEN', secret: 'web.r1.API_TOKEN', file: 'API_TOKEN' }] })
    await swarm.createSecret('web.r0.API_TOKEN', 'older', { [LABEL.app]: 'web' })
    await colors.keepPrevious(live, 'blue')
    expect([...swarm.secrets.values()].map(s => s.name).sort()).toEqual(['web.r1.API_TOKEN', 'web.r2.API_TOKEN'])
    expect(swarm.calls).toContain('remove secret web.r0.API_TOKEN')
  })

  it("names a secret within Swarm's 64 characters and alphabet", () => {
    expect(secretObjectName('web', 'mxagbku7-076ef1', 'API_TOKEN')).toBe('web.mxagbku7-076ef1.API_TOKEN')
    const long = secretObjectName('a'.repeat(60), 'mxagbku7-076ef1', 'TRAILING_')
    expect(long).toHaveLength(64)
    expect(long).toMatch(/^a+\.mxagbku7-076ef1\.[0-9a-f]{8}$/)
  })

  it('describes tasks per node with the last error', () => {
    expect(describeTasks([], 2)).toBe('0 of 2 task(s) running')
  })
})
