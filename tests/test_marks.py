"""Phase marks are checked where they enter the wrapper (greenhp.marks; issue 22): raw lines written
to a real pipe, read by MarkListener. Epochs are positive integers, strictly increasing, at most the
run's; fields have their types; dropped marks are counted with reasons; the marks stored are capped;
a listener never keeps a line longer than MAX_LINE and stops reading when told to."""

import json
import os
import time

import pytest

from greenhp.marks import MAX_LINE, MarkGate, MarkListener, MarkWriter, open_channel, settle


def listen(lines, epochs=None, cap=None, close=True):
    """Write ``lines`` (dicts as JSON, bytes as they are) to a fresh channel; return (accepted marks
    as (name, info), listener)."""
    got = []
    r, w = open_channel()
    gate = MarkGate(epochs, **({"cap": cap} if cap else {}))
    lst = MarkListener(r, "main", lambda label, name, **info: got.append((name, info)), gate)
    lst.start()
    for line in lines:
        os.write(w, line if isinstance(line, bytes) else (json.dumps(line) + "\n").encode())
    if close:
        os.close(w)
        lst.join(10)
        assert not lst.is_alive()
    return got, lst, (None if close else w)


def epochs_of(got):
    return [info["epoch"] for name, info in got if name == "epoch"]


def ep(e, **fields):
    return {"name": "epoch", "epoch": e, **fields}


def test_epochs_out_of_order_keep_the_first_and_count_the_rest():
    got, lst, _ = listen([ep(3), ep(2), ep(1)], epochs=3)
    assert epochs_of(got) == [3]
    assert lst.gate.summary()["marks_rejected"]["reasons"] == {"epoch not increasing": 2}


def test_epochs_must_be_positive():
    got, lst, _ = listen([ep(-5), ep(0), ep(-1), ep(1)])
    assert epochs_of(got) == [1]
    assert lst.gate.summary()["marks_rejected"]["reasons"] == {"epoch not a positive integer": 3}


def test_the_same_epoch_five_times_is_kept_once_not_averaged():
    got, lst, _ = listen([ep(1, metric=m) for m in (0.1, 0.2, 0.3, 0.4, 0.5)] + [ep(2, metric=0.6)])
    assert [(info["epoch"], info["metric"]) for _, info in got] == [(1, 0.1), (2, 0.6)]
    assert lst.gate.summary()["marks_rejected"]["reasons"] == {"duplicate epoch": 4}


def test_an_epoch_beyond_the_runs_epochs_is_rejected():
    got, lst, _ = listen([ep(1, epochs=3), ep(4), ep(2, epochs=5), ep(3)], epochs=3)
    assert epochs_of(got) == [1, 3]
    assert all(info["epochs"] == 3 for _, info in got)   # filled in from the run where the mark has none
    assert lst.gate.summary()["marks_rejected"]["reasons"] == {"epoch beyond the run's epochs": 1,
                                                               "epochs is not the run's": 1}


def test_fields_of_the_wrong_type_never_reach_the_meters():
    lines = [
        {"name": "epoch", "epoch": "x", "metric": "y"},
        {"epoch": {"a": 1}},
        ep({"a": 1}),
        ep(1.0),
        ep(True),
        ep(1, metric="y"),
        ep(1, metric={"a": 1}),
        ep(1, loss=[1]),
        ep(1, metric_name=7),
        ep(1, metric_name="m" * 65),
        ep(1, epochs="3"),
        {"name": "epoch", "epoch": 1, "t": "now"},
        {"name": ["epoch"]},
        [1, 2],
        b"not json\n",
        ep(1, metric=0.5, metric_name="accuracy", loss=0.25),
    ]
    got, lst, _ = listen(lines)
    assert got[-1][0] == "epoch" and len(got) == 1
    info = got[0][1]
    assert info["epoch"] == 1 and info["metric"] == 0.5 and info["loss"] == 0.25 and info["metric_name"] == "accuracy"
    s = lst.gate.summary()
    assert s["marks_received"] == len(lines) and s["marks_rejected"]["count"] == len(lines) - 1
    assert s["marks_rejected"]["reasons"] == {"epoch not a positive integer": 4, "field of the wrong type": 7,
                                              "unknown mark name": 2, "not a JSON object": 2}
    ex = s["marks_rejected"]["examples"]
    assert len(ex) == 5 and ex[0]["reason"] == "epoch = 'x' (str) is not an integer" and '"x"' in ex[0]["line"]
    assert lst.bad_lines == 2


def test_harness_marks_come_once_and_in_phase_order():
    lines = [{"name": "start"}, {"name": "run_start"}, {"name": "start"}, ep(1), {"name": "data_ready"},
             {"name": "run_end"}, ep(2), {"name": "run_end"}, {"name": "step"}]
    got, lst, _ = listen(lines)
    assert [name for name, _ in got] == ["start", "run_start", "epoch", "run_end"]
    assert lst.gate.summary()["marks_rejected"]["reasons"] == {
        "duplicate mark": 2, "out of phase order": 2, "unknown mark name": 1}


def test_nan_and_inf_arrive_as_such_and_are_left_empty():
    got = []
    r, w = open_channel()
    lst = MarkListener(r, "main", lambda label, name, **info: got.append((name, info)))
    lst.start()
    wr = MarkWriter(w)
    wr.mark("epoch", epoch=1, metric=float("nan"), loss=0.5)
    wr.mark("epoch", epoch=2, metric=float("inf"), loss=0.4, metrics=object())  # unserialisable: sent as text
    wr.mark("epoch", epoch=3, metric=0.9, loss=0.3)
    os.close(w)
    lst.join(10)
    assert [info["epoch"] for _, info in got] == [1, 2, 3]
    assert "metric" not in got[0][1] and "metric" not in got[1][1] and got[0][1]["loss"] == 0.5
    assert got[2][1]["metric"] == 0.9
    s = lst.gate.summary()
    assert s["not_finite"] == {"metric": [1, 2]} and s["marks_rejected"]["reasons"] == {}
    note = settle({**s, "training": {}, "epochs": [{"epoch": 1}, {"epoch": 2}, {"epoch": 3}]}, epochs=3)
    assert note == "metric not finite at epoch(s) 1, 2 (left empty)"


def test_epoch_marks_are_capped_and_the_rest_counted():
    got, lst, _ = listen([ep(e) for e in range(1, 51)] + [{"name": "run_end"}], cap=10)
    assert epochs_of(got) == list(range(1, 11)) and got[-1][0] == "run_end"
    s = lst.gate.summary()
    assert s["marks_cap"] == 10 and s["marks_rejected"]["reasons"] == {"over the cap": 40}


def test_a_line_without_end_is_never_kept_whole():
    huge = b'{"name": "epoch", "epoch": 1, "pad": "' + b"x" * (3 * 65536) + b'"}\n'
    got, lst, _ = listen([huge, ep(2)])
    assert epochs_of(got) == [2]
    assert lst.gate.summary()["marks_rejected"]["reasons"] == {"line too long": 1}
    assert len(lst.gate.examples[0]["line"]) <= 200


def test_finish_stops_reading_a_channel_held_open():
    got, lst, w = listen([ep(1)], close=False)
    time.sleep(0.2)
    t = time.monotonic()
    s = lst.finish(time.monotonic() + 0.3)
    assert time.monotonic() - t < 2 and s["marks_unread"] is True
    os.write(w, (json.dumps(ep(2)) + "\n").encode())
    time.sleep(0.2)
    assert epochs_of(got) == [1]          # read after finish: not passed on
    os.close(w)


def phase_set(epochs, training=True):
    return {"training": {"total_j": 1.0} if training else None, "epochs": [{"epoch": e} for e in epochs],
            "reason": None if training else "the training process sent no training start mark",
            "marks_rejected": {"count": 0, "reasons": {}}}


def test_settle_notes_marks_that_do_not_cover_the_epochs():
    ps = phase_set([1])
    note = settle(ps, epochs=3)
    assert note == ps["note"] and "epoch marks cover 1 of 3 epochs" in note
    assert ps["training"] is None and "not the end of training" in ps["training_reason"]
    full = phase_set([1, 2, 3])
    assert settle(full, epochs=3) is None and full["training"] is not None
    assert "no epoch marks for its 3 epochs" in settle(phase_set([]), epochs=3)
    assert "no training window" in settle(phase_set([], training=False), epochs=3)
    assert settle(phase_set([1]), epochs=3, status="failed") is None   # a crashed run stops early: its status says so
    assert "epoch marks cover 2 of 4" in settle(phase_set([1, 2]), epochs=None, epochs_run=4)


def test_settle_flags_an_epochs_run_that_is_not_the_runs():
    note = settle(phase_set([1, 2, 3]), epochs=3, epochs_run=999)
    assert note == "TrainResult.epochs_run = 999, but the run trains 3 epochs: not recorded"
    assert "not an integer" in settle(phase_set([1, 2, 3]), epochs=3, epochs_run="3")
    assert settle(phase_set([1, 2, 3]), epochs=3, epochs_run=3) is None


@pytest.mark.parametrize("line", [b"x" * (MAX_LINE + 1),
                                  b'{"name": "epoch", "epoch": 1, "pad": "' + b"y" * MAX_LINE + b'"}'])
def test_gate_rejects_long_lines(line):
    gate = MarkGate()
    assert gate.admit(line) is None and gate.reasons == {"line too long": 1}


def test_epoch_done_checks_before_it_formats():
    """A string metric is logged as it is and sent on for the wrapper to reject (not "Unknown format
    code 'f'"); a loss that is not a number fails with a message naming it."""
    from greenhp.subjects.base import RunContext
    from greenhp.train import make_marker

    logged, r, w = [], *open_channel()
    got = []
    lst = MarkListener(r, "main", lambda label, name, **info: got.append((name, info)), MarkGate(3))
    lst.start()
    ctx = RunContext(log=logged.append, marker=make_marker(MarkWriter(w), "accuracy", "cpu"))
    ctx.epoch_done(1, 3, 0.5, accuracy="y")
    ctx.epoch_done(2, 3, 0.4, accuracy=0.75)
    with pytest.raises(TypeError, match=r"epoch_done\(epoch 3\): loss must be a number, got 'x' \(str\)"):
        ctx.epoch_done(3, 3, "x", accuracy=0.8)
    os.close(w)
    lst.join(10)
    assert logged == ["epoch 1/3 loss=0.5000 accuracy='y'", "epoch 2/3 loss=0.4000 accuracy=0.7500"]
    assert [(i["epoch"], i.get("metric")) for _, i in got] == [(2, 0.75)]
    assert lst.gate.examples[0]["reason"] == "metric = 'y' (str) is not a finite number"
