"""The embedded default target: moto's server as a local emulated AWS on a loopback port.

It outlives one command (`infra local up|down|status`, or started on demand by a deployment to
the `local` environment); its state file and log live under `infra_home() / "local"`.
"""
