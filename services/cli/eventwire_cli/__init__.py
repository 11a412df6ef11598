"""The ``eventwire`` command line and the demo launcher: wires the SDK and the services."""
