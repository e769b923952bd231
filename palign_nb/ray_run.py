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

Introduced in :doc:`/book/full_scale`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml

from .config import RunConfig
from .context import declared_parameters
from .errors import PalignError
from .models import EMBEDDED_ID
from .paths import repo_root



@dataclass(frozen=True)
class Stage:
    """How palign-run runs one chapter: where in the graph (``scope``) and what its shards share."""

    scope: str  # "once": into the base store, before any shard; "shard": per Big Five shard, in order;
    #             "dark_triad": per Dark Triad shard; "merged": once, on the merged stores
    shares: str | None = None  # a store folder shard 0 computes and every other shard copies (computed once)


#: Every chapter's place in the run, the one table the planner reads.
STAGES: dict[str, Stage] = {
    "01": Stage("once"), "02": Stage("once"),
    "03": Stage("shard"), "04": Stage("shard", shares="activations"), "05": Stage("shard"), "06": Stage("shard"),
    "07": Stage("shard"),
    "08": Stage("dark_triad"),
    "09": Stage("merged"), "10": Stage("merged"),
}
SHARED, PER_SHARD, DARK_TRIAD, AFTER = (tuple(n for n, s in STAGES.items() if s.scope == scope)
                                        for scope in ("once", "shard", "dark_triad", "merged"))
#: Chapter parameters that count subjects of the whole run; a shard gets its share (at least 1).
PER_RUN_COUNTS = ("efficiency_subjects",)


def chapter_notebooks(folder: Path) -> dict[str, Path]:
    """The chapters by number, ``{"01": .../01_inventories.ipynb, ...}``; each must have a place in :data:`STAGES`."""
    chapters = {p.name[:2]: p for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))}
    unplaced = [p.name for n, p in chapters.items() if n not in STAGES]
    if unplaced:
        raise PalignError(f"{', '.join(unplaced)}: no place in the run (palign_nb.ray_run.STAGES lists chapters "
                          f"{', '.join(STAGES)}). Add the chapter's stage there.")
    return chapters


def finished(run: Path) -> bool:
    """Whether ``run`` is an executed chapter that stopped on no error."""
    if not run.exists():
        return False
    nb = nbformat.read(run, as_version=4)
    if nb.metadata.get("papermill", {}).get("exception"):
        return False
    return not any(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def store_path(params: dict[str, Any], results_dir: Path, inventory: str = "ipip") -> Path:
    """The store folder the chapters use for these parameters (results/<model>/<inventory>)."""
    return RunConfig(model_id=params.get("model_id", EMBEDDED_ID), inventory=inventory,
                     results_dir=str(results_dir)).results_path


def shard_subjects(subjects: list, n_shards: int) -> list[list]:
    """Contiguous, near-equal slices of the run's subjects (order kept)."""
    if not 1 <= n_shards <= len(subjects):
        raise PalignError(f"--shards {n_shards} must lie between 1 and the number of subjects ({len(subjects)}).")
    size, extra = divmod(len(subjects), n_shards)
    bounds = [0]
    for k in range(n_shards):
        bounds.append(bounds[-1] + size + (k < extra))
    return [subjects[bounds[k]:bounds[k + 1]] for k in range(n_shards)]


def shard_counts(params: dict[str, Any], shards: list[list], n_run: int) -> list[dict[str, int]]:
    """Per-run counts split over the shards: shard k gets the subjects it holds among the run's first ``count``."""
    out = [{} for _ in shards]
    start = 0
    for k, part in enumerate(shards):
        for name in PER_RUN_COUNTS:
            if name in params:
                count = min(int(params[name]), n_run)
                out[k][name] = max(1, min(len(part), count - start))
        start += len(part)
    return out


@dataclass
class Task:
    """One papermill execution: chapter, where it writes, what it waits for and what it copies first."""

    label: str
    chapter: str
    output: Path
    parameters: dict[str, Any]
    shard: int | None = None
    after: list[str] = field(default_factory=list)
    copies: list[tuple[Path, Path]] = field(default_factory=list)  # (from, to), done only if `to` is missing
    error: str = ""


def execute(notebook: str, output: str, parameters: dict, copies: list, threads: int, *after: Any) -> float:
    """Run one chapter with papermill (the Ray task's body); returns its seconds."""
    import papermill as pm

    for source, target in copies:
        if Path(source).exists() and not Path(target).exists():
            shutil.copytree(source, target)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(notebook, output, parameters=parameters, kernel_name="python3", cwd=str(Path(notebook).parent),
                        progress_bar=False, log_output=False)
    return time.perf_counter() - start


def check_parameters(params: dict[str, Any], chapters: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Each chapter's declared parameters; refuses a parameter file naming one no chapter declares."""
    declared = {number: declared_parameters(path) for number, path in chapters.items()}
    known = set().union(*declared.values())
    unknown = sorted(set(params) - known)
    if unknown:
        raise PalignError(f"The parameter file names {unknown}, which no chapter declares. Check the spelling against "
                          "the chapters' parameters cells (`papermill --help-notebook notebooks/NN_x.ipynb`).")
    return declared


def check_store_model(params: dict[str, Any], results: Path) -> None:
    """Refuse to resume into a results folder that holds another model's stores."""
    model = store_path(params, results / "base").parent.name
    for part in sorted(results.glob("*")):
        if part.is_dir():
            others = sorted(p.name for p in part.iterdir() if p.is_dir() and p.name != model)
            if others:
                raise PalignError(f"{part} holds results of another model ({', '.join(others)}), not {model}. "
                                  "Give palign-run another --out folder, or delete that one.")


def sd3_subjects(params: dict[str, Any], declared: dict[str, Any], n_run: int) -> list[int]:
    """The Dark Triad subjects chapter 08 runs on for these parameters (its setting's first ``n_run``)."""
    from .data import load_sd3
    from .splits import sd3_design

    p = declared | params
    subjects = sd3_design(p["sd3_setting"], load_sd3(), kmeans_k=p["kmeans_k"], known_per_trait=p["sd3_known_per_trait"],
                          seed=p["seed"])[0]
    return [int(s) for s in subjects[:n_run]]


def given(params: dict[str, Any], declared: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The run's parameters plus ``extra``, restricted to those a chapter declares."""
    return {k: v for k, v in (params | extra).items() if k in declared}


def shared_tasks(params: dict[str, Any], declared: dict[str, dict], chapters: dict[str, Path], out: Path) -> list[Task]:
    """Chapters 01 and 02, once, into the base store (run in order before any shard starts)."""
    base = {"results_dir": str(out / "results" / "base")}
    return [Task(f"{number} (once)", number, out / "runs" / "base" / chapters[number].name,
                 given(params, declared[number], base)) for number in SHARED if number in chapters]


def plan(params: dict[str, Any], declared: dict[str, dict], chapters: dict[str, Path], out: Path,
         subjects: list, n_shards: int, dark_triad: list | None = None) -> list[Task]:
    """The shards' tasks, each after what it waits for (the shared chapters have run by then)."""
    runs, results = out / "runs", out / "results"
    tasks = []
    shards = shard_subjects(subjects, n_shards)
    counts = shard_counts(params, shards, len(subjects))
    base_store = store_path(params, results / "base")
    first_of = {}  # shared folder -> shard 0's task that computes it
    for k, part in enumerate(shards):
        shard_dir = results / f"shard-{k}"
        extra = {"results_dir": str(shard_dir), "n_subjects": len(part), "subjects": part, **counts[k]}
        previous = None
        for number in PER_SHARD:
            if number not in chapters:
                continue
            task = Task(f"{number} shard {k}", number, runs / f"shard-{k}" / chapters[number].name,
                        given(params, declared[number], extra), shard=k, after=[previous] if previous else [])
            if previous is None:  # the shard's first chapter forks the base store
                task.copies.append((base_store, store_path(params, shard_dir)))
            shared = STAGES[number].shares
            if shared and k == 0:
                first_of[shared] = task.label
            elif shared and shared in first_of:
                task.after.append(first_of[shared])
                task.copies.append((store_path(params, results / "shard-0") / shared, store_path(params, shard_dir) / shared))
            tasks.append(task)
            previous = task.label
    for number in (n for n in DARK_TRIAD if n in chapters and dark_triad):
        for k, part in enumerate(shard_subjects(dark_triad, n_shards)):
            extra = {"results_dir": str(results / f"shard-{k}"), "n_subjects": len(part), "subjects": part}
            tasks.append(Task(f"{number} shard {k}", number, runs / f"shard-{k}" / chapters[number].name,
                              given(params, declared[number], extra), shard=k))
    return tasks


def merge(params: dict[str, Any], out: Path, n_shards: int) -> Path:
    """Merge the shard stores (and the Dark Triad store) into ``out/results/merged``, anew each time."""
    from .merging import merge_stores

    results = out / "results"
    merged = results / "merged"
    shutil.rmtree(merged, ignore_errors=True)
    for inventory in ("ipip", "sd3"):
        parts = [store_path(params, results / f"shard-{k}", inventory) for k in range(n_shards)]
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
        where = {"shard": "shard-0", "dark_triad": "shard-0", "merged": "merged"}.get(STAGES[number].scope, "base")
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
    n_run = args.subjects or params.get("n_subjects") or declared["02"].get("n_subjects")
    params = params | {"n_subjects": n_run}
    out = Path(args.out).resolve()
    check_store_model(params, out / "results")

    context = ray.init(address=args.address, num_cpus=args.num_cpus if not args.address else None,
                       include_dashboard=args.dashboard, log_to_driver=False)
    try:
        total_gpus = ray.cluster_resources().get("GPU", 0)
        gpus = args.gpus_per_task if args.gpus_per_task is not None else (1.0 if total_gpus else 0.0)
        if gpus > total_gpus:
            raise PalignError(f"--gpus-per-task {gpus} but the Ray cluster has {total_gpus:g} GPU(s). Ask for fewer, "
                              "or join a cluster with GPUs (--address).")
        if str(params.get("device", "auto")).startswith("cuda") and not total_gpus:
            raise PalignError("The parameter file asks for device=cuda, but the Ray cluster has no GPU.")
        if args.shards is None:  # one shard per task the cluster can run at once
            slots = total_gpus / gpus if gpus else ray.cluster_resources().get("CPU", 1) / args.cpus_per_task
            args.shards = max(1, min(int(slots), int(params["n_subjects"])))
        url = getattr(context, "dashboard_url", None)
        print(f"palign-run: Ray cluster with {ray.cluster_resources().get('CPU', 0):g} CPUs and {total_gpus:g} GPUs"
              + (f"; dashboard http://{url}" if url else ""))
        return _execute(ray, args, params, declared, chapters, out, gpus)
    finally:
        ray.shutdown()


def _execute(ray, args, params, declared, chapters, out, gpus) -> int:
    remote = ray.remote(execute).options(num_cpus=args.cpus_per_task, num_gpus=gpus, max_retries=args.retries,
                                         retry_exceptions=True)
    threads = max(1, int(args.cpus_per_task))
    start = time.perf_counter()
    subjects = _run_subjects(ray, params, declared, chapters, out, remote, threads)
    picker = next((n for n in DARK_TRIAD if n in chapters), None)
    dark_triad = sd3_subjects(params, declared[picker], params["n_subjects"]) if picker else None
    tasks = plan(params, declared, chapters, out, subjects, args.shards, dark_triad)
    refs, labels, ran = {}, {}, False
    for task in tasks:
        if finished(task.output):
            print(f"{'':>8}  {task.label}: already done ({task.output.relative_to(out)})")
            continue
        deps = [refs[a] for a in task.after if a in refs]
        ref = remote.remote(str(chapters[task.chapter]), str(task.output), task.parameters,
                            [(str(a), str(b)) for a, b in task.copies], threads, *deps)
        refs[task.label], labels[ref] = ref, task
        ran = True
    failed = _wait(ray, labels, start)
    if failed:
        _report(failed, out)
        return 1
    if any(n in chapters for n in (*PER_SHARD, *DARK_TRIAD)):
        merged = merge(params, out, args.shards)
        print(f"{time.perf_counter() - start:7.1f}s  merged the shard stores into {merged.relative_to(out)}")
        for number in (n for n in AFTER if n in chapters):
            output = out / "runs" / "merged" / chapters[number].name
            if finished(output) and not ran:
                print(f"{'':>8}  {number} (merged): already done")
                continue
            parameters = given(params, declared[number], {"results_dir": str(merged), "subjects": subjects})
            ref = remote.remote(str(chapters[number]), str(output), parameters, [], threads)
            failed = _wait(ray, {ref: Task(f"{number} (merged)", number, output, parameters)}, start)
            if failed:
                _report(failed, out)
                return 1
    book = book_runs(out, chapters)
    print(f"palign-run: done in {time.perf_counter() - start:.0f} s; executed chapters for the book in {book} "
          f"(make book-from-runs RUNS={book})")
    return 0


def _run_subjects(ray, params, declared, chapters, out, remote, threads) -> list:
    """Run 01 and 02 (unless done) and read the run's subjects from the splits chapter 02 wrote."""
    import json

    start = time.perf_counter()
    for task in shared_tasks(params, declared, chapters, out):
        if finished(task.output):
            print(f"{'':>8}  {task.label}: already done")
            continue
        seconds = ray.get(remote.remote(str(chapters[task.chapter]), str(task.output), task.parameters, [], threads))
        print(f"{time.perf_counter() - start:7.1f}s  {task.label} done in {seconds:.1f} s")
    path = store_path(params, out / "results" / "base") / "splits.json"
    if not path.exists():
        raise PalignError(f"No splits at {path}: chapter 02 has not run into this --out folder; include 02 in --chapters.")
    return list(json.loads(path.read_text())["subjects"][: params["n_subjects"]])


def _wait(ray, labels: dict, start: float) -> list[Task]:
    """Wait for the tasks, printing a line as each ends; returns the tasks that failed."""
    failed = []
    pending = list(labels)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        task = labels[done[0]]
        try:
            seconds = ray.get(done[0])
            print(f"{time.perf_counter() - start:7.1f}s  {task.label} done in {seconds:.1f} s")
        except Exception as err:  # the chapter's own error, or an earlier chapter of its shard failed
            task.error = _first_line(err) + failed_at(task)
            failed.append(task)
            print(f"{time.perf_counter() - start:7.1f}s  {task.label} FAILED: {task.error}")
    return failed


def failed_at(task: Task) -> str:
    """`` (at subject S of loop L)`` for each subject the task's chapter was working on when it failed or was
    killed (the marks its per-subject loops leave in the store), or nothing when it failed outside a loop."""
    from .checkpoints import in_flight

    results_dir = task.parameters.get("results_dir")
    if not results_dir:
        return ""
    marks = [m for inventory in ("ipip", "sd3") for m in in_flight(store_path(task.parameters, Path(results_dir), inventory))
             if m["chapter"][:2] == task.chapter]
    return "".join(f" (at subject {m['subject']} of loop {m['loop']})" for m in marks)


def _first_line(err: Exception) -> str:
    cause = getattr(err, "cause", None) or err
    lines = [ln.strip() for ln in str(cause).splitlines() if ln.strip() and not set(ln.strip()) <= {"-"}]
    named = [ln for ln in lines if "Error" in ln or "Exception" in ln]
    return (named[-1] if named else lines[-1] if lines else type(err).__name__)[:300]


def _report(failed: list[Task], out: Path) -> None:
    print("palign-run: these tasks failed for good (the others finished and will not run again):")
    for task in failed:
        print(f"  {task.label}: {task.error}  (run: {task.output.relative_to(out)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="palign-run", description=__doc__.splitlines()[0])
    parser.add_argument("-f", "--params", required=True, help="papermill parameter file (e.g. params/gpu.yaml)")
    parser.add_argument("--subjects", type=int, default=None, help="subjects of the run (default: the file's n_subjects)")
    parser.add_argument("--shards", type=int, default=None, help="shards of the subjects (default: one per worker)")
    parser.add_argument("--chapters", default=None, help="only these chapters, e.g. 01,02,03")
    parser.add_argument("--out", default="runs/scale", help="executed chapters and stores go here")
    parser.add_argument("--address", default=None, help="join this Ray cluster (default: start a local one)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local cluster (default: all)")
    parser.add_argument("--cpus-per-task", type=float, default=1.0)
    parser.add_argument("--gpus-per-task", type=float, default=None, help="default: 1 where the cluster has GPUs, else 0")
    parser.add_argument("--retries", type=int, default=1, help="retries of a failing task")
    parser.add_argument("--dashboard", action="store_true", help="start Ray's dashboard (needs ray[default])")
    parser.add_argument("--notebooks", default=str(repo_root() / "notebooks"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except PalignError as err:
        print(f"palign-run: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
