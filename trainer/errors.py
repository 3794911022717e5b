"""Failures worded as one plain sentence for the chat: the two ways a user's data can be wrong,
and a job that cannot run.

Kept apart from the modules that raise them so that the Keras-free parsers (used by the bot)
and the predictor (which loads Keras) share the same classes.
"""


class DatasetError(ValueError):
    """A problem with an uploaded table, worded as one plain sentence for the sender."""


class PredictError(ValueError):
    """Inputs that do not fit the model, worded for the person who sent them."""


class JobFailure(Exception):
    """A job that cannot run (its file or model is gone), not worth retrying."""
