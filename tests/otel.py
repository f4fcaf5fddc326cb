"""OpenTelemetry's in-memory exporters installed as the process's providers (once), standing in
for what the Azure Monitor distro installs in Azure: spans, metrics, and a log handler on `byoc`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclass
class Telemetry:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    logs: InMemoryLogRecordExporter
    logger_provider: LoggerProvider

    def clear(self) -> None:
        self.spans.clear()
        self.logs.clear()
        self.metrics.get_metrics_data()  # delta: what a later read shows is what happened since

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Every metric point read now: name -> [(attributes, value or histogram count)]."""
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        data = self.metrics.get_metrics_data()
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:
                            value = point.count  # a histogram: how many were recorded
                        found.setdefault(metric.name, []).append((dict(point.attributes), value))
        return found

    def units(self) -> dict[str, str]:
        data = self.metrics.get_metrics_data()
        return {m.name: m.unit for r in (data.resource_metrics if data else [])
                for s in r.scope_metrics for m in s.metrics}


_installed: Telemetry | None = None


def installed() -> Telemetry:
    """The in-memory telemetry of this process (installed at the first call)."""
    global _installed
    if _installed is None:
        spans, logs, reader = InMemorySpanExporter(), InMemoryLogRecordExporter(), InMemoryMetricReader(
            preferred_temporality=dict.fromkeys((Counter, Histogram, UpDownCounter),
                                                AggregationTemporality.DELTA))
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
        _logs.set_logger_provider(logger_provider)
        _installed = Telemetry(spans, reader, logs, logger_provider)
    return _installed


@contextmanager
def log_export(telemetry: Telemetry) -> Iterator[None]:
    """byoc's records exported as OpenTelemetry logs while inside (the distro's handler)."""
    from opentelemetry.instrumentation.logging.handler import LoggingHandler

    logger = logging.getLogger("byoc")
    handler = LoggingHandler(logger_provider=telemetry.logger_provider)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
