"""Stage functions: each stage's logic with explicit inputs and a workspace to write into.

DVC (``pipelines/``), the Prefect retraining flow (``flows/``) and the tests call these same
functions; only the binding of paths differs. Each returns its results in memory.
"""
