"""examples/public-chat.yaml, the public endpoint: `infra synth` writes an HTTPS-only load
balancer on each cloud it may be placed on, and `infra cost` prices it. (Every example is
validated in test_profile.py and recommended in test_cli.py.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.cost.plan_resources import from_configuration
from planner.cost.pricing import price_plan
from providers.catalog import load_catalog
from tests.conftest import EXAMPLES, Cli
from tests.stack_json import resources

EXAMPLE = EXAMPLES / "public-chat.yaml"


def network() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())["deploy"]["network"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLE, tmp_path / EXAMPLE.name)
    return tmp_path / EXAMPLE.name


def synthesized(cli: Cli, profile: Path, cloud: str) -> dict[str, Any]:
    result, body = cli.json("synth", profile, "--env", "prod", "--cloud", cloud)
    assert result.exit_code == 0, result.output
    return json.loads(Path(body["config"]).read_text())


def test_example_is_public_with_a_certificate_for_each_allowed_cloud() -> None:
    placement = yaml.safe_load(EXAMPLE.read_text())["placement"]
    assert placement["clouds"] == ["aws", "gcp"]  # an Azure fleet cannot be public
    assert network()["public"] is True
    assert network()["certificate_arn"].split(":")[3] in placement["regions"]
    assert network()["certificate_domains"]


def test_aws_serves_https_with_the_certificate_and_redirects_http(cli: Cli, project: Path) -> None:
    doc = synthesized(cli, project, "aws")
    (balancer,) = resources(doc, "aws_lb").values()
    assert balancer["internal"] is False
    listeners = {body["port"]: body for body in resources(doc, "aws_lb_listener").values()}
    assert listeners[443]["certificate_arn"] == network()["certificate_arn"]
    assert listeners[80]["default_action"][0]["type"] == "redirect"
    rules = resources(doc, "aws_vpc_security_group_ingress_rule").values()
    listed = {(r["cidr_ipv4"], r["from_port"]) for r in rules if "cidr_ipv4" in r}
    assert listed == {(cidr, port) for cidr in network()["ingress_cidrs"] for port in (80, 443)}
    assert_priced(doc, "public-chat-prod")


def test_gcp_serves_https_with_a_managed_certificate_and_redirects_http(
    cli: Cli, project: Path
) -> None:
    doc = synthesized(cli, project, "gcp")
    (certificate,) = resources(doc, "google_compute_managed_ssl_certificate").values()
    assert certificate["managed"]["domains"] == network()["certificate_domains"]
    ports = {
        rule["port_range"]
        for rule in resources(doc, "google_compute_global_forwarding_rule").values()
    }
    assert ports == {"80", "443"}
    assert doc["output"]["endpoint_url"]["value"] == "https://chat.example.com"
    assert_priced(doc, "public-chat-prod", unpriced=frozenset({"google_compute_security_policy"}))


def assert_priced(doc: dict[str, Any], source: str, unpriced: frozenset[str] = frozenset()) -> None:
    """`infra cost` prices the instances and every TLS resource (free or priced); only the
    resources named are left unpriced, with a reason."""
    report = price_plan(from_configuration(doc), load_catalog(), source=source)
    assert report.monthly_usd.expected > 0
    left = {r.type: r.reason for r in report.resources if r.status == "unpriced"}
    assert set(left) == set(unpriced) and all(left.values())
