import { LABEL } from '../core/names.js'

/**
 * Why a container found under one of the app's names is not cutover's to touch, or undefined when
 * it is. Names can be taken by anything (an older hand-made deploy called `<app>-blue`); only
 * cutover's labels for this app make a container ours to set aside, rename or remove.
 */
export function foreignContainerProblem(app: string, name: string, labels: Record<string, string>): string | undefined {
  if (labels[LABEL.managed] === 'true' && labels[LABEL.app] === app) return undefined
  const whose = labels[LABEL.app] && labels[LABEL.managed] === 'true' ? `cutover's container of the app ${labels[LABEL.app]}` : 'not made by cutover'
  return (
    `A container named ${name} is in the way, and it is ${whose} (it lacks the labels ${LABEL.managed}=true and ${LABEL.app}=${app}): ` +
    `cutover leaves it as it is. Rename or remove it yourself (docker rename ${name} ${name}-old), or deploy under another app name. Nothing was changed.`
  )
}
