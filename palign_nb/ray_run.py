"""``palign-run``: every chapter for one parameter file, over a Ray cluster, the subjects split into shards.

The unit of work is one papermill execution of one chapter (so every executed copy can be rendered
into the book with ``make book-from-runs``). The work forms a graph:

* ``01`` then ``02`` once, into the *base* store (the inventories, the splits and the run's subjects);
* per shard of the subjects, ``03`` to ``07`` in order, on a copy of the base store. Shard 0's
  chapter 04 captures the subject-independent contrast activations; every other shard's 04 waits for
  it and starts from that cache, so the capture runs once;
* per shard of the Dark Triad's subjects (chapter 08 picks them: :func:`palign_nb.splits.sd3_design`),
  ``08``, alongside the Big Five chain. Each shard captures the 27 items' activations itself; the
  merge requires the captures to be identical, so run every shard on one kind of device;
* when every shard has finished: the shard stores merged with :func:`palign_nb.merging.merge_stores`
  (one store per inventory), then ``09`` and ``10`` once on the merged store.

Each task asks Ray for ``--gpus-per-task`` GPUs (default: 1 where the cluster has GPUs, else 0) and
``--cpus-per-task`` CPUs. ``ray.init()`` starts a local cluster (every GPU of the machine, or CPU
workers) unless ``--address`` joins an existing one. A chapter whose executed copy already finished
without an error is not run again, so rerunning the same command resumes. Inside a chapter, every
per-subject loop keeps each subject as it finishes (:mod:`palign_nb.checkpoints`): a failing task is
retried (``--retries``) and its chapter skips the subjects already done, so the retry recomputes the
subject that failed, not the shard, and a worker killed mid-chapter loses at most the subject in
flight. A task that still fails is named at the end with its error and the subject it was working
on, while the other shards finish.

The graph itself (which chapter runs where, after what) is planned by :mod:`palign_nb.run_plan`.

Introduced in :doc:`/book/full_scale`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .errors import PalignError
from .paths import repo_root
from .ray_tasks import execute, report_failures, wait_for_tasks
from .run_plan import (
    AFTER,
    DARK_TRIAD,
    PER_SHARD,
    STAGES,
    Task,
    chapter_notebooks,
    check_parameters,
    check_store_model,
    finished,
    given,
    plan,
    sd3_subjects,
    shared_tasks,
    store_path,
)


def merge(params: dict[str, Any], out: Path, n_shards: int) -> Path:
    """Merge the shard stores (and the Dark Triad store) into ``out/results/merged``, anew each time."""
    from .merging import merge_stores

    results = out / "results"
    merged = results / "merged"
    shutil.rmtree(merged, ignore_errors=True)
    for inventory in ("ipip", "sd3"):
        parts = [
            store_path(params, results / f"shard-{k}", inventory)
            for k in range(n_shards)
        ]
        parts = [p for p in parts if p.exists()]
        target = store_path(params, merged, inventory)
        target.parent.mkdir(parents=True, exist_ok=True)
        if len(parts) == 1:
            shutil.copytree(parts[0], target)
        elif parts:
            merge_stores(parts, target)
    return merged


def book_runs(out: Path, chapters: dict[str, Path]) -> Path:
    """``out/book``: one executed copy per chapter (shard 0's for 03-08), for ``make book-from-runs RUNS=...``."""
    book = out / "book"
    shutil.rmtree(book, ignore_errors=True)
    book.mkdir(parents=True)
    for number, path in chapters.items():
        where = {"shard": "shard-0", "dark_triad": "shard-0", "merged": "merged"}.get(
            STAGES[number].scope, "base"
        )
        run = out / "runs" / where / path.name
        if run.exists():
            shutil.copy2(run, book / path.name)
    return book


def run(args: argparse.Namespace) -> int:
    import ray

    params = yaml.safe_load(Path(args.params).read_text()) or {}
    chapters = chapter_notebooks(Path(args.notebooks))
    declared = check_parameters(params, chapters)
    if args.chapters:
        wanted = {c.strip().zfill(2) for c in args.chapters.split(",")}
        chapters = {n: p for n, p in chapters.items() if n in wanted}
    n_run = (
        args.subjects or params.get("n_subjects") or declared["02"].get("n_subjects")
    )
    params = params | {"n_subjects": n_run}
    out = Path(args.out).resolve()
    check_store_model(params, out / "results")

    context = ray.init(
        address=args.address,
        num_cpus=args.num_cpus if not args.address else None,
        include_dashboard=args.dashboard,
        log_to_driver=False,
    )
    try:
        total_gpus = ray.cluster_resources().get("GPU", 0)
        gpus = (
            args.gpus_per_task
            if args.gpus_per_task is not None
            else (1.0 if total_gpus else 0.0)
        )
        if gpus > total_gpus:
            raise PalignError(
                f"--gpus-per-task {gpus} but the Ray cluster has {total_gpus:g} GPU(s). Ask for fewer, "
                "or join a cluster with GPUs (--address)."
            )
        if str(params.get("device", "auto")).startswith("cuda") and not total_gpus:
            raise PalignError(
                "The parameter file asks for device=cuda, but the Ray cluster has no GPU."
            )
        if args.shards is None:  # one shard per task the cluster can run at once
            slots = (
                total_gpus / gpus
                if gpus
                else ray.cluster_resources().get("CPU", 1) / args.cpus_per_task
            )
            args.shards = max(1, min(int(slots), int(params["n_subjects"])))
        url = getattr(context, "dashboard_url", None)
        print(
            f"palign-run: Ray cluster with {ray.cluster_resources().get('CPU', 0):g} CPUs and {total_gpus:g} GPUs"
            + (f"; dashboard http://{url}" if url else "")
        )
        return _execute(ray, args, params, declared, chapters, out, gpus)
    finally:
        ray.shutdown()


def _execute(ray, args, params, declared, chapters, out, gpus) -> int:
    remote = ray.remote(execute).options(
        num_cpus=args.cpus_per_task,
        num_gpus=gpus,
        max_retries=args.retries,
        retry_exceptions=True,
    )
    threads = max(1, int(args.cpus_per_task))
    start = time.perf_counter()
    subjects = _run_subjects(ray, params, declared, chapters, out, remote, threads)
    picker = next((n for n in DARK_TRIAD if n in chapters), None)
    dark_triad = (
        sd3_subjects(params, declared[picker], params["n_subjects"]) if picker else None
    )
    tasks = plan(params, declared, chapters, out, subjects, args.shards, dark_triad)
    refs, labels, ran = {}, {}, False
    for task in tasks:
        if finished(task.output):
            print(
                f"{'':>8}  {task.label}: already done ({task.output.relative_to(out)})"
            )
            continue
        deps = [refs[a] for a in task.after if a in refs]
        ref = remote.remote(
            str(chapters[task.chapter]),
            str(task.output),
            task.parameters,
            [(str(a), str(b)) for a, b in task.copies],
            threads,
            *deps,
        )
        refs[task.label], labels[ref] = ref, task
        ran = True
    failed = wait_for_tasks(ray, labels, start)
    if failed:
        report_failures(failed, out)
        return 1
    if any(n in chapters for n in (*PER_SHARD, *DARK_TRIAD)):
        merged = merge(params, out, args.shards)
        print(
            f"{time.perf_counter() - start:7.1f}s  merged the shard stores into {merged.relative_to(out)}"
        )
        for number in (n for n in AFTER if n in chapters):
            output = out / "runs" / "merged" / chapters[number].name
            if finished(output) and not ran:
                print(f"{'':>8}  {number} (merged): already done")
                continue
            parameters = given(
                params,
                declared[number],
                {"results_dir": str(merged), "subjects": subjects},
            )
            ref = remote.remote(
                str(chapters[number]), str(output), parameters, [], threads
            )
            failed = wait_for_tasks(
                ray,
                {ref: Task(f"{number} (merged)", number, output, parameters)},
                start,
            )
            if failed:
                report_failures(failed, out)
                return 1
    book = book_runs(out, chapters)
    print(
        f"palign-run: done in {time.perf_counter() - start:.0f} s; executed chapters for the book in {book} "
        f"(make book-from-runs RUNS={book})"
    )
    return 0


def _run_subjects(ray, params, declared, chapters, out, remote, threads) -> list:
    """Run 01 and 02 (unless done) and read the run's subjects from the splits chapter 02 wrote."""
    import json

    start = time.perf_counter()
    for task in shared_tasks(params, declared, chapters, out):
        if finished(task.output):
            print(f"{'':>8}  {task.label}: already done")
            continue
        seconds = ray.get(
            remote.remote(
                str(chapters[task.chapter]),
                str(task.output),
                task.parameters,
                [],
                threads,
            )
        )
        print(
            f"{time.perf_counter() - start:7.1f}s  {task.label} done in {seconds:.1f} s"
        )
    path = store_path(params, out / "results" / "base") / "splits.json"
    if not path.exists():
        raise PalignError(
            f"No splits at {path}: chapter 02 has not run into this --out folder; include 02 in --chapters."
        )
    return list(json.loads(path.read_text())["subjects"][: params["n_subjects"]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="palign-run", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "-f",
        "--params",
        required=True,
        help="papermill parameter file (e.g. params/gpu.yaml)",
    )
    parser.add_argument(
        "--subjects",
        type=int,
        default=None,
        help="subjects of the run (default: the file's n_subjects)",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=None,
        help="shards of the subjects (default: one per worker)",
    )
    parser.add_argument(
        "--chapters", default=None, help="only these chapters, e.g. 01,02,03"
    )
    parser.add_argument(
        "--out", default="runs/scale", help="executed chapters and stores go here"
    )
    parser.add_argument(
        "--address",
        default=None,
        help="join this Ray cluster (default: start a local one)",
    )
    parser.add_argument(
        "--num-cpus",
        type=int,
        default=None,
        help="CPUs of the local cluster (default: all)",
    )
    parser.add_argument("--cpus-per-task", type=float, default=1.0)
    parser.add_argument(
        "--gpus-per-task",
        type=float,
        default=None,
        help="default: 1 where the cluster has GPUs, else 0",
    )
    parser.add_argument(
        "--retries", type=int, default=1, help="retries of a failing task"
    )
    parser.add_argument(
        "--dashboard",
        action="store_true",
        help="start Ray's dashboard (needs ray[default])",
    )
    parser.add_argument(
        "--notebooks", default=str(repo_root() / "notebooks"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    try:
        return run(args)
    except PalignError as err:
        print(f"palign-run: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
