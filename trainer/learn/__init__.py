"""Learning: recipes, scaling, the networks, members trained together, cross-validation,
batches of jobs trained as one program, and the cache of compiled programs.

Its modules load Keras; the bot never imports this sub-package.
"""
