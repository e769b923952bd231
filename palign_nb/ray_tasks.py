"""One chapter as a Ray task of ``palign-run``, and following the tasks until they end.

:func:`execute` is the task's body (one papermill execution); :func:`wait_for_tasks` prints a
line as each task ends and collects the failed ones, each with its error and the subject it was
working on (:func:`failed_at`); :func:`report_failures` names them at the end of the run.
:mod:`palign_nb.ray_run` submits the tasks.

Introduced in :doc:`/book/full_scale`.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from .run_plan import Task, store_path


def execute(
    notebook: str,
    output: str,
    parameters: dict,
    copies: list,
    threads: int,
    *after: Any,
) -> float:
    """Run one chapter with papermill (the Ray task's body); returns its seconds."""
    import papermill as pm

    for source, target in copies:
        if Path(source).exists() and not Path(target).exists():
            shutil.copytree(source, target)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(
        notebook,
        output,
        parameters=parameters,
        kernel_name="python3",
        cwd=str(Path(notebook).parent),
        progress_bar=False,
        log_output=False,
    )
    return time.perf_counter() - start


def wait_for_tasks(ray: Any, labels: dict, start: float) -> list[Task]:
    """Wait for the tasks, printing a line as each ends; returns the tasks that failed."""
    failed = []
    pending = list(labels)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        task = labels[done[0]]
        try:
            seconds = ray.get(done[0])
            print(
                f"{time.perf_counter() - start:7.1f}s  {task.label} done in {seconds:.1f} s"
            )
        # the chapter's own error, or an earlier chapter of its shard failed
        except Exception as err:
            task.error = _first_line(err) + failed_at(task)
            failed.append(task)
            print(
                f"{time.perf_counter() - start:7.1f}s  {task.label} FAILED: {task.error}"
            )
    return failed


def failed_at(task: Task) -> str:
    """`` (at subject S of loop L)`` for each subject the task's chapter was working on when it failed or was
    killed (the marks its per-subject loops leave in the store), or nothing when it failed outside a loop."""
    from .checkpoints import in_flight

    results_dir = task.parameters.get("results_dir")
    if not results_dir:
        return ""
    marks = [
        m
        for inventory in ("ipip", "sd3")
        for m in in_flight(store_path(task.parameters, Path(results_dir), inventory))
        if m["chapter"][:2] == task.chapter
    ]
    return "".join(f" (at subject {m['subject']} of loop {m['loop']})" for m in marks)


def _first_line(err: Exception) -> str:
    cause = getattr(err, "cause", None) or err
    lines = [
        ln.strip()
        for ln in str(cause).splitlines()
        if ln.strip() and not set(ln.strip()) <= {"-"}
    ]
    named = [ln for ln in lines if "Error" in ln or "Exception" in ln]
    return (named[-1] if named else lines[-1] if lines else type(err).__name__)[:300]


def report_failures(failed: list[Task], out: Path) -> None:
    """Name each task that failed for good, with its error and its executed copy."""
    print(
        "palign-run: these tasks failed for good (the others finished and will not run again):"
    )
    for task in failed:
        print(f"  {task.label}: {task.error}  (run: {task.output.relative_to(out)})")
