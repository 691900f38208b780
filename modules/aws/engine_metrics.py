"""The serving engine's metrics as a fleet's CloudWatch agent publishes them
(/work/helpers/metrics-contract.md): what target tracking and alarms refer to."""

ENGINE_METRICS_NAMESPACE = "InfraServing"
IN_FLIGHT_METRIC = "RequestsInFlight"
"""Requests running plus waiting on one instance, every 60 s."""
GROUP_DIMENSION = "AutoScalingGroupName"
"""The only dimension: the fleet's group name, so a statistic aggregates the group."""
