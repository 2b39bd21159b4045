import { isIP } from 'node:net'
import type { ProxySettings } from './config.js'

/** proxy-port as a user writes it, for messages: `80`, `127.0.0.1:8080`, `[::1]:8080`, `none`. */
export function describeListen(listen: Pick<ProxySettings, 'port' | 'hostIp' | 'unpublished'>): string {
  if (listen.unpublished) return 'none'
  if (!listen.hostIp) return String(listen.port)
  return isIP(listen.hostIp) === 6 ? `[${listen.hostIp}]:${listen.port}` : `${listen.hostIp}:${listen.port}`
}
