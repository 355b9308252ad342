#!/usr/bin/env python3
"""Checks the deployment kit (run by scripts/check-deploy.sh in CI):

- deploy/kubernetes/*.yaml: the core objects against the Kubernetes OpenAPI schemas
  (kubernetes-validate --strict: unknown fields are errors), the KEDA objects against the KEDA
  CRD schemas (scripts/deploy-check/validate-keda.mjs);
- that the manifests agree with each other and with the worker's configuration in the
  ConfigMap: terminationGracePeriodSeconds above sqs.shutdown_grace_secs, probes on
  /healthz and /readyz at metrics.listen's port, the memory limit above limits.memory_mb, KEDA
  scaling this Deployment on this queue, the service account, and that trailship itself
  accepts the configuration;
- deploy/iam/*-policy.json with parliament (unknown actions, bad resources, wildcards).

    check-deploy.py NODE_DIR TRAILSHIP_BINARY
"""
import glob
import json
import os
import subprocess
import sys
import tempfile
import tomllib

import yaml
from parliament import analyze_policy_string

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(ROOT, "deploy", "kubernetes")
problems = []


def check(ok, message):
    print(("ok   " if ok else "FAIL ") + message)
    if not ok:
        problems.append(message)


def mebibytes(quantity):
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    return float(quantity) / (1 << 20)


def main(node_dir, binary):
    files = sorted(glob.glob(os.path.join(K8S, "*.yaml")))
    objects = {}
    core, keda = [], []
    for f in files:
        for doc in yaml.safe_load_all(open(f)):
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
            (keda if doc["apiVersion"].startswith("keda.sh/") else core).append(f)
    core, keda = sorted(set(core)), sorted(set(keda))
    check(set(core).isdisjoint(keda), "each file holds either core or KEDA objects")

    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "kubernetes-validate"), "--strict", *core])
    check(run.returncode == 0, f"kubernetes-validate --strict: {', '.join(map(os.path.basename, core))}")
    run = subprocess.run(["node", os.path.join(node_dir, "validate-keda.mjs"), *keda], cwd=node_dir)
    check(run.returncode == 0, f"KEDA CRD schemas: {', '.join(map(os.path.basename, keda))}")

    deployment = objects[("Deployment", "trailship")]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    config_map = objects[("ConfigMap", "trailship")]
    toml_text = config_map["data"]["trailship.toml"]
    cfg = tomllib.loads(toml_text)
    grace = cfg.get("sqs", {}).get("shutdown_grace_secs", 30)
    check(
        pod["terminationGracePeriodSeconds"] >= grace + 10,
        f"terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']} > shutdown_grace_secs {grace} + 10 s",
    )
    port = int(cfg["metrics"]["listen"].rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    check(ports.get("metrics") == port, f"container port 'metrics' is metrics.listen's {port}")
    check(cfg["metrics"]["listen"].startswith("0.0.0.0:"), "metrics.listen reachable by the kubelet")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        got = container[probe]["httpGet"]
        check(got["path"] == path and got["port"] == "metrics", f"{probe} on {path} at the metrics port")
    limit = mebibytes(container["resources"]["limits"]["memory"])
    budget = cfg.get("limits", {}).get("memory_mb", 256)
    check(limit >= budget * 1.25, f"memory limit {limit:.0f} MiB leaves headroom above limits.memory_mb {budget}")
    check(pod["serviceAccountName"] in {n for k, n in objects if k == "ServiceAccount"}, "service account exists")
    sa = objects[("ServiceAccount", pod["serviceAccountName"])]
    check("eks.amazonaws.com/role-arn" in sa["metadata"].get("annotations", {}), "service account has an IRSA role")
    mounted = {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v}
    check(config_map["metadata"]["name"] in mounted, "the ConfigMap is mounted")
    config_path = next(a for a in container["args"] if a.endswith(".toml"))
    mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "config")
    check(config_path == os.path.join(mount, "trailship.toml"), "--config points into the mounted ConfigMap")

    scaled = objects[("ScaledObject", "trailship")]
    check(scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"], "KEDA scales this Deployment")
    trigger = scaled["spec"]["triggers"][0]
    check(trigger["metadata"]["queueURL"] == cfg["sqs"]["queue_url"], "KEDA watches the configured queue")
    auth = trigger["authenticationRef"]["name"]
    check(("TriggerAuthentication", auth) in objects, f"TriggerAuthentication {auth} exists")
    namespaces = {o["metadata"].get("namespace") for o in objects.values() if o["kind"] != "Namespace"}
    check(namespaces == {n for k, n in objects if k == "Namespace"}, "every object is in the shipped namespace")

    # trailship itself validates the configuration (exit 2 on a bad key or value): an ingest
    # of an empty directory to /dev/null reads nothing else.
    with tempfile.TemporaryDirectory() as tmp:
        path, empty = os.path.join(tmp, "trailship.toml"), os.path.join(tmp, "empty")
        open(path, "w").write(toml_text)
        os.mkdir(empty)
        run = subprocess.run([binary, "ingest", "--config", path, "--output", "/dev/null", empty], capture_output=True, text=True)
        detail = "" if run.returncode == 0 else f": {run.stderr.strip()}"
        check(run.returncode == 0, f"trailship accepts the ConfigMap's configuration{detail}")

    for f in sorted(glob.glob(os.path.join(ROOT, "deploy", "iam", "*-policy.json"))):
        findings = analyze_policy_string(open(f).read()).findings
        check(not findings, f"parliament {os.path.basename(f)}: {[(x.issue, x.detail) for x in findings] or 'clean'}")
    data_access = json.load(open(os.path.join(ROOT, "deploy", "iam", "aoss-data-access.json")))
    perms = {p for rule in data_access[0]["Rules"] for p in rule["Permission"]}
    check(all(p.startswith("aoss:") for p in perms), "aoss data access policy names aoss permissions")

    if problems:
        print(f"{len(problems)} problem(s)")
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
