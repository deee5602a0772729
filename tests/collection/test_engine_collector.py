"""The garbage collector's pace during an execution (``collection.engine.collector``)."""

import gc

import pytest

from collection.engine.collector import RUN_GEN0_THRESHOLD, gc_paced


@pytest.fixture
def default_thresholds():
    before = gc.get_threshold()
    gc.set_threshold(2000, 10, 10)
    yield
    gc.set_threshold(*before)


def test_raised_while_executions_run_and_restored_after_the_last(default_thresholds):
    with gc_paced():
        assert gc.get_threshold() == (RUN_GEN0_THRESHOLD, 10, 10)
        with gc_paced():  # a second execution in the same process
            assert gc.get_threshold()[0] == RUN_GEN0_THRESHOLD
        assert gc.get_threshold()[0] == RUN_GEN0_THRESHOLD  # the first still runs
    assert gc.get_threshold() == (2000, 10, 10)


def test_restored_when_the_execution_fails(default_thresholds):
    with pytest.raises(RuntimeError), gc_paced():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (2000, 10, 10)


def test_never_lowers_nor_enables(default_thresholds):
    gc.set_threshold(100_000, 10, 10)
    with gc_paced():
        assert gc.get_threshold()[0] == 100_000
    gc.set_threshold(0, 10, 10)  # a process that disabled collection keeps it so
    with gc_paced():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold()[0] == 0
