"""Time to price a large plan: a `terraform show -json` document with N resources (default 500:
45 GPU fleets of 11 resources each plus KMS keys), priced with the shipped catalog.

    .venv/bin/python bench/cost_plan.py [--resources N] [--runs R]

Prints the median of R runs for pricing in one process (read, price, JSON) and for the whole
command as a user runs it (`infra cost --plan FILE --json`, process start-up included). The
target is well under a second for 500 resources; the exit status is 1 when the command misses it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
TARGET_S = 1.0
INSTANCE_TYPES = ("g5.xlarge", "g6.xlarge", "g5.12xlarge", "g6.12xlarge", "p4d.24xlarge")


def _change(address: str, after: dict, references: list[str]) -> tuple[dict, dict]:
    resource_type, name = address.split(".", 1)
    change = {
        "address": address,
        "mode": "managed",
        "type": resource_type,
        "name": name,
        "change": {"actions": ["create"], "before": None, "after": after},
    }
    configured = {
        "address": address,
        "mode": "managed",
        "type": resource_type,
        "name": name,
        "expressions": {"refs": {"references": references}},
    }
    return change, configured


def fleet(index: int) -> list[tuple[dict, dict]]:
    """One GPU fleet: group, template, two subnets, load balancer, NAT and its address,
    three alarms and a role (11 resources)."""
    instance_type = INSTANCE_TYPES[index % len(INSTANCE_TYPES)]
    template = f"aws_launch_template.fleet{index}"
    subnets = [f"aws_subnet.fleet{index}_{zone}" for zone in (1, 2)]
    group = {
        "min_size": 2,
        "desired_capacity": 3,
        "max_size": 8,
        "mixed_instances_policy": [
            {
                "instances_distribution": [
                    {"on_demand_base_capacity": 1, "on_demand_percentage_above_base_capacity": 0}
                ],
                "launch_template": [{"override": [{"instance_type": instance_type}]}],
            }
        ],
    }
    alarm = {"metric_name": "HTTPCode_Target_5XX_Count", "period": 60}
    return [
        _change(f"aws_autoscaling_group.fleet{index}", group, [template, *subnets]),
        _change(
            template,
            {
                "instance_type": instance_type,
                "block_device_mappings": [{"ebs": [{"volume_size": 200, "volume_type": "gp3"}]}],
                "monitoring": [{"enabled": True}],
            },
            [],
        ),
        *(
            _change(subnet, {"availability_zone_id": f"use1-az{zone}"}, [])
            for zone, subnet in enumerate(subnets, start=1)
        ),
        _change(f"aws_lb.fleet{index}", {"load_balancer_type": "application"}, []),
        _change(f"aws_nat_gateway.fleet{index}", {}, []),
        _change(f"aws_eip.fleet{index}", {"domain": "vpc"}, []),
        *(_change(f"aws_cloudwatch_metric_alarm.fleet{index}_{n}", alarm, []) for n in range(3)),
        _change(f"aws_iam_role.fleet{index}", {"name": f"fleet{index}"}, []),
    ]


def large_plan(resources: int) -> dict:
    pairs: list[tuple[dict, dict]] = []
    index = 0
    while len(pairs) + 11 <= resources:
        pairs += fleet(index)
        index += 1
    while len(pairs) < resources:
        pairs.append(_change(f"aws_kms_key.key{len(pairs)}", {}, []))
    return {
        "format_version": "1.2",
        "resource_changes": [change for change, _ in pairs],
        "configuration": {
            "provider_config": {
                "aws": {"name": "aws", "expressions": {"region": {"constant_value": "us-east-1"}}}
            },
            "root_module": {"resources": [configured for _, configured in pairs]},
        },
    }


def time_in_process(path: Path) -> float:
    from planner.cost.plan_resources import read_planned
    from planner.cost.pricing import price_plan
    from providers.catalog import load_catalog

    catalog = load_catalog()  # loaded once per process, as in the CLI
    start = time.perf_counter()
    report = price_plan(read_planned(path), catalog, source=str(path))
    json.dumps(report.to_dict())
    return time.perf_counter() - start


def time_command(path: Path) -> float:
    infra = Path(sys.executable).with_name("infra")
    start = time.perf_counter()
    subprocess.run(
        [str(infra), "cost", "--plan", str(path), "--json"], check=True, capture_output=True
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=500)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "plan.json"
        path.write_text(json.dumps(large_plan(args.resources)))
        time_command(path)  # warm the page cache and bytecode
        in_process = statistics.median(time_in_process(path) for _ in range(args.runs))
        command = statistics.median(time_command(path) for _ in range(args.runs))
    print(f"plan with {args.resources} resources, median of {args.runs} runs")
    print(f"  price in process (read, price, JSON): {in_process * 1000:7.1f} ms")
    print(
        f"  infra cost --plan --json (whole command): {command * 1000:7.1f} ms "
        f"(target < {TARGET_S:.1f} s)"
    )
    return 0 if command < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
