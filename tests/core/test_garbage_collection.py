"""The cyclic collector's pause: off inside, on again after, whoever overlaps."""

import gc
import threading

from core.garbage_collection import cyclic_gc_paused


def test_the_collector_is_off_inside_and_on_again_after_a_nested_pause():
    assert gc.isenabled()
    with cyclic_gc_paused():
        assert not gc.isenabled()
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still runs
    assert gc.isenabled()


def test_as_a_decorator_it_pauses_each_call():
    seen = []

    @cyclic_gc_paused()
    def view():
        seen.append(gc.isenabled())

    view()
    view()
    assert seen == [False, False]
    assert gc.isenabled()


def test_overlapping_threads_turn_it_back_on_only_when_the_last_one_ends():
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    during = []

    def first():
        with cyclic_gc_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with cyclic_gc_paused():
            second_in.set()
            first_out.wait(5)
            during.append(gc.isenabled())  # the first has ended; this one still runs

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert during == [False]
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
