"""Time one new-input sensor tick over N new input files (default 10,000).

Measures, in one process on a real SQLite-backed Dagster instance:
  * the sensor's own evaluation (scan, hash, parse, validate, build run requests);
  * the whole tick as the code server runs it (`SensorDefinition.evaluate_tick` with the
    repository, which resolves every run request against the partitions);
  * serializing the tick result (what travels over gRPC to the daemon);
  * the next, idle tick over the same N files (stat only).

    PYTHONPATH=$PWD /work/main/.venv/bin/python bench/sensor_bench.py [--files 10000] [--yaml]
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import dagster as dg
from dagster._core.definitions.sensor_definition import SensorEvaluationContext
from dagster._serdes import serialize_value
from pydantic import BaseModel, Field

from lume_assets.automation.sensors import InboxSensorSpec, build_inbox_sensor

PARTITIONS = dg.DynamicPartitionsDefinition(name="bench_inputs")


class Inputs(BaseModel):
    """The benchmark model's inputs."""

    energy: float = Field(gt=0)
    charge: float = 1.0


@dg.asset(partitions_def=PARTITIONS)
def bench_eval(config: dg.PermissiveConfig) -> float:
    """The sensor target."""
    return config.energy * config.charge


def write_files(inbox: Path, count: int, yaml: bool) -> None:
    """Deliver `count` input files (written under a hidden name, then renamed)."""
    for i in range(count):
        name = f"point_{i:06d}." + ("yaml" if yaml else "json")
        text = f"energy: {1 + i % 97}\ncharge: 0.5\n" if yaml else json.dumps({"energy": 1 + i})
        tmp = inbox / f".{name}.part"
        tmp.write_text(text)
        os.replace(tmp, inbox / name)


def daemon_context(
    instance: dg.DagsterInstance, defs: dg.Definitions, name: str, cursor: str | None
) -> SensorEvaluationContext:
    """A sensor context built the way the gRPC code server builds it."""
    repo = defs.get_repository_def()
    return SensorEvaluationContext(
        instance.get_ref(),
        last_tick_completion_time=None,
        last_run_key=None,
        cursor=cursor,
        log_key=None,
        repository_name=repo.name,
        repository_def=repo,
        sensor_name=name,
        resources={},
        last_sensor_start_time=None,
    )


def main() -> None:
    """Run the benchmark and print one line per measurement."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--yaml", action="store_true", help="YAML files (default JSON)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test(temp_dir=tmp) as instance:
        sensors = {}
        for which in ("fn", "tick"):
            inbox = Path(tmp) / f"inbox_{which}"
            inbox.mkdir()
            write_files(inbox, args.files, args.yaml)
            sensors[which] = build_inbox_sensor(
                InboxSensorSpec(name=f"bench_inbox_{which}", inbox_dir=inbox),
                target=bench_eval,
                inputs_model=Inputs,
            )
        defs = dg.Definitions(assets=[bench_eval], sensors=list(sensors.values()))

        t0 = time.perf_counter()
        raw = sensors["fn"](dg.build_sensor_context(instance=instance))
        t_fn = time.perf_counter() - t0
        assert len(raw.run_requests) == args.files

        sensor = sensors["tick"]
        with daemon_context(instance, defs, sensor.name, None) as context:
            t0 = time.perf_counter()
            data = sensor.evaluate_tick(context)
            t_tick = time.perf_counter() - t0
        assert len(data.run_requests) == args.files, len(data.run_requests)
        t0 = time.perf_counter()
        payload = serialize_value(data)
        t_ser = time.perf_counter() - t0
        with daemon_context(instance, defs, sensor.name, data.cursor) as context:
            t0 = time.perf_counter()
            idle = sensor.evaluate_tick(context)
            t_idle = time.perf_counter() - t0
        assert not idle.run_requests
        cursor = data.cursor
    kind = "YAML" if args.yaml else "JSON"
    print(f"files: {args.files} {kind}")
    print(f"sensor evaluation (scan+parse+validate+requests): {t_fn:.2f} s")
    print(f"full tick as the code server runs it (evaluate_tick): {t_tick:.2f} s")
    print(f"serialize tick result for gRPC: {t_ser:.2f} s ({len(payload) / 1e6:.1f} MB)")
    print(f"full tick + serialization vs Dagster's 60 s timeout: {(t_tick + t_ser) / 60:.1%}")
    print(f"next idle tick over the same files: {t_idle * 1e3:.0f} ms")
    print(f"cursor size: {len(cursor)} bytes")


if __name__ == "__main__":
    main()
