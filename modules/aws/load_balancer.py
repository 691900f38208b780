"""Application load balancer in front of the fleet, its target group and health check, and the
alarms a serving fleet needs: 5xx rate, p99 latency and unhealthy hosts.

With a certificate the load balancer serves HTTPS on 443 under AWS's recommended TLS policy, and
its port-80 listener only answers with a permanent redirect to HTTPS; without one (an internal
load balancer only: a public one is refused without a certificate) port 80 forwards HTTP.
TLS ends at the load balancer: it reaches the instances over HTTP inside the VPC."""

from __future__ import annotations

from cdktn_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktn_provider_aws.lb import Lb
from cdktn_provider_aws.lb_listener import (
    LbListener,
    LbListenerDefaultAction,
    LbListenerDefaultActionRedirect,
)
from cdktn_provider_aws.lb_target_group import LbTargetGroup, LbTargetGroupHealthCheck
from constructs import Construct

from modules.aws.alarms import ERROR_RATE_PERCENT, error_rate_alarm
from modules.aws.security import HTTPS_PORT, LISTENER_PORT

IDLE_TIMEOUT_S = 300
"""Long generations stream for minutes; the default 60 s would cut them."""
DEREGISTRATION_DELAY_S = 120
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
"""AWS's recommended policy for new HTTPS listeners (the console's default since 2025-09): TLS 1.3
and TLS 1.2 with forward-secret AEAD ciphers only, and hybrid post-quantum key exchange (ML-KEM)
for clients that offer it."""


class ServingLoadBalancer(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        vpc_id: str,
        subnet_ids: list[str],
        security_group_id: str,
        public: bool,
        certificate_arn: str | None,
        deletion_protection: bool,
        port: int,
        health_path: str,
    ) -> None:
        super().__init__(scope, id)
        self.load_balancer = Lb(
            self,
            "alb",
            name=name[:32],
            internal=not public,
            load_balancer_type="application",
            security_groups=[security_group_id],
            subnets=subnet_ids,
            idle_timeout=IDLE_TIMEOUT_S,
            drop_invalid_header_fields=True,
            enable_deletion_protection=deletion_protection,
        )
        self.target_group = LbTargetGroup(
            self,
            "targets",
            name_prefix="srv-",
            port=port,
            protocol="HTTP",
            vpc_id=vpc_id,
            target_type="instance",
            deregistration_delay=str(DEREGISTRATION_DELAY_S),
            health_check=LbTargetGroupHealthCheck(
                enabled=True,
                path=health_path,
                port="traffic-port",
                protocol="HTTP",
                matcher="200",
                interval=30,
                timeout=10,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
        )
        forward = LbListenerDefaultAction(type="forward", target_group_arn=self.target_group.arn)
        if certificate_arn:
            LbListener(
                self,
                "https",
                load_balancer_arn=self.load_balancer.arn,
                port=HTTPS_PORT,
                protocol="HTTPS",
                ssl_policy=TLS_POLICY,
                certificate_arn=certificate_arn,
                default_action=[forward],
            )
        LbListener(
            self,
            "http",
            load_balancer_arn=self.load_balancer.arn,
            port=LISTENER_PORT,
            protocol="HTTP",
            default_action=[
                LbListenerDefaultAction(
                    type="redirect",
                    redirect=LbListenerDefaultActionRedirect(
                        protocol="HTTPS", port=str(HTTPS_PORT), status_code="HTTP_301"
                    ),
                )
                if certificate_arn
                else forward
            ],
        )

    @property
    def request_count_label(self) -> str:
        """The resource label of ALBRequestCountPerTarget for this target group."""
        return f"{self.load_balancer.arn_suffix}/{self.target_group.arn_suffix}"


class ServingAlarms(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        load_balancer: ServingLoadBalancer,
        p99_latency_s: float,
    ) -> None:
        super().__init__(scope, id)
        dimensions = {
            "LoadBalancer": load_balancer.load_balancer.arn_suffix,
            "TargetGroup": load_balancer.target_group.arn_suffix,
        }

        self.error_rate = error_rate_alarm(
            self,
            "error-rate",
            alarm_name=f"{name}-5xx-rate",
            description=f"More than {ERROR_RATE_PERCENT}% of requests answered 5xx",
            namespace="AWS/ApplicationELB",
            dimensions=dimensions,
            errors_metric="HTTPCode_Target_5XX_Count",
            total=("requests", "RequestCount"),
            period=300,
            evaluation_periods=2,
        )
        self.latency = CloudwatchMetricAlarm(
            self,
            "p99-latency",
            alarm_name=f"{name}-p99-latency",
            alarm_description=f"p99 response time above {p99_latency_s:g} s",
            namespace="AWS/ApplicationELB",
            metric_name="TargetResponseTime",
            dimensions=dimensions,
            extended_statistic="p99",
            period=300,
            evaluation_periods=3,
            threshold=p99_latency_s,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
        )
        self.unhealthy = CloudwatchMetricAlarm(
            self,
            "unhealthy-hosts",
            alarm_name=f"{name}-unhealthy-hosts",
            alarm_description="A serving instance fails its health check",
            namespace="AWS/ApplicationELB",
            metric_name="UnHealthyHostCount",
            dimensions=dimensions,
            statistic="Maximum",
            period=60,
            evaluation_periods=5,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
        )
