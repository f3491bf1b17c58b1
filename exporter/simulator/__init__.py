"""A faithful simulator of the AI Gateway API, for tests and the demo mode.

It keeps ground truth (every generation with its exact cost and tokens) so tests can compare
the exporter's output against what really happened, and it can be told to misbehave.
"""
