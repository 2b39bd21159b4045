import type { ProxySettings } from './config.js'

/**
 * The address a waiting preview is reached at (output preview-url): the first preview domain, with
 * the scheme the proxy serves it with (https with tls on) and the port when it is not the default.
 * Behind an edge (proxy-port none) the edge's own ports serve it: no port.
 */
export function previewUrlOf(proxy: Pick<ProxySettings, 'previewDomains' | 'port' | 'tls' | 'unpublished'>): string | undefined {
  const host = proxy.previewDomains?.[0]
  if (!host) return undefined
  const https = proxy.tls !== undefined && proxy.tls.mode !== 'off'
  if (proxy.unpublished) return `${https ? 'https' : 'http'}://${host.toLowerCase()}`
  const port = https ? proxy.tls!.httpsPort : proxy.port
  return `${https ? 'https' : 'http'}://${host.toLowerCase()}${port === (https ? 443 : 80) ? '' : `:${port}`}`
}
