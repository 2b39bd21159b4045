import type { CanaryStepsSettings } from '../core/config.js'
import { ReleaseError, type CanaryStepReport } from '../core/outcome.js'
import { StepRequestLog } from './canary-request-log.js'
import { judgeStep, StepWindow, type StepJudgement } from './canary-window.js'
import type { FleetStepVerdict } from './context.js'
import type { ExposureRun } from './exposure.js'
import type { ServerCounts } from './ports.js'
import { WATCH_TICK_MS } from './watch.js'

/** How soon a cancel (or another host's breach) is noticed while a step holds. */
const SLICE_MS = 250

/**
 * Where the walk ended: every step passed (promote), a step breached or failed (roll back), or
 * the canary is held at `weight` (low traffic with `hold`, or the run was stopped).
 */
export type StepsEnd =
  | { kind: 'promote'; steps: CanaryStepReport[] }
  | { kind: 'rollback'; steps: CanaryStepReport[]; why: string }
  | { kind: 'hold'; steps: CanaryStepReport[]; weight: number; why: string }

/**
 * Walks the canary through its weights (the first is already set by the exposure). At each step
 * the proxy's per-server counters are read every WATCH_TICK_MS; a breach seen early ends the step
 * at once; otherwise the step is judged when its time is up.
 */
export async function walkCanarySteps(run: ExposureRun, s: CanaryStepsSettings, setWeight: (weight: number) => Promise<void>): Promise<StepsEnd> {
  const steps: CanaryStepReport[] = []
  for (const [i, weight] of s.weights.entries()) {
    if (i > 0) await setWeight(weight)
    const report = await holdStep(run, s, weight)
    steps.push(report)
    if (report.verdict === 'aborted') return { kind: 'hold', steps, weight, why: `at ${weight} %: ${report.why}` }
    const agreed = await agree(run, report)
    // Several hosts: what another host saw decides here too, and says so.
    const elsewhere = report.verdict === 'failed-elsewhere' || agreed.verdict !== report.verdict
    if (elsewhere && agreed.why !== report.why) report.why = `${report.why}; every host: ${agreed.why}`
    const why = `at ${weight} %: ${elsewhere ? `${agreed.why}, so every host rolls back` : report.why}`
    if (agreed.verdict === 'breached') return { kind: 'rollback', steps, why }
    if (agreed.verdict === 'low-traffic') {
      const policy = s.lowTraffic
      run.ctx.log.info(`canary-steps: step ${weight} %: ${agreed.why}; canary-low-traffic is ${policy}`)
      if (policy === 'fail') return { kind: 'rollback', steps, why: `at ${weight} %: ${agreed.why} (canary-low-traffic: fail)` }
      if (policy === 'hold') return { kind: 'hold', steps, weight, why: `at ${weight} %: ${agreed.why} (canary-low-traffic: hold)` }
    }
  }
  return { kind: 'promote', steps }
}

/** Several hosts: every host's verdict of the step, combined; one host: its own. */
async function agree(run: ExposureRun, report: CanaryStepReport): Promise<FleetStepVerdict> {
  const own: FleetStepVerdict = {
    verdict: report.verdict === 'passed' || report.verdict === 'low-traffic' ? report.verdict : 'breached',
    why: report.why,
    ...(report.verdict === 'failed-elsewhere' ? { echo: true } : {})
  }
  if (report.verdict === 'breached') run.ctx.deps.onWatchFailed?.(`canary step ${report.weight} %: ${report.why}`)
  if (!run.ctx.deps.afterCanaryStep) return own
  return run.ctx.deps.afterCanaryStep(report.weight, own)
}

/** One step, with the proxy logging each of its requests meanwhile where it can (p95 per color). */
async function holdStep(run: ExposureRun, s: CanaryStepsSettings, weight: number): Promise<CanaryStepReport> {
  const requestLog = new StepRequestLog(run)
  await requestLog.start(weight)
  try {
    const report = await judgeWindow(run, s, weight, requestLog)
    if (requestLog.note && report.verdict !== 'aborted') report.why += ` (response times are window means: ${requestLog.note})`
    return report
  } finally {
    await requestLog.stop()
  }
}

/** The step's window: counters (and logged requests) read at its start, every tick, and at its end; judged early on a breach. */
async function judgeWindow(run: ExposureRun, s: CanaryStepsSettings, weight: number, requestLog: StepRequestLog): Promise<CanaryStepReport> {
  const { ctx, plan, live } = run
  const { clock, log } = ctx
  const liveColor = live!.color
  const window = new StepWindow()
  let readFailures = 0
  const readCounters = async () => {
    try {
      window.add(await readCounts(run))
    } catch (e) {
      if (readFailures++ === 0) log.warning(`canary-steps: could not read the proxy's counters: ${(e as Error).message}`)
    }
  }
  const sample = () => Promise.all([readCounters(), requestLog.read(window)])
  const started = clock.now()
  const report = (verdict: CanaryStepReport['verdict'], why: string): CanaryStepReport => ({
    weight,
    ms: clock.now() - started,
    canary: window.figures(plan.color),
    live: window.figures(liveColor),
    verdict,
    why
  })
  log.info(`canary-steps: ${weight} % of new requests to ${plan.color} for ${Math.round(s.stepMs / 1000)} s`)
  await sample()
  for (;;) {
    const abort = ctx.abortReason
    if (abort) return report('aborted', `${abort} during the step`)
    const elsewhere = ctx.deps.watchFailedElsewhere?.()
    if (elsewhere) return report('failed-elsewhere', elsewhere)
    const left = s.stepMs - (clock.now() - started)
    if (left <= 0) break
    const until = clock.now() + Math.min(WATCH_TICK_MS, left)
    while (clock.now() < until && !ctx.abortReason && !ctx.deps.watchFailedElsewhere?.()) await clock.sleep(Math.min(SLICE_MS, until - clock.now()))
    if (ctx.abortReason || ctx.deps.watchFailedElsewhere?.()) continue
    await sample()
    const early = judgeStep(window.figures(plan.color), window.figures(liveColor), s, true)
    if (early.verdict === 'breached') return report('breached', early.why)
  }
  const judged: StepJudgement = judgeStep(window.figures(plan.color), window.figures(liveColor), s)
  if (readFailures > 0 && judged.verdict === 'low-traffic') judged.why += ` (the proxy's counters could not be read ${readFailures} times)`
  const r = report(judged.verdict, judged.why)
  log.info(`canary-steps: step ${weight} %: ${judged.verdict}: ${judged.why}`)
  return r
}

async function readCounts(run: ExposureRun): Promise<ServerCounts[]> {
  const counts = run.ctx.router.serverCounts?.bind(run.ctx.router)
  if (!counts) throw new ReleaseError({ reason: `The ${run.ctx.router.capabilities.name} router counts no responses per server.` })
  return counts()
}
