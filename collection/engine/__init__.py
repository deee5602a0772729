"""The parallel collection engine (see ``runner`` for how an execution is organised).

Entry points::

    report = run_execute(run_id=12)                    # sync: task workers, commands
    report = await arun_execute(run_id=12, workers=20, install_signal_handlers=True,
                                progress=callback)     # callback(RunProgress), ~2×/s
"""

from collection.engine.runner import EngineConfig, RunReport, arun_execute, run_execute

__all__ = ["EngineConfig", "RunReport", "arun_execute", "run_execute"]
