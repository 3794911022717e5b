"""Running jobs: the worker's loop, the leases it keeps, its tasks, what they give back, and
the predictors it keeps loaded.

The loop loads Keras only with its first job.
"""
