"""cfnb's own error types: each message names the problem and how to fix it."""


class CfnbError(ValueError):
    """Base class of every error cfnb raises on purpose."""


class DataError(CfnbError):
    """Ratings input that cfnb cannot use (missing column, bad value, empty file...)."""


class DownloadError(CfnbError, OSError):
    """The MovieLens data could be neither found in the data home nor downloaded."""


class ModelFileError(CfnbError):
    """A saved cfnb model file that is missing, truncated or not cfnb's."""


class ArgumentError(CfnbError):
    """A public function's argument has a value it cannot use (names the argument, the value, what is accepted)."""


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of the wrong type (where Python itself would raise TypeError)."""


class VocabularyError(CfnbError):
    """Ratings coded with another id vocabulary than the model's (or than the other set's)."""


class CallbackError(CfnbError):
    """A function or callback the user passed (a scorer, a Keras callback) raised or returned something
    unusable; names it and what was expected. `original`: the error it raised, if any; from `fit_stages`,
    `history` holds the fit up to then."""

    history = None
    original = None


class DataWarning(UserWarning):
    """Ratings that cfnb can use but that are probably not what you meant (duplicates, one user...)."""
