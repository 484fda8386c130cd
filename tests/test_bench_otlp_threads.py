"""The OTLP bench's CPU by thread: the sampler it loads into the server, and the phases' sums."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.otlp_threads import _SAMPLER, _at, _phase, _read


def test_the_sampler_logs_each_named_thread_of_a_serving_process(tmp_path: Path) -> None:
    # Two interpreters for real (about 2 s): the sampler is code the server imports, so it is
    # run as the server runs it.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SAMPLER)
    log = tmp_path / "threads.log"
    busy = (
        "import threading, time\n"
        "def spin():\n"
        "    end = time.process_time() + 0.3\n"
        "    while time.process_time() < end: pass\n"
        "t = threading.Thread(target=spin, name='daytwo-otlp'); t.start(); t.join()\n"
        "time.sleep(0.7)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "BENCH_THREAD_CPU_LOG": str(log)}
    # Only a process whose arguments hold "serve" is sampled.
    subprocess.run([sys.executable, "-c", busy, "serve"], env=env, check=True, timeout=60)
    other = tmp_path / "other.log"
    quiet = {**env, "BENCH_THREAD_CPU_LOG": str(other)}
    subprocess.run([sys.executable, "-c", "import time; time.sleep(0.6)"], env=quiet, check=True)
    assert not other.exists()
    samples = _read(log)
    assert samples, "the serving process wrote no sample"
    last = samples[-1][1]
    assert "t:MainThread" in last
    assert last["workers"] == 0  # no child processes
    # The spinning thread had ended by the last sample: its 0.3 s are in the process's CPU.
    assert "t:daytwo-otlp" not in last
    assert last["process"] >= 0.25 * os.sysconf("SC_CLK_TCK")
    assert all(s[0] <= time.time() for s in samples)


def test_a_phase_counts_ended_threads_and_leaves_the_sampler_out(tmp_path: Path) -> None:
    hz = os.sysconf("SC_CLK_TCK")
    log = tmp_path / "threads.log"
    log.write_text(
        "10.0 process=100 t:MainThread=50 t:AnyIO_worker_thread=20 t:bench-cpu-sampler=1 "
        "workers=300\n"
        # An AnyIO thread ended (its 20 ticks leave the threads' sum), two others ran 30 more.
        "20.0 process=200 t:MainThread=80 t:AnyIO_worker_thread=15 t:AnyIO_worker_thread=15 "
        "t:bench-cpu-sampler=11 workers=700\n"
    )
    samples = _read(log)
    assert samples[1][1]["t:AnyIO_worker_thread"] == 30  # threads of one name together
    assert _at(samples, 5.0) == samples[0][1]
    assert _at(samples, 15.0) == samples[0][1]
    phase = _phase(_at(samples, 10.0), _at(samples, 25.0), spans=1000)
    ms = 1000 / hz  # one tick in ms, per 1,000 spans of a 1,000-span run
    assert phase["MainThread"] == round(30 * ms, 2)
    assert phase["AnyIO_worker_thread"] == round(10 * ms, 2)
    assert phase["sampler"] == round(10 * ms, 2)
    # 100 ticks of the process, less the sampler's 10: 90, of which the live threads took 40.
    assert phase["server process (less the sampler)"] == round(90 * ms, 2)
    assert phase["(threads that ended)"] == round(50 * ms, 2)
    assert phase["workers"] == round(400 * ms, 2)
