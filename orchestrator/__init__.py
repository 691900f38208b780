"""Runs deployments: synthesizes the stacks of a DeploymentSpec, drives Terraform, keeps logs and
plan files. Imports nothing heavy at module level; the provider bindings load only in `synth`."""
