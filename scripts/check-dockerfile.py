#!/usr/bin/env python3
"""Fails when the Dockerfile does not copy a directory the binary embeds (include_str!/
include_bytes! in src/), or a path dependency of Cargo.toml before the dependency build that
needs it: without Docker here, the image build would only fail on a user's machine."""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
dockerfile = open(os.path.join(ROOT, "Dockerfile"), encoding="utf-8").read()
copied = set(re.findall(r"^COPY (?!--from)(\S+) ", dockerfile, re.M))
missing = set()
for dirpath, _, names in os.walk(os.path.join(ROOT, "src")):
    for name in names:
        if not name.endswith(".rs"):
            continue
        path = os.path.join(dirpath, name)
        for rel in re.findall(r'include_(?:str|bytes)!\("([^"]+)"\)', open(path, encoding="utf-8").read()):
            target = os.path.relpath(os.path.normpath(os.path.join(dirpath, rel)), ROOT)
            top = target.split(os.sep)[0]
            if top not in copied and not any(target.startswith(c.rstrip("/") + os.sep) or target == c for c in copied):
                missing.add((top, os.path.relpath(path, ROOT)))
# Path dependencies ([patch.crates-io] copies) are built with the stub targets: copied before then.
instructions = re.sub(r"(?m)^\s*#.*\n", "", dockerfile)
first_build = instructions.index("cargo build")
copied_early = set(re.findall(r"^COPY (?!--from)(\S+) ", instructions[:first_build], re.M))
manifest = open(os.path.join(ROOT, "Cargo.toml"), encoding="utf-8").read()
for rel in re.findall(r'\{[^}]*\bpath\s*=\s*"([^"]+)"', manifest):
    top = os.path.normpath(rel).split(os.sep)[0]
    if top not in copied_early and not any(os.path.normpath(rel).startswith(c.rstrip("/")) for c in copied_early):
        missing.add((top, "Cargo.toml's path dependencies (before the first cargo build)"))
for top, source in sorted(missing):
    print(f"Dockerfile does not COPY {top}/, which {source} needs", file=sys.stderr)
sys.exit(1 if missing else 0)
