import { replicaOf, type Color } from '../core/names.js'
import type { ContainerHost, ContainerSummary } from './ports.js'

const ASIDE_SUFFIX = '-replaced'

/** 1..n */
export function oneTo(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1)
}

/**
 * The replica numbers of a color on the host: its containers, and those set aside while their
 * replacements boot (`-replaced`). Found by name among the app's labelled containers, so replicas
 * left over from a larger earlier size are found too.
 */
export async function replicasOnHost(host: ContainerHost, app: string, color: Color): Promise<{ serving: number[]; aside: number[] }> {
  return replicasAmong(await host.listApp(app), app, color)
}

/** As replicasOnHost, from a listing of the app's containers already read. */
export function replicasAmong(containers: ContainerSummary[], app: string, color: Color): { serving: number[]; aside: number[] } {
  const names = containers.map(c => c.name)
  const numbers = (list: string[]) =>
    list
      .map(n => replicaOf(app, color, n))
      .filter((n): n is number => n !== undefined)
      .sort((a, b) => a - b)
  return {
    serving: numbers(names),
    aside: numbers(names.filter(n => n.endsWith(ASIDE_SUFFIX)).map(n => n.slice(0, -ASIDE_SUFFIX.length)))
  }
}

/** The union of number lists, sorted. */
export function union(...lists: number[][]): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b)
}
