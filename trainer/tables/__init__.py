"""Reading tables: files and cells, column roles, the ColumnPlan, the Dataset, typed inputs.

NumPy and pandas only, never Keras: the bot imports this sub-package to check uploads and
`/predict` arguments.
"""
