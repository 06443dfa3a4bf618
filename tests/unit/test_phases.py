"""Where the time goes: exact arithmetic of the phase clock, the stall rule, the server split and the
process timeline, with fake clocks and a scripted engine (the real engines are in tests/backends)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xybrid_notebook import GenerationConfig, LlmConfig
from xybrid_notebook.backends.remote import ServerTiming, split_waits
from xybrid_notebook.backends.scripted import Script, ScriptedBackend
from xybrid_notebook.host import ProcessTimeline
from xybrid_notebook.metrics import (
    ChunkClock,
    EngineReport,
    PhaseClock,
    PhasePlan,
    RunIdentity,
    find_stalls,
)
from xybrid_notebook.types import where_time_went

PLAN = PhasePlan(first=("prepare", "prefill"), repeating=("decode", "sample", "text"), cpu=True)


class Readings:
    """Returns the given readings (ms for the wall clock, ms of CPU for the CPU clock) in order, as ns."""

    def __init__(self, ms: list[float]) -> None:
        self.ns = [round(v * 1_000_000) for v in ms]

    def __call__(self) -> int:
        return self.ns.pop(0)


def test_phases_sum_to_each_gap_and_client_takes_the_rest() -> None:
    wall = Readings(
        [
            0.0,  # start (prepare opens)
            1.0,  # prefill
            21.0,  # sample
            22.0,  # text
            22.5,  # stamp chunk 0: TTFT 22.5 = prepare 1 + prefill 20 + sample 1 + text 0.5
            23.0,  # decode (client 0.5)
            31.0,  # sample
            31.25,  # text
            31.5,  # stamp chunk 1: gap 9 = client 0.5 + decode 8 + sample 0.25 + text 0.25
            32.0,  # the end
        ]
    )
    cpu = Readings([0.0, 40.0, 44.5])  # the start, then each stamp: 40 ms of CPU for chunk 0, 4.5 for chunk 1
    phases = PhaseClock(ChunkClock(wall), PLAN, threads=2, cpu_now=cpu)
    prepare, prefill, decode, sample, text = (phases.index(name) for name in PLAN.names)
    phases.start()
    phases.enter(prefill)
    phases.enter(sample)
    phases.enter(text)
    phases.stamp()
    phases.enter(decode)
    phases.enter(sample)
    phases.enter(text)
    phases.stamp()
    phases.clock.stop()
    out = phases.clock.build_output(
        ["a", "b"], EngineReport(tokens_generated=2), RunIdentity("s", "m", "cpu"), "stop", phases
    )
    assert out.phases_ms == {
        "prepare": [1.0, 0.0],
        "prefill": [20.0, 0.0],
        "decode": [0.0, 8.0],
        "sample": [1.0, 0.25],
        "text": [0.5, 0.25],
        "client": [0.0, 0.5],
    }
    gaps = [out.ttft_ms, *out.inter_chunk_ms]
    for i, gap in enumerate(gaps):
        assert sum(values[i] for values in out.phases_ms.values()) == pytest.approx(gap, abs=1e-9)
    # chunk 1: 4.5 ms of CPU over its 9 ms gap x 2 threads
    shares = phases.cpu_shares(np.array(gaps))
    assert shares is not None and shares[1] == pytest.approx(0.25)


def test_breakdown_shares_and_the_one_line() -> None:
    wall = Readings([0.0, 2.0, 10.0, 10.0, 12.0, 20.0, 20.0])
    plan = PhasePlan(first=("prepare",), repeating=("decode",))
    phases = PhaseClock(ChunkClock(wall), plan)
    phases.start()
    phases.enter(1)
    phases.stamp()  # 10 ms: prepare 2, decode 8
    phases.enter(1)  # at 10: client 0
    phases.enter(2)  # at 12: decode 2, then client
    phases.stamp()  # at 20: client 8
    phases.clock.stop()
    out = phases.clock.build_output(
        ["a", "b"], EngineReport(tokens_generated=2), RunIdentity("s", "m", "cpu"), "stop", phases
    )
    frame = out.breakdown()
    assert list(frame.columns) == ["phase", "total_ms", "share", "p50_ms", "p99_ms"]
    assert dict(zip(frame.phase, frame.total_ms)) == {"prepare": 2.0, "decode": 10.0, "client": 8.0}
    assert frame.share.sum() == pytest.approx(1.0)
    assert out.where_time_went == "prepare 10 % · decode 50 % · client 40 %"
    exported = json.loads(json.dumps(out.to_dict()))
    assert exported["phases_ms"]["client"] == [0.0, 8.0]
    assert exported["stalls"] == []


def test_a_stall_is_a_low_cpu_share_in_a_long_gap() -> None:
    gaps = np.array([50.0, 8.0, 8.2, 7.9, 30.0, 8.1, 12.0, 8.0])
    shares = np.array([np.nan, 0.95, 0.97, 0.96, 0.40, 0.95, 0.94, 0.45])
    stalls = find_stalls(gaps, shares)
    # chunk 4: share 0.40 and a gap 3.7x the median; chunk 6 is slow but had its CPU; chunk 7 had little CPU
    # but its gap is usual
    assert [s["index"] for s in stalls] == [4]
    assert stalls[0]["gap_ms"] == 30.0 and stalls[0]["cpu_share"] == pytest.approx(0.40)
    assert find_stalls(gaps, None) == []


def test_who_ran_weights_the_readings_around_a_window() -> None:
    timeline = ProcessTimeline()
    timeline.intervals = [
        (0.0, 0.2, {"chromium": 0.5}),
        (0.2, 0.4, {"xybrid-hog": 1.9, "chromium": 0.1}),
        (0.4, 0.6, {}),
    ]
    assert timeline.who_ran(0.25, 0.30) == [{"name": "xybrid-hog", "cores": 1.9}, {"name": "chromium", "cores": 0.1}]
    assert timeline.who_ran(0.15, 0.25) == [
        {"name": "xybrid-hog", "cores": 0.95},
        {"name": "chromium", "cores": 0.3},
    ]
    assert timeline.who_ran(0.45, 0.5) == []


def test_server_timings_split_the_waits_and_carry_a_bunched_decode() -> None:
    phases = {
        "prepare": [0.5, 0.0, 0.0, 0.0],
        "connect": [0.3, 0.0, 0.0, 0.0],
        "send": [0.2, 0.0, 0.0, 0.0],
        "wait": [40.0, 16.0, 0.1, 8.5],
        "text": [0.1, 0.1, 0.1, 0.1],
        "client": [0.0, 0.1, 0.1, 0.1],
    }
    timings = [ServerTiming(30.0, 0.0), ServerTiming(30.0, 8.0), ServerTiming(30.0, 16.0), ServerTiming(30.0, 24.0)]
    split = split_waits(phases, timings)
    assert "wait" not in split
    assert split["server_prefill"] == [30.0, 0.0, 0.0, 0.0]
    assert split["server_queue"][0] == pytest.approx(10.0)
    # chunk 2 arrived 0.1 ms after chunk 1: its 8 ms decode was already in chunk 1's wait. It takes chunk 2's
    # whole gap (wait, client, text), carries on into chunk 3's, and what is left goes back into chunk 1's
    assert split["server_decode"] == pytest.approx([0.0, 15.0, 0.3, 8.7])
    assert split["text"] == pytest.approx([0.1, 0.1, 0.0, 0.0]) and split["client"] == pytest.approx([0, 0.1, 0, 0])
    assert sum(split["server_decode"]) == pytest.approx(timings[-1].predicted_ms)
    assert all(v >= 0 for v in split["transport"])
    for i in range(4):
        assert sum(v[i] for v in split.values()) == pytest.approx(sum(v[i] for v in phases.values()))
    assert list(split)[-1] == "client"
    assert split_waits(phases, [None, None, None, None]) is phases


def test_a_scripted_run_splits_every_gap() -> None:
    from tests.fake_time import FakeTime

    fake = FakeTime()
    backend = ScriptedBackend(Script(chunks=["a", "b", "c", "d"], delays_s=[0.05, 0.01, 0.02, 0.01], sleep=fake.sleep))
    backend.load(LlmConfig("scripted.gguf"))
    out = backend.generate_raw_streaming("go", GenerationConfig(max_tokens=8), None, clock=ChunkClock(fake.ns))
    assert set(out.phases_ms) == {"prepare", "decode", "text", "client"}
    gaps = [out.ttft_ms, *out.inter_chunk_ms]
    for i, gap in enumerate(gaps):
        assert sum(values[i] for values in out.phases_ms.values()) == pytest.approx(gap, abs=0.05)
    assert out.phases_ms["decode"][1:] == pytest.approx([10.0, 20.0, 10.0], abs=0.01)


def test_the_one_line_names_the_stalls_and_who_ran() -> None:
    stalls = [{"index": 4, "gap_ms": 30.0, "cpu_share": 0.4, "others": [{"name": "xybrid-hog", "cores": 1.9}]}]
    line = where_time_went({"decode": 0.9, "client": 0.1}, stalls, 0.03)
    assert line == "decode 90 % · client 10 % · stalls 3.0 % (1 gap; xybrid-hog 1.9 cores)"


def test_spans_carry_phase_totals_and_stall_events() -> None:
    from xybrid_notebook.otel import span_attributes, stall_events

    wall = Readings([0.0, 2.0, 10.0, 12.0, 20.0, 20.0])
    phases = PhaseClock(ChunkClock(wall), PhasePlan(first=("prepare",), repeating=("decode",)))
    phases.start()
    phases.enter(1)
    phases.stamp()
    phases.enter(1)
    phases.stamp()
    phases.clock.stop()
    out = phases.clock.build_output(
        ["a", "b"], EngineReport(tokens_generated=2), RunIdentity("s", "m", "cpu"), "stop", phases
    )
    out.stalls = [{"index": 1, "gap_ms": 10.0, "cpu_share": 0.3, "others": [{"name": "chromium", "cores": 0.8}]}]
    attributes = span_attributes(out, None, "chat")
    assert attributes["xybrid.phase.decode_ms"] == pytest.approx(16.0)
    assert attributes["xybrid.phase.client_ms"] == pytest.approx(2.0) and attributes["xybrid.stalls"] == 1
    ((at_ns, event),) = stall_events(out, 1_000_000_000)
    assert at_ns == 1_000_000_000 + 20_000_000 and event["xybrid.others"] == ["chromium 0.80"]


def test_a_decode_the_last_waits_cannot_hold_goes_back_into_earlier_ones() -> None:
    phases = {"prepare": [0.1, 0.0, 0.0], "wait": [20.0, 15.0, 1.5], "client": [0.0, 0.1, 0.1]}
    timings = [ServerTiming(10.0, 0.0), ServerTiming(10.0, 8.0), ServerTiming(10.0, 16.0)]
    split = split_waits(phases, timings)
    assert split["server_decode"] == pytest.approx([0.0, 14.4, 1.6])
    assert split["transport"] == pytest.approx([0, 0.6, 0]) and split["client"] == pytest.approx([0.0, 0.1, 0.0])
