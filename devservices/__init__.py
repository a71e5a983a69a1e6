"""Development tooling: real local servers for the run and test commands, and the pytest plugin.

Not part of the runtime (the image leaves this package out): nothing under
`logsite/`, `retrieval/` or `archive/` imports it.
"""
