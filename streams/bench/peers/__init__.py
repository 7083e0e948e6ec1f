"""Peers: the same work built the way a user would build it without driftline.

Each peer is a runnable module that the bench starts like its other modes: it reads the same
preloaded events, scores each one with the same ONNX model through ONNX Runtime, and produces one
prediction per event. ``per_event`` holds what both share (load the graph, check an event, score
it); ``faust_agent`` is a plain Faust agent and ``quix_app`` a Quix Streams application (librdkafka).
Neither batches: event by event is what their documentation shows and what a first version does.
"""
