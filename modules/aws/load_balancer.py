"""Application load balancer in front of the fleet, its target group and health check, and the
alarms a serving fleet needs: 5xx rate, p99 latency and unhealthy hosts.

With a certificate the load balancer serves HTTPS on 443 under AWS's recommended TLS policy, and
its port-80 listener only answers with a permanent redirect to HTTPS; without one (an internal
load balancer only: a public one is refused without a certificate) port 80 forwards HTTP.
TLS ends at the load balancer: it reaches the instances over HTTP inside the VPC."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True, kw_only=True)
class ServingLoadBalancerProps:
    """An application load balancer, its target group and listeners. Internal, strict about
    headers and, with a certificate, on AWS's recommended TLS policy unless a caller asks for
    less."""

    name: str
    """The load balancer's name (its first 32 characters). Required."""
    vpc_id: str
    """The VPC of the target group. Required."""
    subnet_ids: tuple[str, ...]
    """The subnets the load balancer spans (two zones at least). Required."""
    security_group_id: str
    """The load balancer's security group. Required."""
    port: int
    """The instances' serving port, where the target group sends traffic. Required."""
    health_path: str
    """The HTTP path that answers 200 once an instance serves. Required."""
    public: bool = False
    """Whether the load balancer has public addresses. Default False: internal."""
    certificate_arn: str | None = None
    """An ACM certificate in the load balancer's region: with one, 443 serves HTTPS and 80 only
    redirects to it. Default None: HTTP on 80."""
    ssl_policy: str = TLS_POLICY
    """The HTTPS listener's security policy. Default TLS_POLICY (TLS 1.3 and 1.2, forward
    secrecy, post-quantum key exchange)."""
    drop_invalid_header_fields: bool = True
    """Whether requests with header fields that are not valid HTTP lose them before reaching
    the instances (request smuggling defence). Default True."""
    deletion_protection: bool = False
    """Whether AWS refuses to delete the load balancer until this is turned off. Default False;
    protected environments turn it on."""


class ServingLoadBalancer(Construct):
    def __init__(self, scope: Construct, id: str, props: ServingLoadBalancerProps) -> None:
        super().__init__(scope, id)
        self.load_balancer = Lb(
            self,
            "alb",
            name=props.name[:32],
            internal=not props.public,
            load_balancer_type="application",
            security_groups=[props.security_group_id],
            subnets=list(props.subnet_ids),
            idle_timeout=IDLE_TIMEOUT_S,
            drop_invalid_header_fields=props.drop_invalid_header_fields,
            enable_deletion_protection=props.deletion_protection,
        )
        self.target_group = LbTargetGroup(
            self,
            "targets",
            name_prefix="srv-",
            port=props.port,
            protocol="HTTP",
            vpc_id=props.vpc_id,
            target_type="instance",
            deregistration_delay=str(DEREGISTRATION_DELAY_S),
            health_check=LbTargetGroupHealthCheck(
                enabled=True,
                path=props.health_path,
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
        if props.certificate_arn:
            LbListener(
                self,
                "https",
                load_balancer_arn=self.load_balancer.arn,
                port=HTTPS_PORT,
                protocol="HTTPS",
                ssl_policy=props.ssl_policy,
                certificate_arn=props.certificate_arn,
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
                if props.certificate_arn
                else forward
            ],
        )

    @property
    def request_count_label(self) -> str:
        """The resource label of ALBRequestCountPerTarget for this target group."""
        return f"{self.load_balancer.arn_suffix}/{self.target_group.arn_suffix}"


@dataclass(frozen=True, kw_only=True)
class ServingAlarmsProps:
    """The fleet's alarms: 5xx rate, p99 latency, unhealthy hosts."""

    name: str
    """Start of each alarm's name. Required."""
    load_balancer_arn_suffix: str
    """The load balancer the alarms watch (its ARN suffix, as CloudWatch names it). Required."""
    target_group_arn_suffix: str
    """Its target group (ARN suffix). Required."""
    p99_latency_s: float
    """Response time the 99th percentile may reach before the latency alarm fires. Required."""
    alarm_actions: tuple[str, ...] = ()
    """ARNs notified when an alarm fires or clears. Default (): none."""


class ServingAlarms(Construct):
    def __init__(self, scope: Construct, id: str, props: ServingAlarmsProps) -> None:
        super().__init__(scope, id)
        dimensions = {
            "LoadBalancer": props.load_balancer_arn_suffix,
            "TargetGroup": props.target_group_arn_suffix,
        }
        actions = list(props.alarm_actions) or None

        self.error_rate = error_rate_alarm(
            self,
            "error-rate",
            alarm_name=f"{props.name}-5xx-rate",
            description=f"More than {ERROR_RATE_PERCENT}% of requests answered 5xx",
            namespace="AWS/ApplicationELB",
            dimensions=dimensions,
            errors_metric="HTTPCode_Target_5XX_Count",
            total=("requests", "RequestCount"),
            period=300,
            evaluation_periods=2,
            actions=props.alarm_actions,
        )
        self.latency = CloudwatchMetricAlarm(
            self,
            "p99-latency",
            alarm_name=f"{props.name}-p99-latency",
            alarm_description=f"p99 response time above {props.p99_latency_s:g} s",
            namespace="AWS/ApplicationELB",
            metric_name="TargetResponseTime",
            dimensions=dimensions,
            extended_statistic="p99",
            period=300,
            evaluation_periods=3,
            threshold=props.p99_latency_s,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=actions,
            ok_actions=actions,
        )
        self.unhealthy = CloudwatchMetricAlarm(
            self,
            "unhealthy-hosts",
            alarm_name=f"{props.name}-unhealthy-hosts",
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
            alarm_actions=actions,
            ok_actions=actions,
        )
