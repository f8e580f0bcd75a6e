"""Hypothesis: 1,000 random inboxes of hostile files — the sensor never raises, every good file
becomes a run request, every other file ends in `rejected/` beside an `.error.txt` (issue 15).

Files mix random bytes, random JSON/YAML documents, huge integers, deep nesting, alias bombs,
merge and duplicate keys, binary, symlinks (out of the inbox, dangling) and odd names (unicode,
controls, undecodable bytes, very long names). Each example ticks the demo-shaped sensor (the
beam model's own input validation) once on a fresh inbox.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

import dagster as dg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lume_assets.assets.model_assets import model_asset
from lume_assets.automation.model_partitions import (
    inbox_inputs,
    model_inputs_validator,
)
from lume_assets.automation.sensors import InboxSensorSpec, build_inbox_sensor
from lume_assets.demo.beam_model import BEAM_ENVELOPE

SUFFIXES = [".yaml", ".yml", ".json", ".YAML"]
INBOX_ROOT = Path(tempfile.mkdtemp(prefix="lume-inbox-fuzz-"))
atexit.register(shutil.rmtree, INBOX_ROOT, True)  # every example's inbox lives under it
OUTSIDE = INBOX_ROOT / "outside-secret.yaml"
OUTSIDE.write_text("k_f: sk-live-outside\n")


TARGET = model_asset(
    BEAM_ENVELOPE,
    partitions_def=dg.DynamicPartitionsDefinition(name="fuzz_inputs"),
    partition_inputs=inbox_inputs(INBOX_ROOT),
    key_prefix="fuzz",
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**500), max_value=10**500)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
input_names = st.sampled_from(["k_f", "k_d", "energy", "drift", "db_password", "x", ""])


@st.composite
def contents(draw: st.DrawFn) -> bytes:
    """One file's bytes: valid inputs, or one of many kinds of hostile content."""
    kind = draw(st.integers(min_value=0, max_value=10))
    if kind == 0:  # random bytes, often binary
        return draw(st.binary(max_size=300))
    if kind == 1:  # a random JSON document
        return json.dumps(draw(json_values)).encode()
    if kind == 2:  # a mapping of input names to random values
        return json.dumps(draw(st.dictionaries(input_names, json_values, max_size=4))).encode()
    if kind == 3:  # a huge integer
        digits = draw(st.integers(min_value=300, max_value=5000))
        return f"k_f: {'9' * digits}\n".encode()
    if kind == 4:  # deep nesting, JSON or YAML flow style
        depth = draw(st.integers(min_value=10, max_value=3000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        tail = "1" if opener != "[" else ""
        return f'{{"k_f": {opener * depth}{tail}{closer * depth}}}'.encode()
    if kind == 5:  # an alias bomb
        levels = draw(st.integers(min_value=1, max_value=9))
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x]"]
        lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 8) + "]" for i in range(1, levels)]
        return ("\n".join(lines) + "\n").encode()
    if kind == 6:  # merge and duplicate keys
        return draw(
            st.sampled_from(
                [b"k_f: 2.2\n<<: {k_d: -2}\n", b"k_f: 2.2\nk_f: 2.3\n", b'{"k_f": 2, "k_f": 3}']
            )
        )
    if kind == 7:  # random YAML-ish text
        return draw(st.text(alphabet="k_f:&*<>[]{}!|-#'\" \n\t0123456789.e", max_size=120)).encode()
    if kind == 8:  # valid-looking inputs with random values
        value = draw(st.one_of(st.floats(), st.integers(), st.text(max_size=10), st.booleans()))
        return json.dumps({"k_f": value}, allow_nan=True).encode()
    if kind == 9:  # YAML tags and odd scalars
        return draw(
            st.sampled_from(
                [
                    b"k_f: !!binary aGVsbG8=\n",
                    b"k_f: !!python/object:os.system ls\n",
                    b"k_f: 2001-12-14t21:59:43.10-05:00\n",
                    b"k_f: !!set {a, b}\n",
                    b"? [a, b]\n: 1\n",
                    b"--- \nk_f: 1\n--- \nk_f: 2\n",
                    b"\xef\xbb\xbfk_f: 2.2\n",
                ]
            )
        )
    return draw(st.sampled_from([b"k_f: 2.2\n", b'{"k_f": 2.25, "k_d": -2.0}', b"k_f: 2.3\n"]))


stems = st.one_of(
    st.text(min_size=1, max_size=30).filter(lambda s: "/" not in s and "\x00" not in s),
    st.sampled_from(
        ["a b", "-rf", "ü-ñ", "a|b", "x...y", "tab\there", "new\nline", "\udcff\udcfe"]
    ),
    st.integers(min_value=200, max_value=245).map(lambda n: "L" * n),
)


@st.composite
def inboxes(draw: st.DrawFn) -> list[tuple[str, bytes | str]]:
    """1-4 files: (name, bytes) or (name, symlink target)."""
    names = draw(
        st.lists(
            st.tuples(stems, st.sampled_from(SUFFIXES)).map(lambda t: t[0] + t[1]),
            min_size=1,
            max_size=4,
            unique_by=lambda n: os.fsencode(n).lower(),
        ).filter(lambda ns: all(not n.startswith(".") and len(os.fsencode(n)) <= 255 for n in ns))
    )
    files: list[tuple[str, bytes | str]] = []
    for name in names:
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            files.append((name, draw(st.sampled_from([str(OUTSIDE), "/etc/passwd", "nowhere"]))))
        else:
            files.append((name, draw(contents())))
    return files


@pytest.fixture(scope="module")
def instance():
    """One Dagster test instance for every example."""
    with dg.instance_for_test() as inst:
        yield inst


COUNTER = [0]


@settings(
    max_examples=1000,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(files=inboxes())
def test_the_sensor_never_raises_and_rejects_every_bad_file(instance, files) -> None:
    COUNTER[0] += 1
    inbox = INBOX_ROOT / f"inbox{COUNTER[0]}"
    inbox.mkdir()
    for name, content in files:
        if isinstance(content, str):
            os.symlink(content, inbox / name)
        else:
            (inbox / name).write_bytes(content)
    sensor = build_inbox_sensor(
        InboxSensorSpec(name="fuzz_inbox", inbox_dir=inbox),
        target=TARGET,
        inputs_model=model_inputs_validator(BEAM_ENVELOPE),
    )
    with dg.build_sensor_context(instance=instance, cursor=None) as context:
        result = sensor(context)  # must not raise
    assert isinstance(result, dg.SensorResult)
    accepted = {r.partition_key for r in result.run_requests}
    for name, content in files:
        if name in accepted:
            assert (inbox / name).exists() and not isinstance(content, str)
            continue
        moved = inbox / "rejected" / name
        assert os.path.lexists(moved), f"{name!r} neither accepted nor rejected"
        assert not os.path.lexists(inbox / name)
        errors = [p for p in (inbox / "rejected").iterdir() if p.name.endswith(".error.txt")]
        assert any(p.name.startswith(name[:100]) for p in errors), f"no .error.txt for {name!r}"
        assert "sk-live-outside" not in "".join(p.read_text() for p in errors)
    # a second tick from the new cursor has nothing left to do
    with dg.build_sensor_context(instance=instance, cursor=result.cursor) as context:
        again = sensor(context)
    assert again.run_requests == []
