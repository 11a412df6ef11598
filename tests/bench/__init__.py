"""Benchmarks: eventwire against python-socketio's AsyncAioPikaManager and the bare floors.

``python -m tests.bench`` (or ``make bench``) runs every scenario and
writes ``results/latest.{json,md,png}``. Each scenario owns the processes it starts (edge
nodes, load generators, an emitter) and stops them by PID; only 127.0.0.1 is ever targeted.
"""
