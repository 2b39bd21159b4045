import { HAPROXY_CONF_DIR } from '../acme/layout.js'

/**
 * The holder's switch (issue #22): the holder container of a proxy owns its network namespace,
 * published ports and Docker networks, and runs HAProxy on the shared configuration like any
 * generation. Once a newer generation has taken the listening sockets (`-x`), the holder is reloaded
 * with this file saying "off": the base configuration then declares neither the admin socket nor a
 * listener for it, so the holder's process finishes what it serves and idles, keeping the namespace.
 * The test is on HAPROXY_MWORKER_REEXEC (set by HAProxy's master on a reload only): a holder that
 * starts afresh (a restart, a reboot) always serves, whatever this file says.
 *
 * The switch is a *.cfg of the config directory that sorts before the base (HOLDER_SWITCH_CFG), so
 * every HAProxy proxy container reads it, also one made by an earlier cutover whose command line
 * loads the directory only: such a container is a holder too, taken over with no re-creation.
 * Generations load the same directory and skip it: they are started with GENERATION_VAR set.
 */

/**
 * The holder's own file, first on its command line. In the config volume (it outlives a reboot,
 * which empties the host's /run), and not named *.cfg, so the generations, which load every *.cfg
 * of the volume, never read it.
 */
export const HOLDER_FILE = 'holder-switch.conf'
export const HOLDER_FILE_PATH = `${HAPROXY_CONF_DIR}/${HOLDER_FILE}`
/** The switch every holder reads: loaded first of the directory ('0-' sorts before '00-base.cfg'). */
export const HOLDER_SWITCH_CFG = '0-holder-switch.cfg'
/** Defined only in a holder reloaded "off". */
export const HOLDER_OFF_VAR = 'CUTOVER_HOLDER_OFF'
/** Set in the environment of every generation container: the switch is not theirs. */
export const GENERATION_VAR = 'CUTOVER_GENERATION'

/**
 * The holder's file: serving, or off since its start at `holderStartedAt` (a holder started again
 * since then serves, and must be turned off again while a generation is live).
 */
export function renderHolderFile(off: { holderStartedAt: string } | undefined): string {
  if (!off) return `# Managed by cutover: this holder serves (no newer HAProxy generation is live).\n`
  return (
    `# Managed by cutover: a newer HAProxy generation serves; this holder stops serving when reloaded.\n` +
    `# off-since-start: ${off.holderStartedAt}\n` +
    `.if !defined(${GENERATION_VAR})\n.if defined(HAPROXY_MWORKER_REEXEC)\nglobal\n  setenv ${HOLDER_OFF_VAR} 1\n.endif\n.endif\n`
  )
}

/** The holder start this file turned it off for (undefined: serving). */
export function holderOffSince(text: string | undefined): string | undefined {
  return /^# off-since-start: (\S+)$/m.exec(text ?? '')?.[1]
}
