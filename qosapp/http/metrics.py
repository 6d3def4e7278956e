"""GET /metrics: the controller in the Prometheus text format (prometheus-client).

Names and labels in the Faucet/Prometheus style: a ``qos_`` prefix, counters
ending in ``_total``, ``dp_id`` as Faucet writes it (hex, ``0x1``), and
``policy``, ``path``, ``port``, ``port_name``, ``queue``, ``state`` labels.

Nothing is counted twice. `StateCollector` reads, at scrape time, what the
service already keeps: the flow counters of each policy and path per switch
and their install state (`QosCore`), the queue counters per port
and meters (`core.stats`), the OpenFlow messages the Ryu shell counted
(`core.stats.messages`) and the store's commits. The only facts recorded
here are the ones nobody else keeps: REST requests by route, method and
status, and their latency (a histogram), recorded by `RequestMetrics`, the
outermost WSGI middleware (so answers of the front door, 401/403/413, count
too).

A scrape also keeps the flow counters polled (as a read of
``/qos/stats/policies`` does, see ``qosapp.core.stats.WATCH_SECONDS``).
The switch counters (flows, queues) carry the time the switch was polled
as their sample timestamp: they change every poll interval (2 s), and
without it a 1 s scrape would see steps that `rate()` over a short window
turns into a saw-tooth; with it, `rate()` is the switch's own.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Iterator

import qosapp.main.compat  # noqa: F401  (must precede ryu.app.wsgi)
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from ryu.app.wsgi import ControllerBase, Response, WSGIApplication, route
from webob import Request

from qosapp.core.cookies import path_cookie, policy_cookie
from qosapp.http.common import LOG, error_response
from qosapp.service import QosService

METRICS_PATH = "/metrics"
METRICS_KEY = "qos_metrics"
#: seconds; REST answers take ~1 ms, a confirmed bulk push seconds
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: the label of a request no route took (refused by the front door before routing, or unknown)
UNROUTED = "unmatched"
Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

disable_created_metrics()  # no *_created series: they double the output and Prometheus 2 ignores them


def dp_id(dpid: int) -> str:
    """The dp_id label as Faucet writes it."""
    return hex(dpid)


class StateCollector:
    """Families built from the service's state at each scrape (a prometheus-client custom collector)."""

    def __init__(self, service: QosService, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.clock = clock
        self.wall_clock = wall_clock

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration: the families depend on the state

    def collect(self) -> Iterator[Metric]:
        core = self.service.core
        now = self.clock()
        core.stats.watch(now)  # a scraper watches the flow counters as the page does
        offset = self.wall_clock() - now  # stats keep monotonic times; exposition wants Unix time
        yield from self._tool(core)
        yield from self._flows(core, offset)
        yield from self._queues(core, offset)
        yield from self._meters(core, offset)
        yield from self._openflow(core)

    @staticmethod
    def _tool(core: Any) -> Iterator[Metric]:
        yield GaugeMetricFamily("qos_enabled", "1 when the QoS tool is enabled (policies installed), else 0",
                                value=1 if core.enabled else 0)
        yield GaugeMetricFamily("qos_switches_connected", "OpenFlow switches connected now",
                                value=len(core.switches))
        yield GaugeMetricFamily("qos_policies", "policies stored", value=len(core.policies))
        yield GaugeMetricFamily("qos_paths", "QoS paths stored", value=len(core.fabric.paths))
        yield CounterMetricFamily("qos_store_commits", "store transactions committed since the controller started",
                                  value=core.store.commits)

    @staticmethod
    def _flows(core: Any, offset: float) -> Iterator[Metric]:
        labels = {"policy": ["policy", "dp_id"], "path": ["path", "dp_id"]}
        families = {kind: (CounterMetricFamily(f"qos_{kind}_bytes", f"bytes the {kind}'s flows matched on the "
                                                "switch (as last polled)", labels=labels[kind]),
                           CounterMetricFamily(f"qos_{kind}_packets", f"packets the {kind}'s flows matched on "
                                               "the switch (as last polled)", labels=labels[kind]),
                           GaugeMetricFamily(f"qos_{kind}_install_state", f"1 for the {kind}'s install state on "
                                             "the switch (installed, pending, error, missing-queue, not-installed)",
                                             labels=[*labels[kind], "state"]))
                    for kind in ("policy", "path")}
        items = [("policy", p.name, policy_cookie(p.id), core.install_state(p)) for p in core.policies.values()]
        items += [("path", p.name, path_cookie(p.id), core.path_view(p)["install"])
                  for p in core.fabric.paths.values()]
        for kind, name, cookie, install in items:
            nbytes, packets, states = families[kind]
            for dpid, series in sorted(core.stats.flow_series(cookie).items()):
                last = series.last
                if last is not None:
                    nbytes.add_metric([name, dp_id(dpid)], last.bytes, timestamp=last.time + offset)
                    packets.add_metric([name, dp_id(dpid)], last.packets, timestamp=last.time + offset)
            for dpid_text, state in sorted(install.items()):
                states.add_metric([name, dp_id(int(dpid_text.replace(":", ""), 16)), state["state"]], 1)
        for family in families.values():
            yield from family

    @staticmethod
    def _queues(core: Any, offset: float) -> Iterator[Metric]:
        names = ["dp_id", "port", "port_name", "queue"]
        tx = {key: CounterMetricFamily(f"qos_queue_tx_{key}", f"transmit {key} of the queue on the switch port "
                                       "(as last polled)", labels=names) for key in ("bytes", "packets", "errors")}
        for (dpid, port, queue), series in sorted(core.stats.queues.items()):
            last = series.last
            if last is None:
                continue
            info = core.switches.get(dpid)
            port_name = (info.ports.get(port) if info else None) or ""
            labels = [dp_id(dpid), str(port), port_name, str(queue)]
            for key, count in (("bytes", last.bytes), ("packets", last.packets), ("errors", last.errors)):
                tx[key].add_metric(labels, count, timestamp=last.time + offset)
        yield from tx.values()

    @staticmethod
    def _meters(core: Any, offset: float) -> Iterator[Metric]:
        """Per meter and switch: what came in, and what its drop band dropped."""
        names = ["meter", "dp_id"]
        families = [(CounterMetricFamily("qos_meter_bytes", "bytes that reached the meter on the switch (as last "
                                         "polled)", labels=names), 0, "bytes"),
                    (CounterMetricFamily("qos_meter_packets", "packets that reached the meter on the switch",
                                         labels=names), 0, "packets"),
                    (CounterMetricFamily("qos_meter_band_dropped_bytes", "bytes the meter's drop band dropped "
                                         "on the switch", labels=names), 1, "bytes"),
                    (CounterMetricFamily("qos_meter_band_dropped_packets", "packets the meter's drop band "
                                         "dropped on the switch", labels=names), 1, "packets")]
        for (name, dpid), pair in sorted(core.stats.meters.items()):
            for family, which, attr in families:
                last = pair[which].last
                if last is not None:
                    family.add_metric([name, dp_id(dpid)], getattr(last, attr), timestamp=last.time + offset)
        for family, _, _ in families:
            yield family

    @staticmethod
    def _openflow(core: Any) -> Iterator[Metric]:
        messages = core.stats.messages
        for name, counts, text in (("flowmods_sent", messages.flow_mods, "flow-mods sent to the switch"),
                                   ("metermods_sent", messages.meter_mods, "meter-mods sent to the switch"),
                                   ("errors", messages.errors, "OFPT_ERROR messages from the switch"),
                                   ("packet_ins", messages.packet_ins, "packet-ins from the switch")):
            family = CounterMetricFamily(f"qos_of_{name}", text, labels=["dp_id"])
            for dpid, count in sorted(counts.items()):
                family.add_metric([dp_id(dpid)], count)
            yield family


class Metrics:
    """The registry behind /metrics: the state collector plus the REST request counter and histogram."""

    def __init__(self, service: QosService, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StateCollector(service, clock, wall_clock))
        self.requests = Counter("qos_rest_requests", "REST requests answered, by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("qos_rest_request_duration_seconds", "time to answer a REST request",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        #: (controller class, action) -> route template, filled by `learn_routes`
        self.templates: dict[tuple[type, str], str] = {}
        self.wsgi: WSGIApplication | None = None

    def learn_routes(self, wsgi: WSGIApplication, controllers: Iterable[type]) -> None:
        """Route templates by controller and method name, so a request's label is '/qos/policies/{name}'."""
        self.wsgi = wsgi
        for controller in controllers:
            for action in dir(controller):  # inherited routes too, as Ryu's register finds them
                info = getattr(getattr(controller, action, None), "routing_info", None)
                if info:
                    self.templates[(controller, action)] = info["path"]

    def route_of(self, environ: dict[str, Any]) -> str:
        """The route template the request was routed to (Ryu's WSGI app left its match in the environ)."""
        args = environ.get("wsgiorg.routing_args")
        match = args[1] if isinstance(args, tuple) and len(args) == 2 else None
        if not isinstance(match, dict):
            return UNROUTED
        template = self.templates.get((match.get("controller"), match.get("action")))  # type: ignore[arg-type]
        return template or match.get("path_template") or UNROUTED

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def middleware(self, app: Wsgi) -> Wsgi:
        """`app` with every answer counted and timed (see `RequestMetrics`)."""
        return RequestMetrics(app, self)


class RequestMetrics:
    """WSGI middleware: count and time every answer by route template, method and status."""

    def __init__(self, app: Wsgi, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        status: list[str] = []

        def recording_start(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[:] = [code.split(" ", 1)[0]]
            return start_response(code, headers, exc_info)

        try:
            return self.app(environ, recording_start)
        finally:
            method = environ.get("REQUEST_METHOD", "GET").upper()
            if method not in KNOWN_METHODS:
                method = "other"
            route_label = self.metrics.route_of(environ)
            self.metrics.requests.labels(route_label, method, status[0] if status else "500").inc()
            self.metrics.latency.labels(route_label, method).observe(time.perf_counter() - started)


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


class MetricsController(ControllerBase):
    """GET /metrics."""

    def __init__(self, req: Request, link: Any, data: dict[str, Any], **config: Any) -> None:
        super().__init__(req, link, data, **config)
        self.metrics: Metrics = data[METRICS_KEY]

    @route("qos_metrics", METRICS_PATH, methods=["GET"])
    def scrape(self, req: Request, **_: Any) -> Response:
        try:
            body = self.metrics.exposition()
        except Exception:  # a bug in a collector: say so, keep serving
            LOG.exception("building /metrics failed")
            return error_response(500, "building the metrics failed; see the controller log")
        resp = Response(status=200, body=body)
        resp.headers["Content-Type"] = CONTENT_TYPE_PLAIN_0_0_4
        resp.headers["Cache-Control"] = "no-store"
        return resp


def metrics_of(wsgi: WSGIApplication) -> Metrics | None:
    """The `Metrics` that `qosapp.http.rest.register` mounted on this WSGI application, if any."""
    data = wsgi.registory.get(MetricsController.__name__)
    return data.get(METRICS_KEY) if isinstance(data, dict) else None
