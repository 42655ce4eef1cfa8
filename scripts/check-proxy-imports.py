#!/usr/bin/env python3
"""Fails when code linked into meshproxy imports all of Foundation.

The proxy uses FoundationEssentials: Foundation proper brings libFoundation,
FoundationInternationalization and ICU (about 6 MB resident per sidecar, measured). This walks
meshproxy's own targets from `swift package describe` and looks for an `import Foundation` that is
not the fallback branch of `#if canImport(FoundationEssentials)`."""
import json
import os
import subprocess
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
package = json.loads(subprocess.run(["swift", "package", "describe", "--type", "json"], cwd=root,
                                    check=True, capture_output=True, text=True).stdout)
targets = {target["name"]: target for target in package["targets"]}
closure, pending = set(), ["meshproxy"]
while pending:
    name = pending.pop()
    if name not in closure:
        closure.add(name)
        pending += targets[name].get("target_dependencies", [])

found = []
for name in sorted(closure):
    target = targets[name]
    for source in target["sources"]:
        path = os.path.join(root, target["path"], source)
        if not path.endswith(".swift"):
            continue
        previous = ""
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                line = line.strip()
                if line.endswith("import Foundation") and previous != "#else":
                    found.append(f"{os.path.relpath(path, root)}:{number}: {line}")
                previous = line
if found:
    print("meshproxy's code must import FoundationEssentials (with Foundation only as the #else of "
          "`#if canImport(FoundationEssentials)`):\n  " + "\n  ".join(found), file=sys.stderr)
    sys.exit(1)
print(f"meshproxy imports: {len(closure)} targets, none imports all of Foundation")
