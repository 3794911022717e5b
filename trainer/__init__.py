"""Turn a CSV into a trained Keras regressor, a report and predictions (no Keras import here)."""
