"""airgate's Airflow-side package.

``airgate_airflow.AirgateAuthManager`` (Airflow 3) is imported lazily, so that
``airgate_airflow.core``, ``.verify``, ``.headers`` and ``.settings`` load without Airflow.
"""


def __getattr__(name):
    if name in ("AirgateAuthManager", "AirgateAirflowUser"):
        from . import manager

        return getattr(manager, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
