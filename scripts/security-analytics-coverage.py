#!/usr/bin/env python3
"""Which of SigmaHQ's CloudTrail rules (benches/sigmahq, the rules OpenSearch Security
Analytics prepackages for its cloudtrail log type) can run in a Security Analytics detector on
trailship's event indices: a rule can when every field it reads is one the event template
aliases under Security Analytics' name for it (aws.cloudtrail.*). Prints the count and, for
each rule that cannot, the fields no alias reaches. Usage: scripts/security-analytics-coverage.py"""

import glob
import json
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def aliased_fields():
    """The fields the template's aws.cloudtrail.* aliases name."""
    template = json.load(open(os.path.join(ROOT, "src", "sources", "cloudtrail", "template.json")))
    found = set()

    def walk(props):
        for mapping in props.values():
            if mapping.get("type") == "alias":
                found.add(mapping["path"])
            walk(mapping.get("properties", {}))

    walk(template["template"]["mappings"]["properties"]["aws"]["properties"]["cloudtrail"]["properties"])
    return found


def fields(detection):
    """The field names a Sigma detection reads (modifiers stripped)."""
    out = set()

    def visit(node):
        if isinstance(node, dict):
            for key, value in node.items():
                out.add(key.split("|")[0])
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    for name, selection in detection.items():
        if name != "condition":
            visit(selection)
    return {f for f in out if f}


def main():
    reachable = aliased_fields()
    rules = sorted(glob.glob(os.path.join(ROOT, "benches", "sigmahq", "**", "*.yml"), recursive=True))
    blocked = []
    for path in rules:
        for doc in yaml.safe_load_all(open(path)):
            if not doc or "detection" not in doc:
                continue
            missing = sorted(fields(doc["detection"]) - reachable)
            if missing:
                blocked.append((doc.get("title", path), missing))
    total = len(rules)
    print(f"{total - len(blocked)} of {total} rules read only aliased fields; {len(blocked)} read fields no alias reaches:")
    for title, missing in blocked:
        print(f"- {title}: {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
