import { jest } from '@jest/globals'
import { bedInputs, get } from '../support/action.js'
import { expectSuccess, runAction, sendRequests } from '../support/strategy.js'
import { cleanupApp, freePort, image, localDocker, uniqueName } from '../support/testbed.js'

// metrics (issue #24): the proxy's Prometheus endpoint, published on loopback at the port the
// input gives, answers with the documented series, and they change across a deploy.
jest.setTimeout(180_000)

const app = uniqueName('metrics')
const proxy = `${app}-proxy`
const backend = `app_${app}`
let port: number
let metricsPort: number

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  return bedInputs(app, port, { 'proxy-type': 'haproxy', 'drain-timeout': '2s', metrics: String(metricsPort), ...overrides })
}

/** The value of one series (exact labels), or undefined. */
function seriesValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find(l => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

beforeAll(async () => {
  port = await freePort()
  metricsPort = await freePort()
})

afterAll(async () => {
  await cleanupApp(app, proxy)
})

describe('metrics', () => {
  it('the proxy publishes its metrics on 127.0.0.1 at the given port: per app and color, and the live release', async () => {
    const first = await runAction(inputs({ image: image('v1') }))
    expectSuccess(first)
    const published = (await localDocker().getContainer(proxy).inspect()).HostConfig.PortBindings as Record<string, { HostIp: string; HostPort: string }[]>
    expect(published['8405/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: String(metricsPort) }])

    expect(await sendRequests(port, 40)).toEqual({ '200 v1': 40 })
    const before = await get(`http://127.0.0.1:${metricsPort}/metrics`)
    expect(before.status).toBe(200)
    const blue2xx = seriesValue(before.body, `haproxy_server_http_responses_total{proxy="${backend}",server="blue",code="2xx"}`)
    expect(blue2xx).toBeGreaterThanOrEqual(40)
    expect(seriesValue(before.body, `haproxy_server_http_responses_total{proxy="${backend}",server="blue",code="5xx"}`)).toBe(0)
    expect(seriesValue(before.body, `haproxy_backend_http_requests_total{proxy="${backend}"}`)).toBeGreaterThanOrEqual(40)
    expect(seriesValue(before.body, `haproxy_server_response_time_average_seconds{proxy="${backend}",server="blue"}`)).toBeGreaterThanOrEqual(0)
    const release = await get(`http://127.0.0.1:${metricsPort}/release?app=${app}`)
    expect(release.status).toBe(200)
    expect(release.body).toContain('# TYPE cutover_release_info gauge')
    const blueRelease = /cutover_release_info\{app="[^"]+",color="blue",release="([^"]+)"\} 1/.exec(release.body)?.[1]
    expect(blueRelease).toBeTruthy()
    expect((await get(`http://127.0.0.1:${metricsPort}/release?app=no-such-app`)).status).toBe(404)

    // A deploy: the release series names green and another release; green's counters count.
    expectSuccess(await runAction(inputs({ image: image('v2') })))
    expect(await sendRequests(port, 30)).toEqual({ '200 v2': 30 })
    const after = await get(`http://127.0.0.1:${metricsPort}/metrics`)
    expect(seriesValue(after.body, `haproxy_server_http_responses_total{proxy="${backend}",server="green",code="2xx"}`)).toBeGreaterThanOrEqual(30)
    const next = (await get(`http://127.0.0.1:${metricsPort}/release?app=${app}`)).body
    const greenRelease = /cutover_release_info\{app="[^"]+",color="green",release="([^"]+)"\} 1/.exec(next)?.[1]
    expect(greenRelease).toBeTruthy()
    expect(greenRelease).not.toBe(blueRelease)
  })

  it('a run without metrics leaves the proxy publishing them; a bad address is refused before anything changes', async () => {
    expectSuccess(await runAction(inputs({ image: image('v1'), metrics: '' })))
    expect((await get(`http://127.0.0.1:${metricsPort}/release?app=${app}`)).body).toMatch(/color="blue"/)
    const refused = await runAction(inputs({ image: image('v2'), metrics: 'localhost:99999' }))
    expect(refused.code).not.toBe(0)
    expect(refused.errors.join('\n')).toMatch(/Input 'metrics' must be a port \(published on 127\.0\.0\.1/)
  })
})
