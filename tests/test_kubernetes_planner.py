"""`kind: kubernetes` in the planner: considered only when the profile says which cluster, nodes
from the fleet's catalog rows with replicas packed per node, a created cluster's control plane in
the candidate's price, KEDA's per-pod target by Little's law, and a spec recording its own
sections only."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from core.errors import CatalogError, ProfileError
from planner.decision import decide
from planner.deployment import spec_as_json, spec_from_decision
from planner.optimizer import Filters, recommend
from planner.profile import Profile, load_profile
from providers.service_prices import load_service_prices
from tests.conftest import catalog_of, make_profile, offering, profile_dict, write_profile, zone

KUBERNETES = frozenset({"kubernetes"})


def _profile(**kubernetes: object) -> Profile:
    return make_profile(
        placement={"clouds": ["aws"], "kinds": ["fleet", "kubernetes"], "zones": 1},
        deploy={"kubernetes": kubernetes},
    )


def _catalog():
    zones = [zone("use1-az1", 1.861, 0.9)]
    return catalog_of(
        offering("g6e.xlarge", "L40S", 1, 44.7, zones, kind="fleet"),
        offering("g6e.xlarge", "L40S", 1, 44.7, zones, kind="kubernetes"),
    )


def test_a_profile_without_a_cluster_never_gets_kubernetes() -> None:
    chosen = recommend(_profile(), _catalog())
    assert {c.offering.kind for c in chosen.candidates} == {"fleet"}


def test_pinning_kubernetes_without_a_cluster_says_what_to_set() -> None:
    with pytest.raises(ProfileError, match=r"--kind kubernetes: .*deploy\.kubernetes\.cluster"):
        recommend(_profile(), _catalog(), Filters(kinds=KUBERNETES))


def test_an_existing_cluster_adds_no_control_plane() -> None:
    found = recommend(_profile(cluster="gpu-serving"), _catalog(), Filters(kinds=KUBERNETES))
    fleet = recommend(
        _profile(cluster="gpu-serving"), _catalog(), Filters(kinds=frozenset({"fleet"}))
    )
    assert found.chosen.fixed_usd == 0
    assert found.chosen.hourly_usd == pytest.approx(fleet.chosen.hourly_usd)


def test_a_created_cluster_pays_its_control_plane_by_the_hour() -> None:
    plain = recommend(_profile(cluster="gpu-serving"), _catalog(), Filters(kinds=KUBERNETES))
    created = recommend(_profile(create_cluster=True), _catalog(), Filters(kinds=KUBERNETES))
    price = load_service_prices("aws").find("eks.cluster.standard.hour", "us-east-1")
    assert price is not None and price.usd_per_unit > 0
    assert created.chosen.fixed_usd == pytest.approx(price.usd_per_unit)
    assert created.chosen.hourly_usd == pytest.approx(plain.chosen.hourly_usd + price.usd_per_unit)


def test_the_decision_says_its_monthly_figure_holds_the_clusters_fixed_part() -> None:
    """One decision, one number: the control plane is in the monthly figure, and its words say
    so; a decision without one keeps the lock's old form."""
    from planner.decision import decision_data

    profile = _profile(create_cluster=True)
    created = decide(profile, recommend(profile, _catalog(), Filters(kinds=KUBERNETES)))
    assert created.fixed_hourly_usd > 0
    assert created.monthly_covers == "the instances and the cluster's fixed part"
    assert decision_data(created)["fixed_hourly_usd"] == created.fixed_hourly_usd
    existing = _profile(cluster="gpu-serving")
    plain = decide(existing, recommend(existing, _catalog(), Filters(kinds=KUBERNETES)))
    assert plain.monthly_covers == "the instances"
    assert "fixed_hourly_usd" not in decision_data(plain)


def test_nodes_pack_as_many_replicas_as_their_gpus_hold() -> None:
    zones = [zone("use1-az1", 10.0)]
    catalog = catalog_of(offering("g6e.12xlarge", "L40S", 4, 44.7, zones, kind="kubernetes"))
    found = recommend(_profile(cluster="gpu-serving"), catalog, Filters(kinds=KUBERNETES))
    chosen = found.chosen
    assert chosen.replicas_per_instance == 4 // chosen.tensor_parallel


def test_keda_threshold_is_requests_in_flight_by_littles_law() -> None:
    profile = _profile(cluster="gpu-serving")
    found = recommend(profile, _catalog(), Filters(kinds=KUBERNETES))
    decision = decide(profile, found)
    spec = spec_from_decision(profile, decision, "prod")
    predicted = decision.predicted
    assert predicted is not None and predicted.ttft_ms_p95 and predicted.tpot_ms
    per_replica_rps = decision.scaling_target_per_minute / 60 / decision.replicas_per_instance
    output = profile.workload.output_tokens
    assert output is not None
    stay_s = (predicted.ttft_ms_p95 + predicted.tpot_ms * output.mean) / 1000
    assert spec.scaling.signal == "requests_in_flight_per_replica"
    assert spec.scaling.target == pytest.approx(round(per_replica_rps * stay_s, 2))


def test_a_spec_records_only_its_own_targets_sections() -> None:
    profile = _profile(cluster="gpu-serving")
    found = recommend(profile, _catalog(), Filters(kinds=KUBERNETES))
    spec = spec_from_decision(profile, decide(profile, found), "prod")
    recorded = json.loads(spec_as_json(spec))
    assert recorded["kubernetes"]["cluster"] == "gpu-serving"
    assert not {"sagemaker", "gcp", "azure"} & set(recorded)
    # The kind's canary is in its configuration: how it bakes and what serves beside it.
    assert {"canary", "serving"} <= set(recorded)
    fleet = msgspec.structs.replace(spec, kind="fleet")
    assert "kubernetes" not in json.loads(spec_as_json(fleet))


@pytest.mark.parametrize(
    ("kubernetes", "words"),
    [
        ({"cluster": "a", "create_cluster": True}, "either cluster"),
        ({"create_cluster": True, "kserve": True}, "a cluster the toolkit creates has none"),
        ({"cluster": "has space"}, "a cluster name"),
        ({"namespace": "Serving"}, "Kubernetes name"),
        ({"prometheus_url": "ftp://prom"}, "http(s) URL"),
        ({"kubernetes_version": "1.3x"}, "minor version"),
    ],
)
def test_hostile_kubernetes_settings_get_one_sentence(
    tmp_path: Path, kubernetes: dict[str, object], words: str
) -> None:
    path = write_profile(tmp_path, profile_dict(deploy={"kubernetes": kubernetes}))
    with pytest.raises(ProfileError) as refused:
        load_profile(path)
    sentence = str(refused.value)
    assert words in sentence and "deploy.kubernetes" in sentence and "\n" not in sentence


def test_kubernetes_nodes_are_nvidia_gpus_only() -> None:
    """The node pools run NVIDIA's GPU images: an Inferentia row is a fleet's, never a node's."""
    zones = [zone("use1-az1", 0.76)]
    catalog = catalog_of(
        offering("inf2.xlarge", "Inferentia2", 2, 16.0, zones, kind="kubernetes"),
        offering("inf2.xlarge", "Inferentia2", 2, 16.0, zones, kind="fleet"),
        offering("g6e.xlarge", "L40S", 1, 44.7, [zone("use1-az1", 1.861)], kind="kubernetes"),
    )
    found = recommend(_profile(cluster="gpu-serving"), catalog)
    kinds_by_accelerator = {(c.offering.accelerator, c.offering.kind) for c in found.candidates}
    assert ("Inferentia2", "kubernetes") not in kinds_by_accelerator
    assert ("L40S", "kubernetes") in kinds_by_accelerator
    assert ("Inferentia2", "fleet") in kinds_by_accelerator  # it could serve, on a fleet


def test_an_accelerator_left_out_by_the_kinds_vendor_rule_says_so() -> None:
    """Inferentia offered only as kind kubernetes: the exclusion names the NVIDIA-only rule,
    not the placement."""
    zones = [zone("use1-az1", 0.76)]
    catalog = catalog_of(
        offering("inf2.xlarge", "Inferentia2", 2, 16.0, zones, kind="kubernetes"),
        offering("g6e.xlarge", "L40S", 1, 44.7, [zone("use1-az1", 1.861)], kind="kubernetes"),
    )
    profile = make_profile(
        placement={"clouds": ["aws"], "kinds": ["kubernetes"], "zones": 1},
        deploy={"kubernetes": {"cluster": "gpu-serving"}},
    )
    found = recommend(profile, catalog)
    (reason,) = [e.reason for e in found.excluded if e.subject == "Inferentia2"]
    assert reason == (
        "Inferentia2: made by AWS, and kind kubernetes serves only on NVIDIA accelerators."
    )
    assert "not offered" not in reason


def _azure_created(region: str = "westus3") -> Profile:
    return make_profile(
        placement={"clouds": ["azure"], "kinds": ["kubernetes"], "regions": [region]},
        deploy={"kubernetes": {"create_cluster": True}},
    )


def _azure_catalog(region: str = "westus3"):
    return catalog_of(
        offering(
            "Standard_NC24ads_A100_v4",
            "A100-80GB",
            1,
            80,
            [zone("", 3.67)],
            cloud="azure",
            kind="fleet",
            region=region,
        ),
        offering(
            "Standard_NC24ads_A100_v4",
            "A100-80GB",
            1,
            80,
            [zone("", 3.67)],
            cloud="azure",
            kind="kubernetes",
            region=region,
        ),
    )


def test_a_created_aks_cluster_pays_its_system_pool_too() -> None:
    """AKS's system pool (2 × Standard_D4s_v5, providers/azure) is in the fixed hourly cost at
    the shipped services.csv prices: 0.10 (Standard tier, eastus's) + 2 × 0.192 in westus3."""
    from providers.azure import AKS_SYSTEM_NODE_COUNT, vm_hour_item
    from providers.targets import cloud

    created = recommend(_azure_created(), _azure_catalog(), Filters(kinds=KUBERNETES)).chosen
    pool = next(t for t in cloud("azure").targets if t.kind.name == "kubernetes").system_pool
    assert pool is not None and pool.nodes == AKS_SYSTEM_NODE_COUNT
    assert pool.item == vm_hour_item("Standard_D4s_v5")
    assert created.fixed_usd == pytest.approx(0.10 + 2 * 0.192)


def test_a_system_pool_without_a_price_row_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from planner import kubernetes
    from providers.service_prices import ServicePrices

    monkeypatch.setattr(kubernetes, "load_service_prices", lambda name: ServicePrices(name, {}))
    with pytest.raises(CatalogError) as error:
        recommend(_azure_created(), _azure_catalog(), Filters(kinds=KUBERNETES))
    message = str(error.value)
    assert "vm.Standard_D4s_v5.hour" in message and "system pool" in message
    assert message.count(". ") == 0 and message.endswith(".")
