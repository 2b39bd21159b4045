import type { Color } from '../core/names.js'
import type { EngineContext } from './context.js'

/** How often the proxy is asked how many of the app's requests it still holds. */
export const IN_FLIGHT_POLL_MS = 200

/** How a drain ended: after `ms`, with `left` requests still in flight (0: none; undefined: the proxy could not say). */
export interface DrainOutcome {
  ms: number
  left: number | undefined
  /** Whether anything was waited for (false: nothing was in flight at the first count). */
  waited: boolean
}

/**
 * The app's route is off the proxy: waits while the proxy still holds requests to it (`inFlight`
 * counts them now), asking every 200 ms, at most drain-timeout. The log says how long it waited
 * and whether requests were still in flight at the timeout. A proxy that stops answering the
 * count makes the rest of drain-timeout a plain wait (its requests may still be running).
 */
export async function drainInFlight(ctx: EngineContext, inFlight: () => Promise<number>): Promise<DrainOutcome> {
  const { clock, log, config, app } = ctx
  const timeoutMs = config.proxy.drainTimeoutMs
  const started = clock.now()
  const elapsed = () => clock.now() - started
  let left: number
  let asked = 0
  for (;;) {
    asked++
    try {
      left = await inFlight()
    } catch (e) {
      const rest = Math.max(0, timeoutMs - elapsed())
      log.warning(
        `The proxy could not say how many requests to ${app} are in flight (${(e as Error).message}): waiting the ${Math.ceil(rest / 1000)} s left of drain-timeout`
      )
      await clock.sleep(rest)
      return { ms: elapsed(), left: undefined, waited: true }
    }
    if (left === 0 || elapsed() >= timeoutMs) break
    await clock.sleep(Math.min(IN_FLIGHT_POLL_MS, timeoutMs - elapsed()))
  }
  const ms = elapsed()
  if (left === 0 && asked === 1) log.info(`No request to ${app} was in flight: nothing to wait for`)
  else if (left === 0) log.info(`The requests in flight to ${app} finished: waited ${ms} ms (drain-timeout ${timeoutMs / 1000} s)`)
  else log.warning(`${left} request(s) to ${app} still in flight after ${ms / 1000} s (drain-timeout): its containers stop now all the same`)
  return { ms, left, waited: asked > 1 }
}

/** Routers that cannot count requests in flight: the whole drain-timeout, said. */
export async function drainTimed(ctx: EngineContext): Promise<DrainOutcome> {
  const { clock, log, config, app } = ctx
  const ms = config.proxy.drainTimeoutMs
  log.info(`Letting requests in flight to ${app} finish: ${ms / 1000} s (drain-timeout; the proxy cannot count them) before its containers stop`)
  await clock.sleep(ms)
  return { ms, left: undefined, waited: true }
}

/** The drain as the step's detail says it. */
export function describeDrain(drain: DrainOutcome | undefined): string {
  if (!drain) return ''
  if (drain.left === undefined) return `waited ${drain.ms / 1000} s (drain-timeout)`
  if (drain.left === 0) return drain.waited ? `requests in flight finished in ${drain.ms} ms` : 'no request in flight'
  return `${drain.left} request(s) still in flight at drain-timeout`
}

/** Whether the router vouches that `color` takes no new request and holds none of its requests (false: it holds some, or cannot say). */
export async function colorIdle(ctx: EngineContext, color: Color): Promise<boolean> {
  if (!ctx.router.idleColors) return false
  return ctx.router.idleColors().then(
    idle => idle.includes(color),
    () => false
  )
}

/**
 * Waits up to `timeoutMs` for the connections `color` still holds: a plain wait, cut short once the
 * router vouches that it holds none (asked every 200 ms; routers that cannot say wait it all).
 * Returns the ms waited and whether that was less than all of it.
 */
export async function drainColor(ctx: EngineContext, color: Color, timeoutMs: number): Promise<{ ms: number; early: boolean }> {
  const { clock } = ctx
  // sticky: its clients keep coming to the draining color until the drain ends; nothing to ask.
  if (!ctx.router.idleColors || ctx.config.proxy.sticky) {
    await clock.sleep(timeoutMs)
    return { ms: timeoutMs, early: false }
  }
  const started = clock.now()
  for (;;) {
    const elapsed = clock.now() - started
    if (elapsed >= timeoutMs) return { ms: elapsed, early: false }
    if (await colorIdle(ctx, color)) return { ms: elapsed, early: true }
    await clock.sleep(Math.min(IN_FLIGHT_POLL_MS, timeoutMs - elapsed))
  }
}
