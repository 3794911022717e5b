"""Using a model: the standalone Keras model, its `.keras` file and metadata, the numpy twins
that answer fast, the Predictor, and the table of predictions it writes."""
