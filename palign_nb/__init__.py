"""palign_nb: the helper package of the PAlign Book.

One module per idea:

* the data: ``inventories`` (items, keys, the answer scale, keying), ``data`` (the shipped answers),
  ``splits`` (subjects and known / validation / test items);
* asking the model: ``prompts`` (the paper's templates), ``models`` (loading), ``scoring`` (option
  probabilities), ``shared_prefix`` (exact attention over one cached prefix), ``activations`` (head outputs);
* grading: ``metrics`` (the paper's metric), ``controls`` (every predictor that needs no model),
  ``readouts`` (the option distribution), ``knowledge`` (does the model know the items), ``findings`` (sentences
  chosen by the numbers);
* PAS: ``probing`` (per-head probes), ``pas`` (directions, steering hooks, personas), ``pas_subject``
  (one subject end to end, and the paper's alpha-on-test oracle), ``pas_findings`` (chapter 05's analyses);
* baselines: ``prompt_baselines`` (few-shot and P2 prompts of one subject), ``preference`` (DPO and RL with
  TRL and PEFT), ``adapters`` (their LoRA adapters in the store), ``judging`` (open-ended answers);
* runs: ``context`` (a chapter's run: :func:`chapter`), ``config``, ``methods`` (the registry of
  methods and their tables), ``store`` (the results store), ``checkpoints`` (per-subject resume),
  ``merging`` (joining split runs), ``all_subjects`` (every subject through one method), ``results`` (reading the store back),
  ``ray_run`` and ``run_plan`` (the whole book over a Ray cluster), ``paths``, ``errors``;
* comparing: ``comparison`` (every method on the same rows), ``claims`` (chapter 09's verdicts);
* the book: ``charts`` and ``data_charts``, ``vega_render`` (the offline chart renderer), ``checks`` (exercise checks).

Chapters import what they need; nothing here downloads anything.
"""

__version__ = "0.1.0"
__all__ = ["chapter"]


def chapter(name: str, namespace: dict):
    """The context of chapter ``name`` (:func:`palign_nb.context.chapter`); imported on first use."""
    from .context import chapter as make_chapter

    return make_chapter(name, namespace)
