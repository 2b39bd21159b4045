import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'

// README "Folders import only downwards": a folder under src/ never imports one that imports it
// back (directly or through others), and the files of src/inputs import each other without a circle.

const SRC = join(process.cwd(), 'src')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(e =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []
  )
}

/** The relative modules a file imports or re-exports, as .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/from\s+['"](\.{1,2}\/[^'"]+)['"]/g)].map(m => resolve(dirname(file), m[1]).replace(/\.js$/, '.ts'))
}

type Graph = Map<string, Set<string>>

function addEdge(graph: Graph, from: string, to: string): void {
  if (!graph.has(from)) graph.set(from, new Set())
  graph.get(from)!.add(to)
}

/** Every cycle's nodes, as `a -> b -> a` (one per cycle found by a depth-first walk). */
function cycles(graph: Graph): string[] {
  const found: string[] = []
  const state = new Map<string, 'open' | 'done'>()
  const path: string[] = []
  const visit = (node: string) => {
    state.set(node, 'open')
    path.push(node)
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') found.push([...path.slice(path.indexOf(next)), next].join(' -> '))
      else if (!state.has(next)) visit(next)
    }
    path.pop()
    state.set(node, 'done')
  }
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node)
  return found
}

function folderOf(file: string): string | undefined {
  const rel = relative(SRC, file)
  return rel.includes(sep) ? rel.split(sep)[0] : undefined
}

function folderGraph(): Graph {
  const graph: Graph = new Map()
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file)
    if (!from) continue
    for (const target of importsOf(file)) {
      const to = folderOf(target)
      if (to && to !== from && statSync(join(SRC, to)).isDirectory()) addEdge(graph, from, to)
    }
  }
  return graph
}

function fileGraph(folder: string): Graph {
  const graph: Graph = new Map()
  const dir = join(SRC, folder)
  for (const file of sourceFiles(dir)) {
    for (const target of importsOf(file)) if (dirname(target) === dir) addEdge(graph, relative(dir, file), relative(dir, target))
  }
  return graph
}

describe('imports only downward', () => {
  it('no cycle between the folders under src/', () => {
    const graph = folderGraph()
    expect(graph.size).toBeGreaterThan(5)
    expect(cycles(graph)).toEqual([])
  })

  it('no cycle among the files of src/inputs', () => {
    const graph = fileGraph('inputs')
    expect(graph.get('parse.ts')?.size).toBeGreaterThan(3)
    expect(cycles(graph)).toEqual([])
  })

  it('the cycle finder finds direct and longer cycles', () => {
    const graph: Graph = new Map()
    addEdge(graph, 'a', 'b')
    addEdge(graph, 'b', 'c')
    addEdge(graph, 'c', 'a')
    addEdge(graph, 'd', 'e')
    addEdge(graph, 'e', 'd')
    addEdge(graph, 'f', 'a')
    expect(cycles(graph)).toEqual(['a -> b -> c -> a', 'd -> e -> d'])
  })
})
