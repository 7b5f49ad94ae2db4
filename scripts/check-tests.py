#!/usr/bin/env python3
"""Fails when a `func test…` in Tests/ has no @Test attribute: such a test never runs; and
when Swift code starts a process with Foundation's `Process`, whose `run()` can crash the
test process on Linux (Sources/OrreryTesting/ChildProcess.swift says why; use ChildProcess)."""
import pathlib
import re
import sys

func_re = re.compile(r"^\s*(?:@\w+\s+)*(?:(?:public|private|fileprivate|internal|static|mutating|nonisolated)\s+)*func\s+test\w*\s*[(<]")
bad = []
for path in sorted(pathlib.Path("Tests").rglob("*.swift")):
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not func_re.match(line):
            continue
        # The attributes of a declaration are the lines since the previous one ended.
        j, found = i, "@Test" in line.split("func")[0]
        while not found and j > 0:
            j -= 1
            prev = lines[j].split("//")[0].rstrip()
            if prev.endswith(("{", "}", ";")):
                break
            found = "@Test" in prev
        if not found:
            bad.append(f"{path}:{i + 1}: {line.strip()}")
process_re = re.compile(r"(?<![\w.])Process\(\)")
spawners = []
for path in sorted(list(pathlib.Path("Tests").rglob("*.swift")) + list(pathlib.Path("Sources").rglob("*.swift"))
                   + list(pathlib.Path("Benchmarks").rglob("*.swift"))):
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if process_re.search(line.split("//")[0]):
            spawners.append(f"{path}:{i + 1}: {line.strip()}")
if spawners:
    print("These start a process with Foundation's Process; use OrreryTesting's ChildProcess:")
    print("\n".join(spawners))
if bad:
    print("These test functions have no @Test attribute and would never run:")
    print("\n".join(bad))
if bad or spawners:
    sys.exit(1)
print("check-tests: every func test… has @Test; no Foundation Process")
