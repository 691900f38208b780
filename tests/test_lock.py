"""The lock file: a decision is taken once per environment, recorded beside the profile, and every
later command uses it until `--replan` (no Terraform here: orchestrator.decisions and the CLI
commands that stop before Terraform)."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pytest
import yaml

import planner.service
from orchestrator.decisions import LockMissing, LockStale, record, resolve
from planner.lock import LockError, lock_path, read_lock
from planner.optimizer import Filters
from providers.catalog import Catalog, load_catalog
from tests.conftest import EXAMPLES, Cli

AWS_FLEET = Filters(clouds=frozenset({"aws"}), kinds=frozenset({"fleet"}))
NO_PINS = Filters()


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "chat-8b.yaml"
    shutil.copy(EXAMPLES / "chat-8b.yaml", path)
    return path


def recorded(profile: Path, env: str = "local", filters: Filters = NO_PINS) -> None:
    """What `infra plan` does after its plan passed the gates."""
    record(resolve(profile, env, filters), 4321.0)


def priced(catalog: Catalog, factor: float, instance_type: str, region: str) -> Catalog:
    """The catalog with one offering's prices multiplied by `factor` (a price change)."""

    def changed(offering):  # type: ignore[no-untyped-def]
        if (offering.instance_type, offering.region) != (instance_type, region):
            return offering
        zones = tuple(
            msgspec.structs.replace(
                z,
                ondemand_usd=z.ondemand_usd and z.ondemand_usd * factor,
                spot_usd=z.spot_usd and z.spot_usd * factor,
            )
            for z in offering.zones
        )
        return msgspec.structs.replace(offering, zones=zones)

    return Catalog(tuple(changed(o) for o in catalog.offerings))


def test_the_first_decision_is_recorded_and_then_reused(profile: Path) -> None:
    first = resolve(profile, "local", Filters())
    assert first.source == "new" and first.needs_recording
    assert not lock_path(profile).exists()  # deciding writes nothing; plan and deploy record
    recorded(profile)
    lock = read_lock(lock_path(profile))
    entry = lock.environments["local"]
    assert lock.profile == "chat-8b.yaml"
    assert entry.decision == first.decision and entry.deployment_monthly_usd == 4321.0
    assert entry.deployment_id == first.spec.deployment_id
    again = resolve(profile, "local", Filters())
    assert again.source == "lock" and not again.needs_recording
    assert again.spec == first.spec
    assert lock_path(profile).read_text().startswith("# The decisions `infra plan`")


def test_a_catalog_change_does_not_move_a_locked_deployment(
    profile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded(profile)
    locked = read_lock(lock_path(profile)).environments["local"].decision
    dearer = priced(load_catalog(), 3.0, locked.instance_type, locked.region)
    monkeypatch.setattr(planner.service, "load_catalog", lambda: dearer)
    assert resolve(profile, "local", Filters()).decision == locked
    replanned = resolve(profile, "local", Filters(), replan=True)
    assert replanned.source == "replan" and replanned.needs_recording
    change = replanned.change
    assert change is not None and change.changed
    assert any(reason.startswith("the locked choice now costs $") for reason in change.reasons)
    assert change.after_monthly_usd < locked.instances_monthly_usd * 3
    assert replanned.spec.deployment_id == locked_id(profile)  # the deployment keeps its name


def locked_id(profile: Path) -> str:
    return read_lock(lock_path(profile)).environments["local"].deployment_id


def test_a_replan_that_decides_the_same_records_nothing(profile: Path) -> None:
    recorded(profile)
    replanned = resolve(profile, "local", Filters(), replan=True)
    assert replanned.change is not None and not replanned.change.changed
    assert replanned.change.reasons == ["the optimizer makes the same decision"]
    assert not replanned.needs_recording


def test_an_edit_that_keeps_the_decision_is_recorded_so_locked_accepts_it(profile: Path) -> None:
    recorded(profile)
    before = read_lock(lock_path(profile)).environments["local"]
    data = yaml.safe_load(profile.read_text())
    data["tags"]["owner"] = "ml-platform"  # a section the decision does not depend on
    data["placement"]["spot"]["policy"] = "allowed"  # the same value, written out again
    data["runtime"]["max_batch"] = data["runtime"].get("max_batch", 256)
    data["placement"]["min_replicas"] = 1  # fewer than the fleet runs anyway: same decision
    profile.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(LockStale, match="placement"):
        resolve(profile, "local", Filters(), locked_only=True)
    replanned = resolve(profile, "local", Filters(), replan=True)
    assert replanned.change is not None and not replanned.change.changed
    assert replanned.needs_recording
    record(replanned, 4321.0)
    after = read_lock(lock_path(profile)).environments["local"]
    assert after.decision == before.decision and after.deployment_id == before.deployment_id
    assert after.profile_digest != before.profile_digest
    assert resolve(profile, "local", Filters(), locked_only=True).source == "lock"


def test_a_pin_against_the_lock_is_refused_and_one_that_agrees_is_not(profile: Path) -> None:
    recorded(profile)
    locked = read_lock(lock_path(profile)).environments["local"].decision
    other = "us-west-2" if locked.region != "us-west-2" else "us-east-1"
    with pytest.raises(LockError, match=rf"--region {other} \(locked: {locked.region}\)"):
        resolve(profile, "local", Filters(regions=frozenset({other})))
    with pytest.raises(LockError, match="add --replan"):
        resolve(profile, "local", Filters(kinds=frozenset({"sagemaker"})))
    same = resolve(profile, "local", Filters(regions=frozenset({locked.region})))
    assert same.source == "lock"
    moved = resolve(profile, "local", Filters(regions=frozenset({other})), replan=True)
    assert moved.decision.region == other
    assert moved.change is not None and f"pinned --region {other}" in moved.change.reasons


def test_a_profile_changed_since_the_lock_is_refused_naming_the_sections(profile: Path) -> None:
    recorded(profile)
    text = profile.read_text()
    profile.write_text(
        text.replace("requests_per_second: 10", "requests_per_second: 30").replace(
            "tpot_ms: 50", "tpot_ms: 40"
        )
    )
    with pytest.raises(LockStale, match=r"\(workload, targets differ\).*--replan"):
        resolve(profile, "local", Filters())
    readable = resolve(profile, "local", Filters(), allow_stale=True)
    assert readable.stale_sections == ["workload", "targets"]
    profile.write_text(text.replace("team: assistant", "team: search"))  # tags: not a decision
    assert resolve(profile, "local", Filters()).spec.tags["team"] == "search"


def test_locked_refuses_a_new_decision(profile: Path) -> None:
    with pytest.raises(LockMissing, match="--locked forbids a new one"):
        resolve(profile, "prod", Filters(), locked_only=True)
    with pytest.raises(LockError, match="contradict each other"):
        resolve(profile, "prod", Filters(), locked_only=True, replan=True)


def test_environments_are_recorded_side_by_side(profile: Path) -> None:
    recorded(profile, "local")
    recorded(profile, "prod", AWS_FLEET)
    lock = read_lock(lock_path(profile))
    assert sorted(lock.environments) == ["local", "prod"]
    local, prod = lock.environments["local"], lock.environments["prod"]
    assert local.deployment_id != prod.deployment_id or local.decision != prod.decision
    assert resolve(profile, "prod", Filters()).spec.stack_name.startswith("chat-8b-prod-")


def test_two_profiles_of_one_name_in_two_folders_get_different_names(tmp_path: Path) -> None:
    names = set()
    for folder in ("team-a", "team-b"):
        (tmp_path / folder).mkdir()
        path = tmp_path / folder / "chat-8b.yaml"
        shutil.copy(EXAMPLES / "chat-8b.yaml", path)
        names.add(resolve(path, "local", Filters()).spec.stack_name)
        assert resolve(path, "local", Filters()).spec.stack_name in names  # stable in a folder
    assert len(names) == 2


@pytest.mark.parametrize(
    "content",
    ["{not yaml", "format: infra-lock/1\nenvironments: {local: {decision: 3}}\n", "- a list\n"],
)
def test_a_broken_lock_file_is_one_sentence(profile: Path, content: str) -> None:
    lock_path(profile).write_text(content)
    with pytest.raises(LockError, match=r"chat-8b\.lock\.yaml"):
        resolve(profile, "local", Filters())


def test_a_lock_of_another_format_names_it(profile: Path) -> None:
    lock_path(profile).write_text("format: infra-lock/9\n")
    with pytest.raises(LockError, match="infra-lock/9"):
        resolve(profile, "local", Filters())


def test_cli_synth_and_cost_use_the_lock(cli: Cli, profile: Path) -> None:
    recorded(profile)
    entry = read_lock(lock_path(profile)).environments["local"]
    result, body = cli.json("synth", profile)
    assert result.exit_code == 0, result.output
    assert body["decision"]["source"] == "lock"
    assert body["decision"]["summary"] == entry.decision.summary()
    assert body["stack"] == f"chat-8b-local-{entry.deployment_id}"
    spec = yaml.safe_load((profile.parent / ".infra/chat-8b/local/spec.yaml").read_text())
    assert spec["expected_hourly_usd"] == entry.decision.hourly_usd
    other = "us-west-2" if entry.decision.region != "us-west-2" else "us-east-1"
    result = cli("synth", profile, "--region", other)
    assert result.exit_code == 1 and "add --replan" in result.stderr


def test_cli_lock_show_and_update(cli: Cli, profile: Path) -> None:
    result = cli("lock", "show", profile)
    assert result.exit_code == 1 and "holds no decision" in result.stderr
    result, body = cli.json("lock", "update", profile, "--env", "local")
    assert result.exit_code == 0, result.output
    assert body["lock_file"] == str(lock_path(profile))
    assert body["decision"]["source"] == "new"
    result, body = cli.json("lock", "show", profile)
    assert result.exit_code == 0, result.output
    (entry,) = body["environments"].values()
    assert entry["deployment_monthly_usd"] > entry["decision"]["hourly_usd"] * 730  # + services
    result = cli("lock", "update", profile, "--env", "local")
    assert result.exit_code == 0 and "is unchanged" in result.stdout


def test_recommend_shows_what_each_environment_deploys(cli: Cli, profile: Path) -> None:
    result, body = cli.json("recommend", profile)
    assert result.exit_code == 0, result.output
    (local,) = body["environments"]
    assert local["env"] == "local" and local["source"] == "new"
    chosen = body["chosen"]
    if (chosen["cloud"], chosen["kind"]) != ("aws", "fleet"):
        assert any("emulated AWS" in r for r in local["why_different"])
    else:  # Inferentia2 included: local deploys the unrestricted choice
        assert local["why_different"] == [] and chosen["instance_type"] in local["decision"]
    recorded(profile)
    result, body = cli.json("recommend", profile, "--env", "local")
    assert result.exit_code == 0, result.output
    (local,) = body["environments"]
    assert local["source"] == "lock" and local["deployment_monthly_usd"] == 4321.0
    assert (
        local["decision"] == read_lock(lock_path(profile)).environments["local"].decision.summary()
    )
    assert body["chosen"]["cloud"] == "aws" and body["chosen"]["kind"] == "fleet"


def test_a_second_run_of_one_environment_is_refused_while_the_first_holds_it(
    cli: Cli, profile: Path
) -> None:
    """Held from before synth until the apply ends: the second run neither plans nor records."""
    from orchestrator.workflow import exclusive, prepare

    first = prepare(profile, "local", Filters())
    with exclusive(first):
        result = cli("plan", profile, "--skip-check")
    assert result.exit_code == 1, result.output
    assert "another infra run (pid " in result.stderr and "chat-8b-local-" in result.stderr
    assert not lock_path(profile).exists()


def test_an_emptied_state_is_refused_instead_of_planned_over(profile: Path) -> None:
    from orchestrator.applied import AppliedState, StateMismatch, check_state_belongs, write_record
    from orchestrator.workflow import prepare

    deployment = prepare(profile, "local", Filters())
    write_record(deployment.workspace, deployment.spec, 37)
    where = str(deployment.workspace.state_file)
    with pytest.raises(StateMismatch, match=r"is empty, but 37 resources were applied from here"):
        check_state_belongs(deployment.spec, AppliedState(0, None), deployment.workspace, where)
    check_state_belongs(deployment.spec, AppliedState(37, None), deployment.workspace, where)


def test_a_state_of_another_profile_with_the_same_name_is_refused(profile: Path) -> None:
    from orchestrator.applied import AppliedState, StateMismatch, check_state_belongs
    from orchestrator.workflow import prepare

    deployment = prepare(profile, "local", Filters())
    theirs = msgspec.structs.replace(deployment.spec, deployment_id="beef")
    with pytest.raises(StateMismatch, match="two profiles named 'chat-8b' share it"):
        check_state_belongs(
            deployment.spec, AppliedState(12, theirs), deployment.workspace, "s3://b/k"
        )


@pytest.mark.parametrize(
    ("field", "hostile"),
    [
        ("region", "../../etc"),
        ("cloud", "aws; rm -rf /"),
        ("instance_type", "g6 --x"),
        ("engine", "sh"),
    ],
)
def test_a_hostile_value_in_the_lock_is_refused(profile: Path, field: str, hostile: str) -> None:
    """The lock file is committed and edited by people: its values are input, checked as such."""
    recorded(profile)
    path = lock_path(profile)
    data = yaml.safe_load(path.read_text())
    data["environments"]["local"]["decision"][field] = hostile
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(LockError, match=rf"decision\.{field}"):
        resolve(profile, "local", Filters())


def test_a_move_that_would_take_the_state_backend_along_is_refused(profile: Path) -> None:
    """The backend's region defaults to the deployment's: a region move must name it first."""
    data = yaml.safe_load(profile.read_text())
    data["deploy"] = {"environments": {"prod": {"backend": {"s3_bucket": "tf-state"}}}}
    profile.write_text(yaml.safe_dump(data, sort_keys=False))
    recorded(profile, "prod", AWS_FLEET)
    locked = read_lock(lock_path(profile)).environments["prod"].decision
    other = "us-west-2" if locked.region != "us-west-2" else "us-east-1"
    pinned = Filters(regions=frozenset({other}))
    with pytest.raises(LockError, match=r"set deploy\.environments\.prod\.backend\.region"):
        resolve(profile, "prod", pinned, replan=True)
    data["deploy"]["environments"]["prod"]["backend"]["region"] = locked.region
    profile.write_text(yaml.safe_dump(data, sort_keys=False))
    assert resolve(profile, "prod", pinned, replan=True).decision.region == other


@pytest.mark.parametrize(
    ("pins", "named"),
    [
        (("--cloud", "gcp"), "--cloud gcp"),
        (("--cloud", "azure"), "--cloud azure"),
        (("--kind", "vertex"), "--kind vertex"),
        (("--cloud", "gcp", "--kind", "vertex"), "--cloud gcp and --kind vertex"),
    ],
)
@pytest.mark.parametrize("command", ["synth", "plan", "deploy", "cost"])
def test_a_pin_off_the_emulator_with_the_local_environment_says_to_pass_env(
    cli: Cli, profile: Path, command: str, pins: tuple[str, ...], named: str
) -> None:
    result = cli(command, profile, *pins)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        f"error: the environment 'local' (the default) is the local emulated AWS, which {named} "
        "is not: pass --env with the environment to deploy to (e.g. --env prod), and that "
        "cloud's credentials for plan and deploy."
    )
    assert not lock_path(profile).exists()
    assert not (profile.parent / ".infra").exists()


def test_recommend_with_a_pin_off_the_emulator_still_recommends_and_says_why_local_cannot(
    cli: Cli, profile: Path
) -> None:
    result, body = cli.json("recommend", profile, "--cloud", "gcp")
    assert result.exit_code == 0, result.output
    assert body["chosen"]["cloud"] == "gcp"
    (local,) = body["environments"]
    assert local["decision"] is None
    assert "--cloud gcp is not: pass --env" in local["why_different"][0]


def test_aws_pins_and_other_environments_are_not_refused(profile: Path) -> None:
    from orchestrator.decisions import refuse_pins_off_the_emulator

    refuse_pins_off_the_emulator("local", Filters(kinds=frozenset({"sagemaker"})))
    refuse_pins_off_the_emulator("local", Filters(clouds=frozenset({"aws", "gcp"})))
    refuse_pins_off_the_emulator("prod", Filters(clouds=frozenset({"gcp"})))
