"""The one error type the book raises for bad input: a plain message that names the fix."""


class PalignError(ValueError):
    """Bad input or a missing prerequisite; the message says what to do instead."""


class StoreMissing(PalignError, FileNotFoundError):
    """A chapter needs results that an earlier chapter has not written yet."""


class StoreCorrupt(PalignError):
    """A results-store file that does not match its manifest entry (truncated, edited, or unlisted)."""
