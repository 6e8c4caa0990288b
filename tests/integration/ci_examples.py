#!/usr/bin/env python3
"""Runs the jobs of examples/ci's pipelines as their CI would run their shell steps.

ci_examples.py github WORKFLOW EVENT REPO SHA   runs the jobs of a GitHub Actions workflow whose
    `if:` holds for EVENT (pull_request or push), each `run:` step with `bash -e` in REPO, with
    the workflow's, job's and step's env and the ${{ }} expressions kvz's example uses.
ci_examples.py gitlab PIPELINE SOURCE REPO SHA   runs the jobs of a .gitlab-ci.yml whose rules
    hold for SOURCE (merge_request_event or push), each script line with `bash -eo pipefail`.
`uses:` steps (checkout, artifacts) are done by the test itself. Exits with the first failed
step's status; prints each step's output.
"""
import os
import re
import subprocess
import sys

import yaml


def github(path, event, repo, sha):
    wf = yaml.safe_load(open(path))
    ctx = {
        "github.workspace": repo,
        "github.sha": sha,
        "github.event.pull_request.head.sha || github.sha": sha,
        "github.event.pull_request.head.sha": sha,
        "github.event.pull_request.number": "7",
        "github.token": "test-token",
        "github.event_name": event,
    }

    def expand(s):
        def sub(m):
            key = m.group(1).strip()
            if key not in ctx:
                sys.exit(f"unknown expression {key!r} in {path}")
            return ctx[key]
        return re.sub(r"\$\{\{(.*?)\}\}", sub, str(s))

    def holds(cond):
        m = re.fullmatch(r"github\.event_name == '(\w+)'", cond.strip())
        if not m:
            sys.exit(f"cannot evaluate if: {cond!r}")
        return m.group(1) == event

    base = {k: expand(v) for k, v in (wf.get("env") or {}).items()}
    ran = 0
    for name, job in wf["jobs"].items():
        if "if" in job and not holds(job["if"]):
            continue
        env = dict(base, **{k: expand(v) for k, v in (job.get("env") or {}).items()})
        for step in job["steps"]:
            if "run" not in step:
                continue
            senv = dict(os.environ, **env, **{k: expand(v) for k, v in (step.get("env") or {}).items()})
            print(f"--- {name}: {step.get('name', '')}", flush=True)
            st = subprocess.call(["bash", "-e", "-c", expand(step["run"])], cwd=repo, env=senv)
            if st:
                print(f"--- {name}: exit {st}", flush=True)
                return st
            ran += 1
    return 0 if ran else 99


def gitlab(path, source, repo, sha):
    pl = yaml.safe_load(open(path))
    ci = {
        "CI_PROJECT_DIR": repo,
        "CI_COMMIT_SHA": sha,
        "CI_PIPELINE_SOURCE": source,
        "CI_COMMIT_BRANCH": "main" if source == "push" else "",
        "CI_DEFAULT_BRANCH": "main",
        "CI_API_V4_URL": "https://gitlab.example.org/api/v4",
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "7",
        "KVZ_NOTE_TOKEN": "test-token",
    }

    def expand(s):
        return re.sub(r"\$\{?(\w+)\}?", lambda m: ci.get(m.group(1), env.get(m.group(1), m.group(0))), str(s))

    def holds(rules):
        for r in rules:
            cond = r["if"]
            ok = True
            for part in cond.split("&&"):
                m = re.fullmatch(r'\s*\$(\w+) == (?:"([^"]*)"|\$(\w+))\s*', part)
                if not m:
                    sys.exit(f"cannot evaluate rule {cond!r}")
                want = m.group(2) if m.group(2) is not None else ci.get(m.group(3), "")
                ok &= ci.get(m.group(1), "") == want
            if ok:
                return True
        return False

    env = {}
    env.update({k: expand(v) for k, v in (pl.get("variables") or {}).items()})
    ran = 0
    for name, job in pl.items():
        if not isinstance(job, dict) or "script" not in job or not holds(job.get("rules", [])):
            continue
        for line in job["script"]:
            print(f"--- {name}: {line[:60]}", flush=True)
            st = subprocess.call(["bash", "-eo", "pipefail", "-c", line], cwd=repo,
                                 env=dict(os.environ, **ci, **env))
            if st:
                print(f"--- {name}: exit {st}", flush=True)
                return st
            ran += 1
    return 0 if ran else 99


if __name__ == "__main__":
    kind, path, event, repo, sha = sys.argv[1:6]
    sys.exit((github if kind == "github" else gitlab)(path, event, repo, sha))
