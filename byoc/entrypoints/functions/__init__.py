"""The Azure Functions blueprints (HTTP, timers, queue, Event Grid).

Each function imports the composition root and the services it calls inside its body: they load
pydantic (settings, jobs, policy), and importing `function_app` must stay cheap for cold start
(`benchmarks/cold_start.py`). At module level: the stdlib, `azure.functions`, and
light byoc modules (`byoc.telemetry`, `byoc.domain.inventory`).
"""
