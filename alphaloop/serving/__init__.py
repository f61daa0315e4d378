"""Serving core: the models a server holds, how they follow the registry, the HTTP payloads.

Nothing here imports BentoML: ``serving/`` wires these pieces to it. ``pool`` holds one served
model per task and swaps in a new champion from a background poll; ``loaders`` turns a
registered version into a ready model; ``answers`` turns a validated request into an answer;
``schemas`` are the request and answer models the OpenAPI document is built from.
"""
