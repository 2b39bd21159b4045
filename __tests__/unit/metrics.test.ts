import { proxyCapabilityProblem } from '../../src/proxy/capabilities.js'
import { HAPROXY_CONF_DIR, releaseLabels, renderBaseConfig, RELEASES_MAP } from '../../src/proxy/haproxy-config.js'
import { withRelease } from '../../src/proxy/haproxy-metrics.js'
import { inputParser } from '../support/inputs.js'
import { sshKeyPair } from '../support/keys.js'

const { parse, errorOf } = inputParser({
  app: 'web',
  host: 'deploy.example.com',
  'ssh-private-key': sshKeyPair().private,
  'insecure-skip-host-key-check': 'true',
  image: 'ghcr.io/acme/web:1'
})

describe('input metrics', () => {
  it('a port is published on loopback only; an address is taken as given; empty or off leaves the proxy as it is', () => {
    expect(parse({ metrics: '9101' }).proxy.metrics).toEqual({ host: '127.0.0.1', port: 9101 })
    expect(parse({ metrics: '10.0.0.5:9101' }).proxy.metrics).toEqual({ host: '10.0.0.5', port: 9101 })
    expect(parse({ metrics: '[::1]:9101' }).proxy.metrics).toEqual({ host: '::1', port: 9101 })
    expect(parse({}).proxy.metrics).toBeUndefined()
    expect(parse({ metrics: 'off' }).proxy.metrics).toBeUndefined()
  })

  it.each(['localhost:9101', '9101x', '0', '70000', 'http://127.0.0.1:9101'])('refuses %s', value => {
    expect(errorOf({ metrics: value })).toMatch(/^Input 'metrics' must be a port \(published on 127\.0\.0\.1, e\.g\. 9101\) or an IP address and a port/)
  })

  it('needs the HAProxy proxy', () => {
    expect(errorOf({ metrics: '9101', 'proxy-type': 'nginx' })).toMatch(
      /^Input 'metrics' is 127\.0\.0\.1:9101, which needs response counters, which the nginx router does not have/
    )
    expect(
      proxyCapabilityProblem({ mode: 'deploy', strategy: { replicas: 1 }, proxy: { type: 'haproxy', metrics: { host: '127.0.0.1', port: 9101 } } })
    ).toBeUndefined()
  })
})

describe('the metrics frontend', () => {
  it('is declared only for a proxy that publishes it', () => {
    expect(renderBaseConfig(30, 'p')).not.toContain('cutover-metrics')
    const base = renderBaseConfig(30, 'p', { metrics: true })
    expect(base).toContain('frontend cutover-metrics\n  bind :8405\n  http-request use-service prometheus-exporter if { path /metrics }')
    expect(base).toContain(`map(${HAPROXY_CONF_DIR}/${RELEASES_MAP})`)
  })

  it("the releases map keeps one line per app, replaced by the app's next release", () => {
    let text = withRelease(undefined, 'web', releaseLabels('blue', 'r1'))
    text = withRelease(text, 'api', releaseLabels('green', 'a 1'))
    text = withRelease(text, 'web', releaseLabels('green', 'r2'))
    expect(text.split('\n').filter(l => !l.startsWith('#'))).toEqual(['api color="green",release="a%201"', 'web color="green",release="r2"', ''])
  })
})
