#!/usr/bin/env python3
"""Print the import graph of server/src between top-level modules, and every cycle.

Each directory module (`store/`, `token/`, `api/`, ...) is one node; each single
file (`errors.rs`, `state.rs`, ...) is one node. An edge A -> B means a file of A
names `crate::B` (in a `use` or in a path). `lib.rs`, `main.rs` are skipped.
Exits 1 if any strongly connected component has more than one node.

Usage: scripts/import-graph.py [server/src]
"""

import re
import sys
from pathlib import Path

SKIP = {"lib", "main"}


def node_of(path: Path, root: Path) -> str:
    rel = path.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def use_targets(text: str) -> set[str]:
    """Top-level modules named by `crate::x` paths, including `use crate::{a, b::c}`."""
    found = set()
    for m in re.finditer(r"\bcrate::", text):
        rest = text[m.end():]
        if rest.startswith("{"):
            depth, i = 0, 0
            for i, ch in enumerate(rest):
                depth += ch == "{"
                depth -= ch == "}"
                if depth == 0:
                    break
            inner = rest[1:i]
            # top-level items of the group: split on commas at depth 0
            depth, item = 0, ""
            for ch in inner + ",":
                if ch == "," and depth == 0:
                    name = re.match(r"\s*(\w+)", item)
                    if name:
                        found.add(name.group(1))
                    item = ""
                    continue
                depth += ch == "{"
                depth -= ch == "}"
                item += ch
        else:
            name = re.match(r"(\w+)", rest)
            if name:
                found.add(name.group(1))
    return found


def tarjan(graph: dict[str, set[str]]) -> list[list[str]]:
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "server" / "src")
    nodes = {node_of(p, root) for p in root.rglob("*.rs")} - SKIP
    graph: dict[str, set[str]] = {n: set() for n in nodes}
    for path in sorted(root.rglob("*.rs")):
        src = node_of(path, root)
        if src in SKIP:
            continue
        for dst in use_targets(strip_comments(path.read_text())):
            if dst in nodes and dst != src:
                graph[src].add(dst)

    print("# edges")
    for src in sorted(graph):
        if graph[src]:
            print(f"{src} -> {', '.join(sorted(graph[src]))}")
    cycles = [c for c in tarjan(graph) if len(c) > 1]
    print(f"\n# cycles: {len(cycles)}")
    for comp in cycles:
        print(f"{len(comp)} modules: {' <-> '.join(comp)}")
        for src in comp:
            inner = sorted(graph[src] & set(comp))
            print(f"    {src} -> {', '.join(inner)}")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
