"""palign_nb: the helper package of the PAlign Book.

One module per idea:

* the data: ``inventories`` (items, keys, the answer scale, keying), ``data`` (the shipped answers),
  ``splits`` (subjects and known / validation / test items);
* asking the model: ``prompts`` (the paper's templates), ``models`` (loading), ``scoring`` (option
  probabilities), ``shared_prefix`` (exact attention over one cached prefix) and ``prefix_attention``
  (its attention function and kernels), ``activations`` (head outputs);
* grading: ``metrics`` (the paper's metric), ``controls`` (every predictor that needs no model),
  ``readouts`` (the option distribution) and ``readout_tables`` (all of them on a table), ``knowledge``
  (does the model know the items), ``findings`` (sentences chosen by the numbers);
* PAS: ``probing`` (per-head probes), ``pas`` (directions, steering hooks, personas), ``pas_subject``
  (one subject end to end, and the paper's alpha-on-test oracle), ``pas_every_subject`` (every subject),
  ``pas_findings`` (chapter 05's analyses);
* baselines: ``prompt_baselines`` (few-shot and P2 prompts of one subject), ``preference`` (DPO and RL:
  pairs, prompts, reward, settings) and ``preference_training`` (training with TRL and PEFT), ``adapters``
  (their LoRA adapters in the store), ``judging`` (open-ended answers) and ``stance_sentences`` (what
  its offline judge compares);
* runs: ``context`` (a chapter's run: :func:`chapter`), ``parameters_cell`` (a notebook's declared
  parameters), ``config``, ``methods`` (the registry of methods and their tables), ``store`` (the results
  store), ``checkpoints`` (per-subject resume), ``merging`` and ``merge_files`` (joining split runs),
  ``all_subjects`` (every subject through a prompt or an adapter; the conventions of every loop),
  ``results`` (reading the store back), ``significance`` (paired tests and verdicts), ``ray_run``, ``ray_tasks`` and ``run_plan`` (the whole
  book over a Ray cluster), ``paths``, ``errors``;
* comparing: ``comparison`` (every method on the same rows), ``claims`` (chapter 09's verdicts);
* each chapter's findings and runs (pure functions that return the chapter's glue, and its loops):
  ``inventory_findings`` (01); ``split_findings``, ``no_model_findings`` (02); ``asking_findings``,
  ``unaligned_findings`` (03); ``probing_findings`` (04); ``pas_runs``, ``pas_walkthrough``,
  ``pas_letters``, ``pas_efficiency`` (05); ``baseline_scores`` (06, 07); ``prompt_findings``,
  ``prompt_runs`` (06); ``preference_findings``, ``preference_runs`` (07); ``sd3_methods``,
  ``sd3_findings`` (08); ``comparison_tables``, ``readout_comparison``, ``alignment_cost``,
  ``keying_ranking`` (09); ``open_ended``, ``open_ended_findings`` (10);
* the book: ``charts``, ``method_charts`` and ``data_charts``, ``vega_render`` (the offline chart renderer), ``checks`` (exercise checks).

Chapters import what they need; nothing here downloads anything.
"""

__version__ = "0.1.0"
__all__ = ["chapter"]


def chapter(name: str, namespace: dict):
    """The context of chapter ``name`` (:func:`palign_nb.context.chapter`); imported on first use."""
    from .context import chapter as make_chapter

    return make_chapter(name, namespace)
