/**
 * The layout the HAProxy proxy and its ACME renewer container share: the config volume, the admin
 * socket's directory, the challenge port and the certificate files. Both sides import it from here
 * (the renewer is bundled on its own and must not load the proxy's code).
 */

/** Where the config volume is mounted in the proxy container (and in the renewer's). */
export const HAPROXY_CONF_DIR = '/usr/local/etc/haproxy/cutover'
/** Where the host directory holding the admin socket is mounted in the proxy container. */
export const HAPROXY_RUN_DIR = '/run/cutover'
export const HAPROXY_SOCKET = 'admin.sock'
/** The port the ACME renewer answers HTTP-01 challenges on, inside its container. */
export const ACME_CHALLENGE_PORT = 8402
export const ACME_PATH = '/.well-known/acme-challenge/'

/** An app's certificate and key, in one file readable only by root (HAProxy reads it as root). */
export function certFile(app: string): string {
  return `cert-${app}.pem`
}
