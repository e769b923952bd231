"""The GitHub Actions workflows (.github/workflows/): valid, and calling the README's commands (seconds).

Validity is checked by the pinned `check-jsonschema` (requirements.txt) against its built-in, vendored
GitHub-workflow schema, so the check needs no network. The structural tests check that each workflow
runs what the README says: test.yml `make test`; book.yml `make book` with the execution cache and
results/ cached together, then GitHub Pages; gpu.yml, started by hand on a self-hosted GPU runner,
`make gpu-check`, `palign-run` through `make scale`, and `make book-from-runs` on what it uploaded.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))
CHECKER = Path(sys.executable).parent / "check-jsonschema"
SCHEMA = "vendor.github-workflows"
#: What the book's build cache is keyed on (the brief of issue 22, and the Makefile's `book` target).
KEYED_ON = [
    "notebooks/**",
    "palign_nb/**",
    "requirements.txt",
    "constraints.txt",
    "data/**",
    "_config.yml",
    "_toc.yml",
]


def check(*paths: Path) -> subprocess.CompletedProcess:
    if not CHECKER.exists():
        pytest.fail(
            f"{CHECKER} is missing: check-jsonschema is pinned in requirements.txt (run `make setup`)"
        )
    return subprocess.run(
        [str(CHECKER), "--builtin-schema", SCHEMA, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"NO_COLOR": "1"},
    )


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict) -> dict:
    """The `on:` block as a dict (PyYAML reads the key `on` as True)."""
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {event: None for event in on}
    return on


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def runs(job: dict) -> list[str]:
    return [s["run"] for s in steps(job) if "run" in s]


def step_running(job: dict, pattern: str) -> int:
    """Index of the first step whose `run` has a line matching ``pattern`` (the whole line)."""
    for i, s in enumerate(steps(job)):
        if "run" in s and re.search(rf"^\s*{pattern}\s*$", s["run"], re.M):
            return i
    raise AssertionError(f"no step runs `{pattern}`: {runs(job)}")


def step_using(job: dict, action: str) -> tuple[int, dict]:
    for i, s in enumerate(steps(job)):
        if s.get("uses", "").split("@")[0] == action:
            return i, s
    raise AssertionError(
        f"no step uses {action}: {[s.get('uses') for s in steps(job)]}"
    )


def paths(step: dict) -> list[str]:
    return [
        p.strip().rstrip("/")
        for p in str(step["with"]["path"]).splitlines()
        if p.strip()
    ]


def labels(job: dict) -> list[str]:
    runs_on = job["runs-on"]
    return [runs_on] if isinstance(runs_on, str) else list(runs_on)


# ---------------------------------------------------------------------------- the schema


def test_the_three_workflows_exist():
    assert {p.name for p in FILES} == {"test.yml", "book.yml", "gpu.yml"}, [
        p.name for p in FILES
    ]


def test_workflows_are_valid_github_workflows():
    result = check(*FILES)
    assert result.returncode == 0, result.stdout + result.stderr


BROKEN = {
    "no_runs_on": "on: push\njobs:\n  test:\n    steps:\n      - run: make test\n",
    "steps_as_a_string": "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps: make test\n",
    "unknown_trigger": "on: pushed\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make test\n",
}
VALID = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make test\n"


def test_the_checker_rejects_broken_workflows(tmp_path):
    """The checker can fail: each broken file is named in its report, the valid one beside them is not."""
    for name, text in BROKEN.items():
        (tmp_path / f"{name}.yml").write_text(text)
    (tmp_path / "valid.yml").write_text(VALID)
    result = check(*sorted(tmp_path.glob("*.yml")))
    report = result.stdout + result.stderr
    assert result.returncode == 1, report
    for name in BROKEN:
        assert f"{name}.yml::" in report, f"{name}: not rejected\n{report}"
    assert "valid.yml::" not in report, report


def test_actions_are_pinned_to_a_major_version():
    for path in FILES:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for s in steps(job):
                if "uses" in s:
                    assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", s["uses"]), (
                        f"{path.name}: pin {s['uses']} to @vN"
                    )


def test_make_targets_the_workflows_run_exist():
    makefile = (ROOT / "Makefile").read_text()
    phony = set(re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split())
    for path in FILES:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for target in re.findall(r"\bmake ([a-z][\w-]*)", "\n".join(runs(job))):
                assert target in phony, (
                    f"{path.name} runs `make {target}`, which the Makefile does not define"
                )


# ---------------------------------------------------------------------------- test.yml


def test_test_workflow_runs_make_test_on_every_push():
    wf = load("test.yml")
    assert {"push", "pull_request"} <= set(triggers(wf))
    assert not (triggers(wf)["push"] or {}).get("branches"), (
        "run the tests on a push to any branch"
    )
    (job,) = wf["jobs"].values()
    assert any(label.startswith("ubuntu") for label in labels(job))
    assert 0 < job["timeout-minutes"] <= 120
    _, python = step_using(job, "actions/setup-python")
    assert str(python["with"]["python-version"]) == "3.11"
    assert "make test" in [r.strip() for r in runs(job)], (
        "run exactly the README's `make test`"
    )
    test = step_running(job, "make test")
    i, upload = step_using(job, "actions/upload-artifact")
    assert i > test and paths(upload) == ["test-artifacts"]
    assert re.search(r"always\(\)|failure\(\)", upload["if"])


# ---------------------------------------------------------------------------- book.yml


def test_book_workflow_builds_with_the_cache_and_results_together():
    wf = load("book.yml")
    on = triggers(wf)
    assert on["push"]["branches"] == ["main"] and "workflow_dispatch" in on
    build = wf["jobs"]["build"]
    i, cache = step_using(build, "actions/cache")
    assert {"_build/.jupyter_cache", "results"} <= set(paths(cache)), (
        "cache the execution cache and results/ as one entry"
    )
    key = cache["with"]["key"]
    assert set(
        re.findall(r"'([^']+)'", " ".join(re.findall(r"hashFiles\(([^)]*)\)", key)))
    ) == set(KEYED_ON)
    prefixes = [
        p.strip() for p in cache["with"]["restore-keys"].splitlines() if p.strip()
    ]
    assert prefixes and all(key.startswith(p) and p != key for p in prefixes), (
        "restore-keys: prefixes of the key"
    )
    assert "notebooks/**" in key[len(prefixes[0]) :], (
        "a restored cache must come from the same package, pins and data"
    )
    book = step_running(build, "make book")
    assert i < book
    j, pages = step_using(build, "actions/upload-pages-artifact")
    assert j > book and paths(pages) == ["_build/html"]


def test_book_workflow_deploys_to_pages():
    wf = load("book.yml")
    deploy = wf["jobs"]["deploy"]
    assert deploy["needs"] == "build" or "build" in deploy["needs"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert (
        deploy["concurrency"]["group"] == "pages"
        and deploy["concurrency"]["cancel-in-progress"] is False
    )
    step_using(deploy, "actions/deploy-pages")
    assert "pages" not in wf.get("permissions", {}), (
        "only the deploy job may write to Pages"
    )


# ---------------------------------------------------------------------------- gpu.yml


def palign_run_flags() -> set[str]:
    """The options palign-run's parser declares (read from its source, without importing ray or torch)."""
    tree = ast.parse((ROOT / "palign_nb" / "ray_run.py").read_text())
    return {
        a.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", "") == "add_argument"
        for a in node.args
        if isinstance(a, ast.Constant) and str(a.value).startswith("-")
    }


def test_gpu_workflow_is_manual_on_a_self_hosted_gpu_runner():
    wf = load("gpu.yml")
    on = triggers(wf)
    assert set(on) == {"workflow_dispatch"}, "the GPU workflow is started by hand only"
    inputs = on["workflow_dispatch"]["inputs"]
    assert (
        inputs["params"]["default"] == "params/gpu.yaml"
        and (ROOT / "params" / "gpu.yaml").exists()
    )
    assert {"subjects", "shards"} <= set(inputs)
    job = wf["jobs"]["run"]
    assert {"self-hosted", "gpu"} <= set(labels(job))
    check_step = step_running(job, "make gpu-check")
    scale = next(
        i
        for i, s in enumerate(steps(job))
        if re.search(r"^\s*make scale\b", s.get("run", ""), re.M)
    )
    assert check_step < scale
    command = steps(job)[scale]["run"]
    assert "PARAMS=" in command and "ARGS=" in command
    used = set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", command))
    assert {"--subjects", "--shards", "--out"} <= used and used <= palign_run_flags(), (
        used - palign_run_flags()
    )
    # palign-run writes the executed chapters for the book into <out>/book; that folder is uploaded.
    out = re.search(r"--out ([^\s\"']+)", command).group(1)
    i, upload = next(
        (i, s)
        for i, s in enumerate(steps(job))
        if s.get("uses", "").startswith("actions/upload-artifact")
        and f"{out}/book" in paths(s)
    )
    assert i > scale and "runs/gpu_check.json" in paths(upload)


def test_gpu_workflow_renders_the_uploaded_chapters_on_the_cpu():
    wf = load("gpu.yml")
    run_job = wf["jobs"]["run"]
    upload = next(
        s
        for s in steps(run_job)
        if s.get("uses", "").startswith("actions/upload-artifact") and "if" not in s
    )
    render = next(
        j for j in wf["jobs"].values() if any("book-from-runs" in r for r in runs(j))
    )
    assert render["needs"] == "run" or "run" in render["needs"]
    assert any(label.startswith("ubuntu") for label in labels(render))
    _, download = step_using(render, "actions/download-artifact")
    assert download["with"]["name"] == upload["with"]["name"]
    # upload-artifact roots a multi-path artifact at the paths' longest common folder.
    uploaded = [PurePosixPath(p) for p in paths(upload)]
    root = PurePosixPath(
        os.path.commonpath([str(p.parent) if p.suffix else str(p) for p in uploaded])
    )
    book = next(p for p in uploaded if p.name == "book")
    expected = PurePosixPath(download["with"]["path"]) / book.relative_to(root)
    step_running(render, rf"make book-from-runs RUNS={re.escape(str(expected))}")
    assert any(
        s.get("uses", "").startswith("actions/upload-artifact")
        and paths(s) == ["_build/runs/_build/html"]
        for s in steps(render)
    ), (
        "upload the rendered book (tools/book_from_runs.py writes _build/runs/_build/html)"
    )
