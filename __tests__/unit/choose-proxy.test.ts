import type Docker from 'dockerode'
import { existingProxyType, resolveProxy } from '../../src/proxy/choose.js'
import type { ProxyInputs } from '../../src/core/config.js'

/** A Docker Engine holding only these containers (name -> their cutover.proxy label, or null for none). */
function dockerWith(containers: Record<string, string | null>): Docker {
  return {
    getContainer: (name: string) => ({
      inspect: async () => {
        if (!(name in containers)) throw Object.assign(new Error('no such container'), { statusCode: 404 })
        const label = containers[name]
        return { Config: { Labels: label === null ? {} : { 'cutover.proxy': label } } }
      }
    })
  } as unknown as Docker
}

const inputs = (over: Partial<ProxyInputs> = {}): ProxyInputs => ({ type: 'auto', name: 'cutover-proxy', port: 80, domains: [], drainTimeoutMs: 0, ...over })

describe('proxy-type auto', () => {
  it('a new proxy is HAProxy with the official image', async () => {
    const { settings, existing } = await resolveProxy(dockerWith({}), inputs())
    expect(existing).toBeUndefined()
    expect(settings).toMatchObject({ type: 'haproxy', image: 'haproxy:3.0-alpine' })
  })

  it('an existing nginx proxy (its edge, or only its switch tier left) stays nginx, with the nginx image', async () => {
    const hosts: Record<string, string | null>[] = [{ 'cutover-proxy': 'edge', 'cutover-proxy-switch': 'switch' }, { 'cutover-proxy-switch': 'switch' }]
    for (const host of hosts) {
      const { settings, existing } = await resolveProxy(dockerWith(host), inputs())
      expect(existing).toBe('nginx')
      expect(settings).toMatchObject({ type: 'nginx', image: 'nginx:1.28-alpine' })
    }
  })

  it('tls with auto on a host whose proxy is nginx: refused before anything changes, saying why; HAProxy or a new proxy takes it', async () => {
    const tls = { mode: 'auto' as const, httpsPort: 443, redirect: true, hsts: false, trustedProxies: [] }
    const nginx = dockerWith({ 'cutover-proxy': 'edge', 'cutover-proxy-switch': 'switch' })
    await expect(resolveProxy(nginx, inputs({ tls }))).rejects.toThrow(
      /^Input 'tls' is auto, which needs TLS termination, which the nginx router does not have: remove 'tls', or deploy behind a router that has it: HAProxy \(proxy-type: haproxy\) \(set proxy-type, or give another proxy-name if this host's proxy is nginx\)\. Nothing was changed\.$/
    )
    await expect(resolveProxy(nginx, inputs({ tls: { ...tls, mode: 'off', trustedProxies: ['10.0.0.0/8'] } }))).rejects.toThrow(
      /^Input 'trusted-proxies' needs TLS termination, which the nginx router does not have/
    )
    expect((await resolveProxy(nginx, inputs({ tls: { ...tls, mode: 'off' } }))).settings.type).toBe('nginx')
    expect((await resolveProxy(dockerWith({}), inputs({ tls }))).settings.type).toBe('haproxy')
    expect((await resolveProxy(dockerWith({ 'cutover-proxy': 'haproxy' }), inputs({ tls }))).settings.type).toBe('haproxy')
  })

  it('an existing HAProxy proxy stays HAProxy; proxy-image wins over the default image', async () => {
    const { settings } = await resolveProxy(dockerWith({ 'cutover-proxy': 'haproxy' }), inputs({ image: 'registry.example.com/haproxy:2.6' }))
    expect(settings).toMatchObject({ type: 'haproxy', image: 'registry.example.com/haproxy:2.6' })
  })

  it('a container of that name not made by cutover is no proxy type (the router refuses it, saying what to do)', async () => {
    expect(await existingProxyType(dockerWith({ 'cutover-proxy': null }), 'cutover-proxy')).toBeUndefined()
  })

  it('refuses an nginx proxy-image for a new proxy under auto, naming proxy-type nginx', async () => {
    await expect(resolveProxy(dockerWith({}), inputs({ image: 'nginx:1.28-alpine' }))).rejects.toThrow(/an nginx image.*Set proxy-type: nginx/)
    // the same image for an explicit type, or for an existing nginx proxy, is fine
    await expect(resolveProxy(dockerWith({}), inputs({ type: 'nginx', image: 'nginx:1.28-alpine' }))).resolves.toMatchObject({ settings: { type: 'nginx' } })
    await expect(resolveProxy(dockerWith({ 'cutover-proxy': 'edge' }), inputs({ image: 'nginx:1.28-alpine' }))).resolves.toMatchObject({
      settings: { type: 'nginx' }
    })
  })

  it('an explicit type is kept whatever the host runs', async () => {
    const { settings } = await resolveProxy(dockerWith({ 'cutover-proxy': 'edge' }), inputs({ type: 'haproxy' }))
    expect(settings.type).toBe('haproxy')
  })
})
