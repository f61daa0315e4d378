"""The retraining cycle: the stage functions on the newest window, then the gate."""
