"""alphaloop: the core library of the alphaloop MLOps platform for machine-learning trading.

The core holds pure logic (data sources, validation rules, features, ...). Wiring to DVC,
Prefect, BentoML and exchanges lives in the thin shells: ``pipelines``, ``flows``,
``serving`` and ``trader``.
"""

__version__ = "0.1.0"
