"""cfnb's own error types: each message names the problem and how to fix it."""


class CfnbError(ValueError):
    """Base class of every error cfnb raises on purpose."""


class DataError(CfnbError):
    """Ratings input that cfnb cannot use (missing column, bad value, empty file...)."""


class DownloadError(CfnbError, OSError):
    """The MovieLens data could be neither found in the data home nor downloaded."""


class ModelFileError(CfnbError):
    """A saved cfnb model file that is missing, truncated or not cfnb's."""
