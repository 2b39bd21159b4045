import { parseProxyPort } from '../../src/inputs/edge.js'
import { describeListen } from '../../src/core/listen.js'
import { inputParser } from '../support/inputs.js'
import { sshKeyPair } from '../support/keys.js'

// Edge mode (issue #23): proxy-port as a port, an address or none; proxy-networks; proxy-protocol.

const base: Record<string, string> = {
  app: 'web',
  host: 'deploy.example.com',
  'ssh-private-key': sshKeyPair().private,
  'insecure-skip-host-key-check': 'true',
  image: 'ghcr.io/acme/web:1.2.3',
  domains: 'app.example.com'
}

const { parse, errorOf } = inputParser(base)

describe('proxy-port', () => {
  it.each([
    ['80', { port: 80 }],
    ['127.0.0.1:8080', { port: 8080, hostIp: '127.0.0.1' }],
    ['[::1]:8080', { port: 8080, hostIp: '::1' }],
    ['none', { port: 80, unpublished: true }],
    ['NONE', { port: 80, unpublished: true }]
  ])('%s', (value, listen) => {
    expect(parseProxyPort(value)).toEqual(listen)
    expect(describeListen(parseProxyPort(value))).toBe(value.toLowerCase())
  })

  it.each([
    ['0', 'must be a port (80), an address and port (127.0.0.1:8080, [::1]:8080) or none, not "0"'],
    ['65536', 'not "65536"'],
    ['localhost:8080', 'has "localhost", which is not an IP address of the host'],
    ['127.0.0.1:', 'not "127.0.0.1:"'],
    ['::1:8080', 'not "::1:8080"'],
    ['127.0.0.1:99999', 'not "127.0.0.1:99999"']
  ])('refuses %s', (value, message) => {
    expect(errorOf({ 'proxy-port': value })).toContain(`Input 'proxy-port' `)
    expect(errorOf({ 'proxy-port': value })).toContain(message)
  })

  it('a plain port keeps the settings as before (no edge fields)', () => {
    const proxy = parse({ 'proxy-port': '8080' }).proxy
    expect(proxy.port).toBe(8080)
    expect(Object.keys(proxy)).not.toEqual(expect.arrayContaining(['hostIp']))
    expect(proxy).not.toHaveProperty('unpublished')
    expect(proxy).not.toHaveProperty('networks')
    expect(proxy).not.toHaveProperty('proxyProtocol')
  })
})

describe('edge mode inputs', () => {
  it('none joins the networks named in proxy-networks', () => {
    const proxy = parse({ 'proxy-port': 'none', 'proxy-networks': 'edge\nweb_default' }).proxy
    expect(proxy).toMatchObject({ port: 80, unpublished: true, networks: ['edge', 'web_default'] })
  })

  it('none without proxy-networks is refused: nothing could reach the proxy', () => {
    expect(errorOf({ 'proxy-port': 'none' })).toContain("Input 'proxy-networks' is empty but proxy-port is none")
  })

  it('a network name Docker would refuse is refused', () => {
    expect(errorOf({ 'proxy-networks': 'my net!' })).toContain('Input \'proxy-networks\' has "net!", which is not a Docker network name')
    expect(errorOf({ 'proxy-networks': 'edge edge' })).toContain("Input 'proxy-networks' names a network twice")
  })

  it('proxy-protocol needs trusted-proxies (the header is taken from them only)', () => {
    expect(errorOf({ 'proxy-protocol': 'true' })).toContain(
      "Input 'proxy-protocol' is true but trusted-proxies is empty: the proxy accepts a PROXY protocol header only from the edge's addresses"
    )
    const proxy = parse({ 'proxy-protocol': 'true', 'trusted-proxies': '172.18.0.0/16' }).proxy
    expect(proxy.proxyProtocol).toBe(true)
    expect(proxy.tls?.trustedProxies).toEqual(['172.18.0.0/16'])
  })

  it('with none, HTTPS is not published either: https-port is not compared with proxy-port', () => {
    const tls = parse({ 'proxy-port': 'none', 'proxy-networks': 'edge', 'https-port': '80', tls: 'auto' }).proxy.tls
    expect(tls).toMatchObject({ mode: 'auto', httpsPort: 80 })
    expect(errorOf({ 'https-port': '80', tls: 'auto' })).toContain("Input 'https-port' must differ from proxy-port (80)")
  })

  it('the nginx router refuses every edge input, naming it', () => {
    const nginx = { 'proxy-type': 'nginx' }
    expect(errorOf({ ...nginx, 'proxy-port': '127.0.0.1:8080' })).toContain(
      "Input 'proxy-port' is 127.0.0.1:8080, which needs running behind an edge proxy, which the nginx router does not have"
    )
    expect(errorOf({ ...nginx, 'proxy-port': 'none', 'proxy-networks': 'edge' })).toContain(
      "Input 'proxy-port' is none, which needs running behind an edge proxy"
    )
    expect(errorOf({ ...nginx, 'proxy-networks': 'edge' })).toContain("Input 'proxy-networks' needs running behind an edge proxy")
  })
})
