"""palign_nb: the helper package of the PAlign Book.

One module per idea. The data: inventories, data, splits. Asking the model: prompts, models,
scoring, shared_prefix (exact attention over one cached prefix). Grading: metrics, readouts
(the option distribution, and controls without a model). PAS: activations, probing, pas,
alignment. Baselines: prompting, preference. Runs: pipeline, results, judging, store, config,
paths, errors. The book: charts, checks. Chapters import what they need; nothing here downloads
anything.
"""

__version__ = "0.1.0"
