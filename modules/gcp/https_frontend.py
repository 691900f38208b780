"""The public load balancer's frontend: HTTPS only, HTTP redirected.

One reserved global address carries two forwarding rules: 443 to a target HTTPS proxy (the
serving URL map, the profile's certificates, an SSL policy of TLS 1.2 and up with Google's
RESTRICTED cipher profile), and 80 to a target HTTP proxy whose URL map answers every request
with a 301 to the same URL over HTTPS and reaches no backend. The address is reserved so that
both rules share it and the DNS records a Google-managed certificate needs stay valid across
changes to the load balancer.

A Google-managed certificate is issued once the domains' DNS points at the address; it cannot be
changed in place, so its name carries a hash of its domains and a new one is created before the
old one is released.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cdktn import TerraformResourceLifecycle
from cdktn_provider_google.compute_global_address import ComputeGlobalAddress
from cdktn_provider_google.compute_global_forwarding_rule import ComputeGlobalForwardingRule
from cdktn_provider_google.compute_managed_ssl_certificate import (
    ComputeManagedSslCertificate,
    ComputeManagedSslCertificateManaged,
)
from cdktn_provider_google.compute_ssl_policy import ComputeSslPolicy
from cdktn_provider_google.compute_target_http_proxy import ComputeTargetHttpProxy
from cdktn_provider_google.compute_target_https_proxy import ComputeTargetHttpsProxy
from cdktn_provider_google.compute_url_map import ComputeUrlMap, ComputeUrlMapDefaultUrlRedirect
from constructs import Construct

from modules.gcp.naming import gcp_name

HTTPS_PORT = 443
HTTP_PORT = 80
SSL_PROFILE = "RESTRICTED"
MIN_TLS_VERSION = "TLS_1_2"


def managed_certificate_name(stack_name: str, domains: Sequence[str]) -> str:
    digest = hashlib.sha256(",".join(sorted(domains)).encode()).hexdigest()[:8]
    return gcp_name(stack_name, f"cert-{digest}")


@dataclass(frozen=True, kw_only=True)
class PublicHttpsFrontendProps:
    """The public side of the external load balancer: its address, certificates and TLS."""

    stack_name: str
    """The stack the frontend belongs to: its resources' names. Required."""
    url_map_id: str
    """The URL map of the serving backend that HTTPS requests go to. Required."""
    certificate_domains: tuple[str, ...] = ()
    """Domains of a Google-managed certificate to create. Default: none."""
    certificate_name: str | None = None
    """An SSL certificate of the project to serve as well. Default: none."""
    ssl_profile: str = SSL_PROFILE
    """The SSL policy's cipher profile. Default: RESTRICTED, the narrowest predefined one."""
    min_tls_version: str = MIN_TLS_VERSION
    """The oldest TLS the proxy speaks. Default: TLS 1.2."""


class PublicHttpsFrontend(Construct):
    """`address`: the reserved IP both rules listen on; `https_rule`: the 443 forwarding rule."""

    def __init__(self, scope: Construct, id: str, props: PublicHttpsFrontendProps) -> None:
        super().__init__(scope, id)
        stack_name, certificate_domains = props.stack_name, props.certificate_domains
        certificates = []
        if certificate_domains:
            managed = ComputeManagedSslCertificate(
                self,
                "managed-certificate",
                name=managed_certificate_name(stack_name, certificate_domains),
                managed=ComputeManagedSslCertificateManaged(domains=list(certificate_domains)),
                lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            )
            certificates.append(managed.id)
        if props.certificate_name:
            certificates.append(props.certificate_name)
        policy = ComputeSslPolicy(
            self,
            "tls-policy",
            name=gcp_name(stack_name, "tls"),
            profile=props.ssl_profile,
            min_tls_version=props.min_tls_version,
        )
        self.address = ComputeGlobalAddress(
            self,
            "address",
            name=gcp_name(stack_name, "address"),
            address_type="EXTERNAL",
            ip_version="IPV4",
        )
        https_proxy = ComputeTargetHttpsProxy(
            self,
            "https-proxy",
            name=gcp_name(stack_name, "lb"),
            url_map=props.url_map_id,
            ssl_certificates=certificates,
            ssl_policy=policy.id,
        )
        self.https_rule = self._rule(
            "https-rule", gcp_name(stack_name, "lb"), HTTPS_PORT, https_proxy.id
        )
        redirect = ComputeUrlMap(
            self,
            "redirect",
            name=gcp_name(stack_name, "redirect"),
            default_url_redirect=ComputeUrlMapDefaultUrlRedirect(
                https_redirect=True,
                strip_query=False,
                redirect_response_code="MOVED_PERMANENTLY_DEFAULT",
            ),
        )
        http_proxy = ComputeTargetHttpProxy(
            self, "http-proxy", name=gcp_name(stack_name, "redirect"), url_map=redirect.id
        )
        self._rule("http-rule", gcp_name(stack_name, "redirect"), HTTP_PORT, http_proxy.id)

    def _rule(self, id: str, name: str, port: int, target: str) -> ComputeGlobalForwardingRule:
        """A forwarding rule on the reserved address."""
        return ComputeGlobalForwardingRule(
            self,
            id,
            name=name,
            load_balancing_scheme="EXTERNAL_MANAGED",
            ip_protocol="TCP",
            ip_address=self.address.address,
            port_range=str(port),
            target=target,
        )
