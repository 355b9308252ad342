#!/usr/bin/env python3
"""Regenerates src/agent/uap-regexes.json from uap-core's regexes.yaml.

Usage: scripts/update-uap-regexes.py path/to/uap-core/regexes.yaml

trailship parses user agents with the `ua-parser` crate, which ships no data of its own. Only
the browser/tool and OS parsers are kept (device detection is not used), as compact JSON so
serde_json loads them with no YAML dependency. Needs PyYAML (in the test venv).
"""
import json
import pathlib
import sys

import yaml

src = yaml.safe_load(pathlib.Path(sys.argv[1]).read_text())
out = {"user_agent_parsers": src["user_agent_parsers"], "os_parsers": src["os_parsers"]}
dest = pathlib.Path(__file__).resolve().parent.parent / "src/agent/uap-regexes.json"
dest.write_text(json.dumps(out, separators=(",", ":"), ensure_ascii=False))
print(f"{dest}: {len(out['user_agent_parsers'])} user agent and {len(out['os_parsers'])} os parsers")
