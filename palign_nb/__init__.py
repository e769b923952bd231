"""palign_nb: the helper package of the PAlign Book.

One module per idea: inventories, data, splits, prompts, models, scoring, metrics,
store, charts. Chapters import what they need; nothing here downloads anything.
"""

__version__ = "0.1.0"
