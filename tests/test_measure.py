"""Tests of attn.measure: saved bytes, CPU times and the thread-count context."""

import time

import pytest
import torch
from torch import nn

from attn.measure import cpu_times_ms, fastest_ms, median_ms, race, saved_bytes, torch_threads


def test_saved_bytes_counts_what_autograd_keeps():
    x = torch.randn(1000)
    assert saved_bytes(torch.exp, x) == 4000                      # exp keeps its float32 output
    assert saved_bytes(torch.exp, x.double()) == 8000             # 8 bytes per float64
    assert saved_bytes(torch.sum, x) == 0                         # the gradient of a sum needs nothing
    assert saved_bytes(lambda t: t * t, x) == 4000                # the same tensor twice counts once
    assert saved_bytes(lambda t: t.sin().exp(), x) == 8000        # sin keeps t, exp its output
    assert saved_bytes(lambda t: t.exp().sin(), x) == 4000        # both keep exp's output
    a, b = torch.randn(3, 5), torch.randn(5, 7)
    assert saved_bytes(torch.matmul, a, b) == (15 + 35) * 4       # a matmul keeps both factors


def test_saved_bytes_counts_each_storage_once_and_whole():
    a, b = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 5, 6)
    # exp keeps its output; the 4-d matmul keeps a 3-d view of it and one of b: the same bytes
    assert saved_bytes(lambda s, t: s.exp() @ t, a, b) == (120 + 180) * 4
    x = torch.randn(1000)
    assert saved_bytes(lambda t: t[:10].sin(), x) == 4000         # a slice keeps all of x alive
    assert saved_bytes(lambda t: t[:10].exp(), x) == 40           # exp keeps its own 10 outputs


def test_saved_bytes_counts_a_layer_weight_and_its_input():
    linear = nn.Linear(8, 6, bias=True)
    x = torch.randn(4, 8)
    assert saved_bytes(linear, x) == (4 * 8 + 6 * 8) * 4          # input and weight; not the bias
    with torch.no_grad():
        assert saved_bytes(linear, x) == 0                        # nothing saved without a graph


def test_saved_bytes_does_not_change_its_inputs():
    x = torch.randn(5)
    saved_bytes(torch.exp, x)
    assert not x.requires_grad and x.grad_fn is None


def test_saved_bytes_rejects_bad_arguments():
    with pytest.raises(TypeError, match="callable"):
        saved_bytes("exp", torch.randn(3))
    with pytest.raises(TypeError, match="tensors, got list at position 0"):
        saved_bytes(torch.exp, [1.0, 2.0])


def test_cpu_times_call_the_function_the_stated_number_of_times():
    calls = []
    times = cpu_times_ms(lambda t: calls.append(t.sum()), torch.ones(3), repeats=4, warmup=2)
    assert len(calls) == 6 and len(times) == 4
    assert all(t >= 0 for t in times)
    calls.clear()
    fastest_ms(lambda: calls.append(1), repeats=3, warmup=0)
    assert len(calls) == 3


def test_cpu_times_measure_work_and_run_without_grad():
    x = torch.randn(300, 300, requires_grad=True)
    grad_enabled = []

    def work(t):
        grad_enabled.append(torch.is_grad_enabled())
        for _ in range(20):
            t = t @ x
        return t

    with torch_threads(1):
        fast = median_ms(lambda: x.sum(), repeats=5)
        slow = median_ms(work, x, repeats=5)
    assert slow > 0 and not any(grad_enabled)
    assert slow > 5 * fast                                        # 20 products of 300 x 300 vs one sum


def busy_for(seconds):
    """A function that keeps this thread busy for the next duration in ``seconds``."""
    durations = iter(seconds)

    def busy():
        end = time.thread_time() + next(durations)
        while time.thread_time() < end:
            pass
    return busy


def test_fastest_is_the_smallest_and_median_the_middle_time():
    # one warm-up call, then three timed calls of 20, 0 and 10 ms
    assert 9 < median_ms(busy_for([0.0, 0.02, 0.0, 0.01]), repeats=3) < 15
    assert fastest_ms(busy_for([0.0, 0.02, 0.0, 0.01]), repeats=3) < 5


def test_timing_rejects_bad_arguments():
    with pytest.raises(ValueError, match="repeats must be a positive int, got 0"):
        cpu_times_ms(print, repeats=0)
    with pytest.raises(ValueError, match="warmup must be an int >= 0, got -1"):
        fastest_ms(print, warmup=-1)
    with pytest.raises(TypeError, match="repeats"):
        median_ms(print, repeats=2.5)
    with pytest.raises(TypeError, match="callable"):
        fastest_ms(3)


def test_torch_threads_sets_and_restores_the_thread_count():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("restored even after an error")
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="num_threads must be a positive int, got 0"):
        with torch_threads(0):
            pass


def test_race_runs_in_turns_and_keeps_each_fastest_call():
    order, sleeps = [], {"a": iter([0.0, 0.03, 0.0, 0.03]), "b": iter([0.0, 0.0, 0.03, 0.03])}

    def sleeper(name):
        def fn():
            order.append(name)
            time.sleep(next(sleeps[name]))
        return fn

    best = race({"a": sleeper("a"), "b": sleeper("b")}, rounds=3)
    assert order == ["a", "b"] * 4                        # one warm-up, then 3 rounds in turns
    assert list(best) == ["a", "b"]
    assert best["a"] < 0.02 and best["b"] < 0.02         # the 30 ms calls are not the fastest
    with pytest.raises(TypeError, match="non-empty dict"):
        race({})
    with pytest.raises(TypeError, match=r"fns\['a'\] must be callable"):
        race({"a": 3})
    with pytest.raises(ValueError, match="rounds must be a positive int"):
        race({"a": print}, rounds=0)
