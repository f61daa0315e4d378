"""Thin DVC stage entry points (``python -m pipelines.<stage>``) and the ``alphaloop`` CLI.

Each stage module reads ``params.yaml`` through :func:`alphaloop.config.load_params`, does the
file I/O, and calls the core library for everything else.
"""
