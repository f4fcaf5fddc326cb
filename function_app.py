"""Azure Functions composition root: the byoc function app and its blueprints."""

import azure.functions as func

from byoc.entrypoints.functions import events, http, queue, timers

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(http.bp)
app.register_functions(timers.bp)
app.register_functions(queue.bp)
app.register_functions(events.bp)
