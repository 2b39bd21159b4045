/**
 * Which app asked the shared proxy for which `proxy-image`, so that apps giving different images do
 * not hand the proxy back and forth on each deploy: the latest *change* of any app wins. A file of
 * `<app> <image>` lines in the proxy's volume (not `.cfg`: HAProxy does not load it), written under
 * the proxy's lock.
 */
export const IMAGE_REQUESTS_FILE = 'proxy-image-requests.txt'

export function parseImageRequests(text: string | undefined): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of (text ?? '').split('\n')) {
    const [app, image] = line.trim().split(/\s+/)
    if (app && image && !app.startsWith('#')) out.set(app, image)
  }
  return out
}

export function renderImageRequests(requests: Map<string, string>): string {
  const lines = [...requests].sort(([a], [b]) => a.localeCompare(b)).map(([app, image]) => `${app} ${image}`)
  return `# Managed by cutover: the proxy-image each app last gave.\n${lines.join('\n')}\n`
}

/** What the proxy should run when `app` gives `asked` while `serving` runs, and which app's request keeps it if not `asked`. */
export function imageToServe(
  requests: Map<string, string>,
  app: string,
  asked: string | undefined,
  serving: string | undefined,
  /** Whether an app still has a route on the proxy (a removed app's request keeps nothing). */
  routed: (app: string) => boolean
): { image: string | undefined; keptFor?: string } {
  if (asked === undefined || asked === serving) return { image: serving ?? asked }
  // This app gave the same image before, and another app on the proxy gave what serves since: its change stands.
  const keptFor = [...requests].find(([other, image]) => other !== app && image === serving && routed(other))?.[0]
  if (serving !== undefined && requests.get(app) === asked && keptFor) return { image: serving, keptFor }
  return { image: asked }
}
