/**
 * One GET's status and body, bounded by a timer that holds the process. A fetch aborted while its
 * body is read can stay pending for ever (nodejs/node#56917), and AbortSignal.timeout's timer does
 * not hold the process: a bench waiting on such a fetch ended with code 0 and wrote no results.
 */
export async function getBounded(url, ms, headers = {}) {
  const controller = new AbortController()
  let timer
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => {
      controller.abort()
      reject(new Error(`no answer from ${url} within ${ms} ms`))
    }, ms)
  })
  const answer = fetch(url, { headers, signal: controller.signal }).then(async res => ({ ok: res.ok, status: res.status, body: await res.text() }))
  answer.catch(() => undefined)
  try {
    return await Promise.race([answer, late])
  } finally {
    clearTimeout(timer)
  }
}
