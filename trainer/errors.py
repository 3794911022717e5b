"""The two ways a user's data can be wrong, each worded as one plain sentence for the sender.

Kept apart from the modules that raise them so that the Keras-free parsers (used by the bot)
and the predictor (which loads Keras) share the same classes.
"""


class DatasetError(ValueError):
    """A problem with an uploaded table, worded as one plain sentence for the sender."""


class PredictError(ValueError):
    """Inputs that do not fit the model, worded for the person who sent them."""
