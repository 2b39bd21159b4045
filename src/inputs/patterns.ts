/** Limits and patterns several input modules check against. */

/** A DNS label: containers find each other by name on Docker networks. */
export const DNS_LABEL_MAX = 63
/** setTimeout's limit is 2^31-1 ms (24.8 days); longer timers fire at once. */
export const MAX_DURATION_MS = 24 * 3_600_000
export const HOSTNAME = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
export const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/
// eslint-disable-next-line no-control-regex -- finding control characters is the point
export const CONTROL = /[\x00-\x1f\x7f]/
/** App, proxy and worker names: lower-case letters, digits and dashes, not starting or ending with a dash. */
export const APP_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/
