"""Kafka 2.5's log files (issue 16): with LOG_DIR set, the broker writes server.log,
controller.log, state-change.log and log-cleaner.log there in log4j's
`[yyyy-MM-dd HH:mm:ss,SSS] LEVEL message (logger)` layout, routed as Kafka's shipped
log4j.properties routes its loggers; KAFKA_LOG4J_FILES=false turns them off."""

import os
import re
import uuid

from confluent_kafka import Producer

from lib.waiting import wait_until

LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR) .* \([a-z_][\w.]*\)$")


def read(path):
    with open(path) as f:
        return f.read().splitlines()


def test_log4j_files_are_written_and_routed(fresh_cluster, tmp_path):
    c = fresh_cluster(1)
    br = c.brokers[0]
    br.stop()
    logs = str(tmp_path / "logs")
    br.env = {"LOG_DIR": logs}
    br.start()
    t = "log4j-%s" % uuid.uuid4().hex[:6]
    p = Producer({"bootstrap.servers": c.bootstrap})
    p.produce(t, b"v")
    assert p.flush(20) == 0
    names = ["server.log", "controller.log", "state-change.log"]
    wait_until(lambda: all(os.path.exists(os.path.join(logs, n)) for n in names), 20, "the log files")
    wait_until(lambda: any("Leader %s-0 starts at leader epoch" % t in l for l in read(os.path.join(logs, "state-change.log"))),
             20, "the state change of %s-0" % t)
    server, controller, state = (read(os.path.join(logs, n)) for n in names)
    for name, lines in (("server.log", server), ("controller.log", controller), ("state-change.log", state)):
        assert lines, name
        bad = [l for l in lines if not LINE.match(l) and "(state.change.logger)" not in l]
        assert not bad, (name, bad[:5])
    assert any("[KafkaServer id=0] started" in l for l in server), server[-5:]
    assert all("(broker.controller" in l for l in controller), controller[:5]
    # additivity=false as in Kafka's log4j.properties: not in server.log as well.
    assert not any("(broker.controller" in l or "(state.change.logger)" in l for l in server)
    assert all(l.endswith("(state.change.logger)") for l in state), state[:5]
    # The stdout log is still there, in its own format.
    assert "started (listening" in br.output()


def test_log4j_files_can_be_turned_off(fresh_cluster, tmp_path):
    c = fresh_cluster(1)
    br = c.brokers[0]
    br.stop()
    logs = str(tmp_path / "logs")
    br.env = {"LOG_DIR": logs, "KAFKA_LOG4J_FILES": "false"}
    br.start()
    assert not os.path.exists(os.path.join(logs, "server.log"))
